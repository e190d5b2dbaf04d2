// Evaluation: accuracy with strict answer extraction, forward passes and wall time per
// question, for each inference mode.
import { rt } from '../engine/tensor.js';
import { IvtModel, LatentOptions, Sample, FULL_LATENT } from '../model/ivt.js';
import { generate } from '../model/generate.js';
import { answerDraft, answerStops, Tokenizer } from './tokenizer.js';
import { extractAnswer, extractAnswerLenient } from './samples.js';

export type EvalMode = 'nocot' | 'cot' | 'ivt' | 'ivt-no-text' | 'ivt-no-vision' | 'ivt-random-vision' | 'ivt-recompute';
export const EVAL_MODES: EvalMode[] = ['nocot', 'cot', 'ivt', 'ivt-no-text', 'ivt-no-vision', 'ivt-random-vision', 'ivt-recompute'];

export interface EvalResult {
  mode: EvalMode;
  latentSteps: number;
  n: number;
  accuracy: number;
  /** Answers that could not be extracted (counted wrong). */
  unparsed: number;
  /** Of those, the questions whose decoding reached its limit (the mode's token limit, or the model's last position) before an answer line or EOS. */
  truncated: number;
  /** Questions per batch: with a draft, the passes depend on it (a batch drafts only where all its rows agree). */
  batch: number;
  /**
   * Accuracy with the answer line's letter read even where the line does not start a line
   * (extractAnswerLenient): a diagnosis of unparsed answers, not the accuracy.
   */
  lenient_accuracy: number;
  avg_passes: number;
  ms_per_question: number;
  /** Whether the answer line's template was verified in one pass (generate's draft). */
  draft?: boolean;
  /** Whether the count head chose each question's latent steps (cfg.adaptiveLatents), and how often each count was chosen. */
  adaptive?: boolean;
  latent_counts?: Record<number, number>;
  /** A model with adaptive latent steps run with the fixed count instead (the latency benchmark's comparison row). */
  fixed_latents?: boolean;
  /** Accuracy per group (e.g. the problem's task), when the caller names groups; with adaptive latent steps, their mean per group. */
  by_group?: Record<string, { n: number; accuracy: number; avg_latent_steps?: number }>;
  /** Per question: the extracted answer index (-1: unparsed) and the decoded text. */
  predictions?: { index: number; answer: number; text: string }[];
}

/**
 * No token limit: decoding stops at the answer line, EOS, or the model's last position. Explicit
 * CoT, and a latent mode writing out steps, may need as many tokens as the longest rationale.
 */
export const UNTIL_FULL = Number.POSITIVE_INFINITY;

/**
 * The text answers are extracted from: everything generated but the final EOS, special tokens
 * included (a stray <pad> or <latent> inside the answer line makes it unparsed, as strict
 * extraction should).
 */
export function generatedText(tok: Tokenizer, ids: number[]): string {
  return tok.decode(ids.length && ids[ids.length - 1] === tok.eos ? ids.slice(0, -1) : ids);
}

/**
 * How `mode` runs with `latentSteps` latent steps on a model trained with `trainedSteps`:
 * a latent mode run with fewer latent steps than trained writes the remaining steps out, so it
 * may decode as many tokens as explicit CoT.
 */
export function modeSettings(mode: EvalMode, latentSteps: number, trainedSteps = latentSteps): { steps: number; latent: LatentOptions; recompute: boolean; maxNew: number } {
  const s = baseSettings(mode, latentSteps);
  return mode !== 'nocot' && mode !== 'cot' && latentSteps < trainedSteps ? { ...s, maxNew: UNTIL_FULL } : s;
}

function baseSettings(mode: EvalMode, latentSteps: number): { steps: number; latent: LatentOptions; recompute: boolean; maxNew: number } {
  switch (mode) {
    case 'nocot':
      return { steps: 0, latent: FULL_LATENT, recompute: false, maxNew: 12 };
    case 'cot':
      return { steps: 0, latent: FULL_LATENT, recompute: false, maxNew: UNTIL_FULL };
    case 'ivt':
      return { steps: latentSteps, latent: FULL_LATENT, recompute: false, maxNew: 12 };
    case 'ivt-recompute':
      return { steps: latentSteps, latent: FULL_LATENT, recompute: true, maxNew: 12 };
    case 'ivt-no-text':
      return { steps: latentSteps, latent: { ...FULL_LATENT, latentText: false }, recompute: false, maxNew: 12 };
    case 'ivt-no-vision':
      return { steps: latentSteps, latent: { ...FULL_LATENT, latentVision: false }, recompute: false, maxNew: 12 };
    case 'ivt-random-vision':
      return { steps: latentSteps, latent: { ...FULL_LATENT, randomVision: true }, recompute: false, maxNew: 12 };
  }
}

