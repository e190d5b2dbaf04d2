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
    out.push({
      patches,
      prompt: tok.encode(promptText(r)),
      steps: r.steps.map((s) => tok.encode(s + '\n')),
      answer: [...tok.encode(answerLine(r.answerIndex)), tok.eos],
      answerIndex: r.answerIndex,
    });
  }
  return out;
}

/** Strict answer extraction: the generated text must end with exactly the answer line. */
export function extractAnswer(text: string, numChoices: number): number {
  const m = /(?:^|\n)Therefore, the answer is ([A-Z])\s*$/.exec(text);
  if (!m) return -1;
  const idx = m[1].charCodeAt(0) - 65;
  return idx < numChoices ? idx : -1;
}
