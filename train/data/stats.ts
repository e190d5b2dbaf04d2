import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
// The statistics `ivt data inspect` prints and `ivt data check` judges: sizes, answer-letter
// balance, steps per problem, and the shortcut baselines (text-only for any dataset; for the
// synthetic dataset also the image-lookup rules and the oracle).
import type { LoadedDataset } from './dataset.js';
import { letterOf, SPLITS, type ProblemRecord, type Split } from './record.js';
import { splitSentences } from './steps.js';
import { textOnlyBaselines, type BaselineResult } from './baselines.js';
import { inconsistentRecords, lookupBaselines, withScenes } from './synth/lookups.js';
import type { Scene } from './synth/scene.js';

export interface DatasetStats {
  perSplit: Record<Split, number>;
  /** split -> letter -> count of problems whose answer is that letter. */
  letters: Record<Split, Record<string, number>>;
  /** number of choices -> problems */
  choices: Record<string, number>;
  /** steps per problem (after merging to maxSteps) -> problems */
  steps: Record<string, number>;
  /** sentences per rationale (before merging) -> problems */
  sentences: Record<string, number>;
  withImage: number;
  textOnly: number;
  /** Synthetic only: question kind -> problems. */
  queryKinds: Record<string, number> | null;
  /** Problems whose question, choices and picture also occur in another split. */
  crossSplitDuplicates: number;
  fitSplit: Split;
  evalSplit: Split | null;
  textOnlyBaselines: BaselineResult[];
  /** Synthetic only. */
  lookupBaselines: BaselineResult[] | null;
  /** Synthetic only: ids whose question/rationale/answer disagree with their scene. */
  inconsistent: string[] | null;
}

function bump(obj: Record<string, number>, key: string | number): void {
  obj[String(key)] = (obj[String(key)] ?? 0) + 1;
}

/** What a problem asks, without its picture. */
function textKey(r: ProblemRecord): string {
  return JSON.stringify([r.question, r.hint, r.choices]);
}

/** Its picture: the scene where known, else the image file's bytes (hashed), null for none. */
function pictureKey(r: ProblemRecord, scene: Scene | undefined): string {
  if (scene) return JSON.stringify(scene.objects);
  if (r.imagePath === null) return 'none';
  return createHash('sha256').update(readFileSync(r.imagePath)).digest('hex');
}

