// The one in-memory shape every loader produces, whatever the layout on disk
// (ScienceQA, M3CoT, the synthetic generator). The trainer and evaluator only see this.

export const SPLITS = ['train', 'val', 'test'] as const;
export type Split = (typeof SPLITS)[number];

export function isSplit(value: unknown): value is Split {
  return typeof value === 'string' && (SPLITS as readonly string[]).includes(value);
}

/** Answer letters for choice indices 0, 1, 2, ... ("A", "B", ...). */
export function letterOf(index: number): string {
  if (!Number.isInteger(index) || index < 0 || index >= 26) throw new Error(`letterOf: bad choice index ${index}`);
  return String.fromCharCode(65 + index);
}

export interface ProblemRecord {
  /** Problem id, unique within a dataset (ScienceQA pid, M3CoT id). */
  id: string;
  split: Split;
  question: string;
  /** Extra context shown with the question (ScienceQA hint, M3CoT context); '' if none. */
  hint: string;
  choices: string[];
  /** Index of the correct choice in `choices`. */
  answerIndex: number;
  /** The full rationale text before splitting into steps. */
  rationale: string;
  /** The rationale as reasoning steps (see steps.ts: rationaleToSteps). */
  steps: string[];
  /** Absolute path to the image, checked to lie inside the dataset folder; null = text-only. */
  imagePath: string | null;
}
