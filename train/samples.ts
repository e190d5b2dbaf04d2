// Records -> model samples: the prompt text, the steps and the answer line, tokenised; the
// image as normalised patches. Text layout (METHOD.md): each step followed by a newline,
// then "Therefore, the answer is X" and EOS.
import { UserError } from '../engine/errors.js';
import { IvtConfig, imageTokens } from '../model/config.js';
import { Sample } from '../model/ivt.js';
import { letterOf, ProblemRecord } from './data/index.js';
import { loadImagePatches } from './images.js';
import { answerLine, Tokenizer } from './tokenizer.js';

export function promptText(r: ProblemRecord): string {
  const opts = r.choices.map((c, i) => `(${letterOf(i)}) ${c}`).join(' ');
  return `${r.hint ? r.hint + '\n' : ''}${r.question}\n${opts}\n`;
}

export async function toSamples(records: ProblemRecord[], tok: Tokenizer, cfg: IvtConfig): Promise<Sample[]> {
  const J = imageTokens(cfg);
  const blank = new Float32Array(J * cfg.patch * cfg.patch * 3);
  const out: Sample[] = [];
  for (const r of records) {
    let patches: Float32Array = blank;
    if (r.imagePath) {
      const img = await loadImagePatches(r.imagePath, { size: cfg.imageSize, patchSize: cfg.patch });
      if (img.numPatches !== J) throw new UserError(`${r.imagePath}: ${img.numPatches} patches, the model expects ${J}`);
      patches = img.patches;
    }
    const sample: Sample = {
      patches,
      prompt: tok.encode(promptText(r)),
      steps: r.steps.map((s) => tok.encode(s + '\n')),
      answer: [...tok.encode(answerLine(r.answerIndex)), tok.eos],
      answerIndex: r.answerIndex,
    };
    // Checked here, before any training, rather than as a failed pass midway through a run.
    const need = positionsNeeded(sample, cfg);
    if (need > cfg.maxLen) {
      throw new UserError(`record "${r.id}": needs ${need} positions (${J} image tokens, ${sample.prompt.length} prompt tokens, ` +
        `${sample.steps.reduce((a, st) => a + st.length, 0)} step tokens, ${sample.answer.length} answer tokens), more than the model's maxLen ${cfg.maxLen}; shorten its text`);
    }
    out.push(sample);
  }
  return out;
}

/**
 * The most positions a sample occupies in any stage: image, prompt, each step either as text
 * or, for the first latentSteps steps, as a latent step (k image embeddings + 1 hidden state),
 * whichever is longer, then the answer.
 */
export function positionsNeeded(s: Sample, cfg: IvtConfig): number {
  const steps = s.steps.reduce((a, st, i) => a + (i < cfg.latentSteps ? Math.max(st.length, cfg.topK + 1) : st.length), 0);
  const latentOnly = Math.max(0, cfg.latentSteps - s.steps.length) * (cfg.topK + 1);
  return imageTokens(cfg) + s.prompt.length + steps + latentOnly + s.answer.length;
}

/** Strict answer extraction: the generated text must end with exactly the answer line. */
export function extractAnswer(text: string, numChoices: number): number {
  const m = /(?:^|\n)Therefore, the answer is ([A-Z])\s*$/.exec(text);
  if (!m) return -1;
  const idx = m[1].charCodeAt(0) - 65;
  return idx < numChoices ? idx : -1;
}
