// `ivt data check`: turns the statistics into pass/fail claims.
//  - every image decodes (and, for synthetic data, shows exactly its scene);
//  - synthetic records agree with their scenes, and the oracle that follows all steps is right
//    every time (the problems are answerable);
//  - every text-only baseline is near chance (the image is needed);
//  - every single-lookup baseline is near chance (the steps are needed);
//  - synthetic data: answer letters balanced in every split, no problem in two splits.
// "Near" allows for sampling noise: chance + max(margin, 3 standard errors).
import type { BaselineResult } from './baselines.js';
import type { DatasetStats } from './stats.js';
import { SPLITS } from './record.js';

export interface CheckOptions {
  /** Allowed excess over chance for text-only rules (default 0.05). */
  textMargin?: number;
  /** Allowed excess over chance for single-lookup rules (default 0.10: a rule reading one
   *  random cell is right whenever that cell happens to be the asked-about one). */
  lookupMargin?: number;
}

export interface CheckResult {
  ok: boolean;
  failures: string[];
  notes: string[];
}

function nearChance(b: BaselineResult, margin: number): boolean {
  const se = Math.sqrt((b.chance * (1 - b.chance)) / Math.max(1, b.n));
  return b.accuracy <= b.chance + Math.max(margin, 3 * se);
}

export function judgeStats(s: DatasetStats, opts: CheckOptions = {}): CheckResult {
  const failures: string[] = [];
  const notes: string[] = [];
  const synthetic = s.lookupBaselines !== null;
  if (SPLITS.every((sp) => s.perSplit[sp] === 0)) failures.push('no problems loaded: nothing to check');
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  if (s.inconsistent && s.inconsistent.length > 0) failures.push(`${s.inconsistent.length} records disagree with their scene (first: ${s.inconsistent[0]})`);
  // Generated data must have them (they are how it is judged); a real dataset's single split is
  // reported, not judged.
  if (s.textOnlyBaselines.length === 0) (synthetic ? failures : notes).push('no baselines measured: that needs a train split and a test or val split');
  if (s.crossSplitDuplicates > 0) {
    const what = `${s.crossSplitDuplicates} problems also occur in another split (same question, choices and picture)`;
    // Generated data must not leak between splits; a real dataset's own splits are what they are.
    if (synthetic) failures.push(`${what}: the evaluation would measure memory`);
    else notes.push(what);
  }
  if (synthetic) {
    // Answer letters balanced in every split: a skewed train split teaches a letter prior that a
    // small test split cannot show (the majority-letter baseline is scored on test only).
    const counts = Object.values(s.choices);
    const k = Number(Object.keys(s.choices)[counts.indexOf(Math.max(...counts))] ?? 4);
    for (const [split, byLetter] of Object.entries(s.letters)) {
      const n = Object.values(byLetter).reduce((a, b) => a + b, 0);
      if (n === 0) continue;
      const [letter, most] = Object.entries(byLetter).sort((a, b) => b[1] - a[1])[0]!;
      const allowed = 1 / k + Math.max(opts.textMargin ?? 0.05, 3 * Math.sqrt((1 / k) * (1 - 1 / k) / n));
      if (most / n > allowed) failures.push(`${split}: answer ${letter} in ${pct(most / n)} of ${n} problems, above ${pct(allowed)} (chance ${pct(1 / k)}): the letters are not balanced`);
    }
    for (const b of s.textOnlyBaselines) {
      if (!nearChance(b, opts.textMargin ?? 0.05)) failures.push(`text-only rule ${b.name} scores ${pct(b.accuracy)}, above chance ${pct(b.chance)}: the question text gives the answer away`);
    }
    for (const b of s.lookupBaselines!) {
      if (b.name === 'oracle-all-steps') {
        if (b.accuracy < 1) failures.push(`the oracle that follows every step scores ${pct(b.accuracy)}, not 100%`);
      } else if (!nearChance(b, opts.lookupMargin ?? 0.1)) {
        failures.push(`single-lookup rule ${b.name} scores ${pct(b.accuracy)}, above chance ${pct(b.chance)}: a reasoning step can be skipped (try a bigger --grid or fewer --steps)`);
      }
    }
  } else {
    notes.push('not a synthetic dataset: baselines are reported, not judged');
  }
  return { ok: failures.length === 0, failures, notes };
}
