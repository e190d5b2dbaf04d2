// Text-only baselines: rules that answer from the question and option texts alone, never
// the image. Each is fitted on one set of records (the training split) and scored on
// another (test, or val). On the synthetic data they must stay near chance (25% with four
// options), which is the evidence that the image is needed; on real datasets they show how
// much a text prior alone gets.
import type { ProblemRecord } from './record.js';

export interface BaselineResult {
  name: string;
  description: string;
  /** Fraction of evaluation records answered correctly. */
  accuracy: number;
  /** Number of evaluation records. */
  n: number;
  /** Expected accuracy of uniform guessing on the evaluation records (mean of 1/#choices). */
  chance: number;
}

/** A rule maps a record to a choice index; `fit` builds it from training records. */
export interface Rule {
  name: string;
  description: string;
  fit(train: readonly ProblemRecord[]): (r: ProblemRecord) => number;
}

export function chanceAccuracy(records: readonly ProblemRecord[]): number {
  if (records.length === 0) return 0;
  return records.reduce((s, r) => s + 1 / r.choices.length, 0) / records.length;
}

export function scoreRule(rule: Rule, train: readonly ProblemRecord[], evalSet: readonly ProblemRecord[]): BaselineResult {
  const predict = rule.fit(train);
  let correct = 0;
  for (const r of evalSet) if (predict(r) === r.answerIndex) correct += 1;
  return {
    name: rule.name, description: rule.description, accuracy: evalSet.length ? correct / evalSet.length : 0,
    n: evalSet.length, chance: chanceAccuracy(evalSet),
  };
}

function argmaxKey<K>(counts: Map<K, number>): K | undefined {
  let best: K | undefined;
  let bestCount = -1;
  for (const [k, c] of counts) if (c > bestCount) { best = k; bestCount = c; }
  return best;
}

function bump<K>(map: Map<K, number>, key: K, by = 1): void {
  map.set(key, (map.get(key) ?? 0) + by);
}

const answerText = (r: ProblemRecord) => r.choices[r.answerIndex]!;
const words = (text: string) => text.toLowerCase().match(/[a-z0-9]+/g) ?? [];

/** Choose `text` among the options if present, else the fallback index (clamped). */
function pickText(r: ProblemRecord, text: string | undefined, fallback: number): number {
  const i = text === undefined ? -1 : r.choices.indexOf(text);
  return i >= 0 ? i : Math.min(fallback, r.choices.length - 1);
}

function majorityLetterOf(train: readonly ProblemRecord[]): number {
  const counts = new Map<number, number>();
  for (const r of train) bump(counts, r.answerIndex);
  return argmaxKey(counts) ?? 0;
}

/** Question text with digits and choice words masked, so questions that differ only in the entities named share a template. */
export function questionTemplate(question: string, choiceWords: ReadonlySet<string>): string {
  return question.replace(/[A-Za-z]+|[0-9]+/g, (w) => (/^[0-9]+$/.test(w) || choiceWords.has(w.toLowerCase()) ? '_' : w));
}

function majorityAnswerBy(key: (r: ProblemRecord) => string, train: readonly ProblemRecord[]): (r: ProblemRecord) => number {
  const byKey = new Map<string, Map<string, number>>();
  for (const r of train) {
    const k = key(r);
    if (!byKey.has(k)) byKey.set(k, new Map());
    bump(byKey.get(k)!, answerText(r));
  }
  const fallback = majorityLetterOf(train);
  return (r) => {
    const counts = byKey.get(key(r));
    return pickText(r, counts ? argmaxKey(counts) : undefined, fallback);
  };
}

export const TEXT_ONLY_RULES: readonly Rule[] = [
  {
    name: 'majority-letter',
    description: 'always the answer letter most frequent in training',
    fit: (train) => { const l = majorityLetterOf(train); return (r) => Math.min(l, r.choices.length - 1); },
  },
  {
    name: 'majority-answer-per-question',
    description: 'the answer text most often correct for the exact same question text in training',
    fit: (train) => majorityAnswerBy((r) => r.question, train),
  },
  {
    name: 'majority-answer-per-template',
    description: 'the answer text most often correct for the question template (entities and numbers masked)',
    fit: (train) => {
      const choiceWords = new Set(train.flatMap((r) => r.choices.flatMap(words)));
      return majorityAnswerBy((r) => questionTemplate(r.question, choiceWords), train);
    },
  },
  {
    name: 'best-option-text',
    description: 'the option whose text was most often the correct one when offered in training',
    fit: (train) => {
      const offered = new Map<string, number>();
      const right = new Map<string, number>();
      for (const r of train) {
        for (const c of r.choices) bump(offered, c);
        bump(right, answerText(r));
      }
      // Laplace-smoothed rate, so an option seen once is not trusted absolutely.
      const rate = (c: string) => ((right.get(c) ?? 0) + 1) / ((offered.get(c) ?? 0) + 4);
      return (r) => r.choices.reduce((best, c, i) => (rate(c) > rate(r.choices[best]!) ? i : best), 0);
    },
  },
  {
    name: 'question-word-x-option',
    description: 'naive Bayes over (question word, option text) pairs: how often each option was right when the question had that word',
    fit: (train) => {
      const offered = new Map<string, number>();
      const right = new Map<string, number>();
      for (const r of train) {
        const ws = new Set(words(r.question + ' ' + r.hint));
        for (const w of ws) {
          for (const c of r.choices) bump(offered, `${w}\u0000${c}`);
          bump(right, `${w}\u0000${answerText(r)}`);
        }
      }
      return (r) => {
        const ws = [...new Set(words(r.question + ' ' + r.hint))];
        const k = r.choices.length;
        let best = 0;
        let bestScore = -Infinity;
        r.choices.forEach((c, i) => {
          let score = 0;
          for (const w of ws) {
            const key = `${w}\u0000${c}`;
            score += Math.log(((right.get(key) ?? 0) + 1) / ((offered.get(key) ?? 0) + k));
          }
          if (score > bestScore) { bestScore = score; best = i; }
        });
        return best;
      };
    },
  },
  {
    name: 'longest-option',
    description: 'the longest option text (a classic multiple-choice shortcut)',
    fit: () => (r) => r.choices.reduce((best, c, i) => (c.length > r.choices[best]!.length ? i : best), 0),
  },
];

export function textOnlyBaselines(train: readonly ProblemRecord[], evalSet: readonly ProblemRecord[]): BaselineResult[] {
  return TEXT_ONLY_RULES.map((rule) => scoreRule(rule, train, evalSet));
}
