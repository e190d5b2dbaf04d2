// Where a model stands, token by token: teacher-forced next-token accuracy on the supervised
// rationale and answer, grouped by what each token needs. On the synthetic grid data the
// groups separate the skills a rationale chains together: copying the start object from the
// question, finding it in the image, copying a move, the row/column arithmetic, reading the
// object at a cell in the image, counting, and the answer letter. Accuracy near chance on
// the image lookups while the text skills are near 100% says the model has not yet learned
// to read the picture (and no mode can beat chance until it does). Other datasets get one
// group per reasoning step.
import * as E from '../engine/index.js';
import { IvtModel, Sample, FULL_LATENT } from '../model/ivt.js';
import { Tokenizer } from './tokenizer.js';

export interface TokenGroup {
  group: string;
  correct: number;
  total: number;
  accuracy: number;
}

const DIGIT = /^ ?\d$/;
const MOVE = /^ ?(up|down|left|right)$/;

/** The group of target token t of a stage-0 suffix, from the decoded tokens before it. */
function groupOf(pieces: string[], t: number, step: number, answer: boolean): string {
  const cur = pieces[t]!, prev = pieces[t - 1] ?? '', prev2 = pieces[t - 2] ?? '';
  if (answer) return /^ ?[A-Z]$/.test(cur) && / is$/.test(prev) ? 'answer letter' : 'answer line words';
  if (step === 0) {
    if (DIGIT.test(cur) && / (row|column)$/.test(prev)) return 'start cell (image lookup)';
    if (prev === 'The' || prev2 === 'The') return 'start object (copied from the question)';
  } else {
    if (DIGIT.test(cur) && / (row|column)$/.test(prev)) return 'cell after a move (arithmetic)';
    if (prev === ' a' || prev2 === ' a') return 'object at a cell (image lookup)';
    if (MOVE.test(cur)) return 'move (copied from the question)';
    if (DIGIT.test(cur) && / (are|is)$/.test(prev)) return 'colour count (image)';
  }
  return 'template words';
}

export async function diagnose(model: IvtModel, samples: Sample[], tok: Tokenizer, opts: { batch: number; synthetic: boolean }): Promise<TokenGroup[]> {
  const stats = new Map<string, { correct: number; total: number }>();
  const V = model.cfg.vocab;
  for (let i = 0; i < samples.length; i += opts.batch) {
    const batch = samples.slice(i, i + opts.batch);
    const logits = E.noGrad(() => E.tidy(() => E.keep(model.supervisedLogits(batch, 0, FULL_LATENT).logits)));
    const L = (await logits.toArray()) as Float32Array;
    const Ts = logits.shape[1]!;
    logits.dispose();
    batch.forEach((s, b) => {
      const targets = [...s.steps.flat(), ...s.answer];
      const pieces = targets.map((id) => tok.decode([id]));
      let step = 0, inStep = 0;
      for (let t = 0; t < targets.length; t++) {
        const answer = step >= s.steps.length;
        let best = 0;
        const o = (b * Ts + t) * V;
        for (let v = 1; v < V; v++) if (L[o + v]! > L[o + best]!) best = v;
        const group = opts.synthetic ? groupOf(pieces, t, step, answer) : answer ? 'answer line' : `step ${step + 1}`;
        const e = stats.get(group) ?? { correct: 0, total: 0 };
        e.total++;
        if (best === targets[t]) e.correct++;
        stats.set(group, e);
        if (!answer && ++inStep === s.steps[step]!.length) { step++; inStep = 0; }
      }
    });
  }
  return [...stats.entries()].map(([group, e]) => ({ group, ...e, accuracy: e.correct / e.total }))
    .sort((a, b) => a.group.localeCompare(b.group));
}