export function datasetStats(data: LoadedDataset, scenes: Map<string, Scene> = new Map()): DatasetStats {
  const { records } = data;
  const letters = { train: {}, val: {}, test: {} } as Record<Split, Record<string, number>>;
  const choices: Record<string, number> = {};
  const steps: Record<string, number> = {};
  const sentences: Record<string, number> = {};
  for (const r of records) {
    bump(letters[r.split], letterOf(r.answerIndex));
    bump(choices, r.choices.length);
    bump(steps, r.steps.length);
    bump(sentences, splitSentences(r.rationale).length);
  }
  const examples = withScenes(records, scenes);
  let queryKinds: Record<string, number> | null = null;
  if (examples) {
    queryKinds = {};
    for (const e of examples) bump(queryKinds, e.scene.query);
  }

  // Same question and choices in two splits first; only those pictures are compared (reading
  // every image of a large dataset to hash it would take long).
  const splitsOfText = new Map<string, Set<Split>>();
  for (const r of records) {
    const k = textKey(r);
    splitsOfText.set(k, (splitsOfText.get(k) ?? new Set()).add(r.split));
  }
  const seen = new Map<string, Split>();
  let crossSplitDuplicates = 0;
  for (const r of records) {
    const text = textKey(r);
    if (splitsOfText.get(text)!.size < 2) continue;
    const key = text + pictureKey(r, scenes.get(r.id));
    const other = seen.get(key);
    if (other !== undefined && other !== r.split) crossSplitDuplicates += 1;
    else seen.set(key, r.split);
  }

  // Baselines are fitted on train and scored on test (val if there is no test split).
  const bySplit = (s: Split) => records.filter((r) => r.split === s);
  const fit = bySplit('train');
  const evalSplit: Split | null = bySplit('test').length > 0 ? 'test' : bySplit('val').length > 0 ? 'val' : null;
  const evalSet = evalSplit ? bySplit(evalSplit) : [];
  const textOnly = evalSet.length && fit.length ? textOnlyBaselines(fit, evalSet) : [];
  let lookups: BaselineResult[] | null = null;
  if (examples && evalSplit && fit.length) {
    lookups = lookupBaselines(examples.filter((e) => e.record.split === 'train'), examples.filter((e) => e.record.split === evalSplit));
  }
  const withImage = records.filter((r) => r.imagePath !== null).length;
  return {
    perSplit: Object.fromEntries(SPLITS.map((s) => [s, bySplit(s).length])) as Record<Split, number>,
    letters, choices, steps, sentences, withImage, textOnly: records.length - withImage, queryKinds,
    crossSplitDuplicates, fitSplit: 'train', evalSplit, textOnlyBaselines: textOnly, lookupBaselines: lookups,
    inconsistent: examples ? inconsistentRecords(examples) : null,
  };
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

function histogram(h: Record<string, number>): string {
  return Object.keys(h).sort((a, b) => Number(a) - Number(b)).map((k) => `${k}: ${h[k]}`).join(', ');
}

function baselineLines(title: string, results: readonly BaselineResult[]): string[] {
  if (results.length === 0) return [];
  // Rules scored on a subset (those that skip a step only where there are moves) name their own
  // count; the header's is that of the most problems any rule was scored on.
  const all = results.reduce((a, b) => (b.n > a.n ? b : a));
  const lines = [`${title} (fit on train, scored on ${all.n} problems; chance ${pct(all.chance)}):`];
  for (const b of results) lines.push(`  ${b.name.padEnd(30)} ${pct(b.accuracy).padStart(6)}  ${b.description}${b.n === all.n ? '' : ` [${b.n} problems, chance ${pct(b.chance)}]`}`);
  return lines;
}

export function formatStats(data: LoadedDataset, s: DatasetStats): string {
  const r = data.report;
  const lines: string[] = [];
  lines.push(`dataset: ${r.root} (${r.layout} layout)`);
  lines.push(`problems: ${r.loaded} loaded of ${r.total} (train ${s.perSplit.train}, val ${s.perSplit.val}, test ${s.perSplit.test})`);
  lines.push(`images: ${s.withImage} with image, ${s.textOnly} text-only`);
  if (r.missingImage > 0) {
    lines.push(`missing image files: ${r.missingImage} (policy '${r.missingImagePolicy}': ${r.skippedMissingImage} skipped, ${r.convertedToTextOnly} kept text-only)`);
  }
  for (const split of SPLITS) {
    const n = s.perSplit[split];
    if (n === 0) continue;
    const counts = s.letters[split];
    const letters = Object.keys(counts).sort().map((l) => `${l} ${counts[l]} (${pct(counts[l]! / n)})`).join(', ');
    lines.push(`answer letters, ${split}: ${letters}`);
  }
  lines.push(`choices per problem: ${histogram(s.choices)}`);
  lines.push(`sentences per rationale: ${histogram(s.sentences)}`);
  lines.push(`steps per problem: ${histogram(s.steps)}`);
  if (s.queryKinds) lines.push(`question kinds: ${Object.entries(s.queryKinds).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  lines.push(`problems duplicated across splits: ${s.crossSplitDuplicates}`);
  if (s.inconsistent) lines.push(`records disagreeing with their scene: ${s.inconsistent.length}${s.inconsistent.length ? ` (first: ${s.inconsistent[0]})` : ''}`);
  if (s.evalSplit === null || s.textOnlyBaselines.length === 0) lines.push('baselines: need a train split and a test or val split');
  lines.push(...baselineLines('text-only baselines (no image)', s.textOnlyBaselines));
  if (s.lookupBaselines) lines.push(...baselineLines('single-lookup baselines (picture read, steps skipped)', s.lookupBaselines));
  return lines.join('\n');
}
