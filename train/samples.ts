// Records -> model samples: the prompt text, the steps and the answer line, tokenised; the
// image as normalised patches. Text layout (METHOD.md): each step followed by a newline,
// then "Therefore, the answer is X" and EOS.
import { UserError } from '../engine/errors.js';
import { IvtConfig, imageTokens } from '../model/config.js';
import { IMAGE_WORDS, Sample } from '../model/ivt.js';
import { ProblemRecord } from './data/index.js';
import { loadImagePatches } from './images.js';
import { answerLine, promptText, stepText, Tokenizer } from './tokenizer.js';

export interface SampleOptions {
  /** Words each image token should mean (per token in reading order), for the alignment objective. */
  imageWords?: (r: ProblemRecord) => string[][] | undefined;
}

export async function toSamples(records: ProblemRecord[], tok: Tokenizer, cfg: IvtConfig, opts: SampleOptions = {}): Promise<Sample[]> {
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
      steps: r.steps.map((s) => tok.encode(stepText(s))),
      answer: [...tok.encode(answerLine(r.answerIndex)), tok.eos],
      answerIndex: r.answerIndex,
    };
    const words = opts.imageWords?.(r);
    if (words) sample.imageWords = imageWordIds(words, tok, J);
    // Checked here, before any training, rather than as a failed pass midway through a run.
    const need = positionsNeeded(sample, cfg);
    if (need > cfg.maxLen) {
      throw new UserError(`${r.split} problem "${r.id}": needs ${need} positions (${J} image tokens, ${sample.prompt.length} prompt tokens, ` +
        `${sample.steps.reduce((a, st) => a + st.length, 0)} step tokens, ${sample.answer.length} answer tokens), more than the model's maxLen ${cfg.maxLen}; shorten its text, or train a model with a larger --max-len`);
    }
    out.push(sample);
  }
  return out;
}

/**
 * Word lists per image token -> Sample.imageWords: each word's token id (with the leading space
 * it has inside a sentence) where the word is one token of the vocabulary, else -1 (a word
 * the tokenizer splits has no single output row to align with).
 */
export function imageWordIds(words: string[][], tok: Tokenizer, J: number): Int32Array {
  if (words.length !== J) throw new Error(`image words for ${words.length} tokens, the model has ${J} image tokens`);
  const out = new Int32Array(J * IMAGE_WORDS).fill(-1);
  words.forEach((list, j) => {
    list.slice(0, IMAGE_WORDS).forEach((w, k) => {
      const ids = tok.encode(' ' + w);
      if (ids.length === 1) out[j * IMAGE_WORDS + k] = ids[0]!;
    });
  });
  return out;
}

/** The prompt of a caption sample (grounding practice, see captionSample). */
export const CAPTION_PROMPT = 'Describe the picture.\n';

/**
 * A caption sample on a problem's picture: the prompt, one step per sentence, then EOS (no
 * answer line). Stage 0 mixes these in as dense practice at reading the picture; null when it
 * would not fit in maxLen or has no sentence.
 */
export function captionSample(base: Sample, prompt: string, sentences: string[], tok: Tokenizer, cfg: IvtConfig): Sample | null {
  if (sentences.length === 0) return null;
  const sample: Sample = {
    patches: base.patches, prompt: tok.encode(prompt), steps: sentences.map((t) => tok.encode(stepText(t))),
    answer: [tok.eos], answerIndex: -1, caption: true, ...(base.imageWords ? { imageWords: base.imageWords } : {}),
  };
  // Captions are stage-0 only (never latent), so this is all the positions they occupy.
  return imageTokens(cfg) + sample.prompt.length + sample.steps.reduce((a, st) => a + st.length, 0) + sample.answer.length <= cfg.maxLen ? sample : null;
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
  return letterIndex(/(?:^|\n)Therefore, the answer is ([A-Z])\s*$/.exec(text), numChoices);
}

/**
 * Lenient extraction, for diagnosis only (never the reported accuracy): the text must still end
 * with the answer line, which need not start a line. A model run with fewer latent steps than it
 * was trained with writes the start of a step and the answer line right after it
 * ("seven redTherefore, the answer is A"): strict extraction rejects it, this one reads the letter.
 */
export function extractAnswerLenient(text: string, numChoices: number): number {
  return letterIndex(/Therefore, the answer is ([A-Z])\s*$/.exec(text), numChoices);
}

function letterIndex(m: RegExpExecArray | null, numChoices: number): number {
  if (!m) return -1;
  const idx = m[1]!.charCodeAt(0) - 65;
  return idx < numChoices ? idx : -1;
}