/** The name of a problem group by rationale length ("1 step", "3 steps"): eval's by_group keys. */
export function stepsLabel(steps: number): string {
  return `${steps} step${steps === 1 ? '' : 's'}`;
}

/**
 * Whether the model's count head (cfg.adaptiveLatents) chooses the latent steps, up to
 * `settings.steps`: in every latent mode on the cache, unless `fixed` asks for the fixed count.
 */
export function choosesLatentSteps(model: IvtModel, settings: { steps: number; recompute: boolean }, fixed = false): boolean {
  return model.countHead !== null && settings.steps > 0 && !settings.recompute && !fixed;
}

/**
 * Runs `mode` over `samples` in batches. `latentSteps` is how many latent steps precede
 * decoding (a stage-s model: s; remaining explicit steps are decoded).
 */
export async function evaluate(model: IvtModel, samples: Sample[], tok: Tokenizer, mode: EvalMode, opts: { latentSteps: number; batch: number; maxNew?: number; numChoices: (i: number) => number; groupOf?: (i: number) => string; keepPredictions?: boolean; draftAnswer?: boolean; fixedLatents?: boolean; warmup?: boolean }): Promise<EvalResult> {
  const s = modeSettings(mode, opts.latentSteps, model.cfg.latentSteps);
  const maxNew = opts.maxNew ?? s.maxNew;
  // Where the count head chooses, a batch goes on in groups of rows with the same count (generate).
  const adaptive = choosesLatentSteps(model, s, opts.fixedLatents);
  const batchSize = opts.batch;
  let right = 0, lenientRight = 0, unparsed = 0, truncated = 0, passes = 0;
  const counts = new Map<number, number>();
  const groups = new Map<string, { n: number; right: number; latent: number }>();
  const predictions: { index: number; answer: number; text: string }[] = [];
  const stop = answerStops(tok, 26);
  const draft = opts.draftAnswer ? answerDraft(tok) : undefined;
  if (opts.warmup && samples.length) {
    // The first batch once, untimed: shader compilation and pipeline creation are paid once per
    // process, not per question.
    await generate(model, samples.slice(0, batchSize), { latentSteps: s.steps, latent: s.latent, recompute: s.recompute, maxNewTokens: maxNew, eos: tok.eos, stop, draft, adaptive });
  }
  await rt().sync();
  const t0 = performance.now();
  for (let i = 0; i < samples.length; i += batchSize) {
    const batch = samples.slice(i, i + batchSize);
    const g = await generate(model, batch, { latentSteps: s.steps, latent: s.latent, recompute: s.recompute, maxNewTokens: maxNew, eos: tok.eos, stop, draft, adaptive });
    g.tokens.forEach((ids, b) => {
      const text = generatedText(tok, ids);
      const pred = extractAnswer(text, opts.numChoices(i + b));
      if (pred < 0) unparsed++;
      if (pred < 0 && g.truncated[b]) truncated++;
      if (extractAnswerLenient(text, opts.numChoices(i + b)) === batch[b].answerIndex) lenientRight++;
      const ok = pred === batch[b].answerIndex;
      if (ok) right++;
      passes += g.passes[b];
      const latent = g.latentCounts[b]!;
      counts.set(latent, (counts.get(latent) ?? 0) + 1);
      if (opts.groupOf) {
        const key = opts.groupOf(i + b);
        const gr = groups.get(key) ?? { n: 0, right: 0, latent: 0 };
        gr.n++;
        gr.latent += latent;
        if (ok) gr.right++;
        groups.set(key, gr);
      }
      if (opts.keepPredictions) predictions.push({ index: i + b, answer: pred, text });
    });
  }
  const ms = performance.now() - t0;
  return {
    mode, latentSteps: s.steps, n: samples.length, batch: batchSize, ...(draft ? { draft: true } : {}),
    ...(adaptive ? { adaptive: true, latent_counts: Object.fromEntries([...counts].sort(([a], [b]) => a - b)) } : {}),
    ...(model.countHead !== null && !adaptive && s.steps > 0 ? { fixed_latents: true } : {}),
    accuracy: samples.length ? right / samples.length : 0,
    unparsed, truncated, lenient_accuracy: samples.length ? lenientRight / samples.length : 0, avg_passes: samples.length ? passes / samples.length : 0,
    ms_per_question: samples.length ? ms / samples.length : 0,
    ...(opts.groupOf ? { by_group: Object.fromEntries([...groups].sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => [k, { n: v.n, accuracy: v.right / v.n, ...(adaptive ? { avg_latent_steps: v.latent / v.n } : {}) }])) } : {}),
    ...(opts.keepPredictions ? { predictions } : {}),
  };
}
