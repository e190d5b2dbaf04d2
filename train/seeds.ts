// `ivt demo --seeds 1,2,3`: the demo once per seed (other pictures, questions and data order),
// then one table of every mode's test accuracy by seed, with mean, lowest and highest, and the
// demo's bars checked seed by seed. One run is one draw: a figure that holds for one seed and
// not the next is worth knowing (METHOD.md: report seeds and variance, not one run).
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../engine/errors.js';
import { DEMO_SETTLE_EPOCHS, DemoOptions, runDemo } from './demo.js';
import { writeFileAtomic as writeAtomic } from '../engine/atomic_file.js';
import { readJsonObject } from './trainer.js';

/** What the summary reads from a demo's report/results.json. */
export interface DemoResults {
  options: Record<string, unknown>;
  rows: { label: string; accuracy: number; avg_passes: number; ms_per_question: number }[];
  stage_epochs?: number[];
  minutes: number;
}

export interface SeedResult { seed: number; dir: string; results: DemoResults }

/** The demo's bars, as checked on one seed's results (accuracies in points). */
export interface SeedBars {
  /** Explicit CoT at least 10 points above no-CoT: the steps matter. */
  stepsMatter: boolean;
  /** IVT-LR's final stage at most 2 points below explicit CoT. */
  latentKeepsUp: boolean;
  /** Stages 1 < 2 < 3 of the curriculum, strictly. */
  rising: boolean;
  /** The paper's stage-wise ablation: curricula of 1 < 2 < 3 latent stages, strictly (null: not run). */
  stageCountRising: boolean | null;
  /** Without latent text below the full model. */
  textNeeded: boolean | null;
  /** Without latent vision below the full model. */
  visionNeeded: boolean | null;
}

const acc = (r: DemoResults, label: string): number | null => {
  const row = r.rows.find((x) => x.label === label);
  return row ? 100 * row.accuracy : null;
};

export function seedBars(r: DemoResults): SeedBars {
  const get = (label: string) => {
    const v = acc(r, label);
    if (v === null) throw new UserError(`results.json: no row "${label}"`);
    return v;
  };
  const nocot = get('no-CoT'), cot = get('explicit CoT (stage 0)');
  const s = [1, 2, 3].map((k) => get(`IVT-LR stage ${k}`));
  const full = s[2]!;
  const noText = acc(r, 'without latent text'), noVision = acc(r, 'without latent vision');
  const n1 = acc(r, 'IVT-LR, 1 latent stage'), n2 = acc(r, 'IVT-LR, 2 latent stages');
  return {
    // Percentages from accuracies carry binary rounding (0.57 * 100 is 56.99999999999999): a
    // gap of exactly 10 or 2 points must count as reached.
    stepsMatter: cot - nocot >= 10 - 1e-9,
    latentKeepsUp: full >= cot - 2 - 1e-9,
    rising: s[0]! < s[1]! && s[1]! < s[2]!,
    stageCountRising: n1 === null || n2 === null ? null : n1 < n2 && n2 < full,
    textNeeded: noText === null ? null : noText < full,
    visionNeeded: noVision === null ? null : noVision < full,
  };
}

/** Every mode's accuracy by seed with mean, lowest and highest; the stage lengths; the bars by seed. */
export function seedsMarkdown(runs: SeedResult[]): string {
  const labels = runs[0]!.results.rows.map((r) => r.label);
  const f = (v: number | null) => (v === null ? '-' : `${v.toFixed(1)}%`);
  const lines = [
    '| mode | ' + runs.map((r) => `seed ${r.seed}`).join(' | ') + ' | mean | lowest | highest |',
    '|---|' + runs.map(() => '---|').join('') + '---|---|---|',
    ...labels.map((label) => {
      const vs = runs.map((r) => acc(r.results, label));
      const have = vs.filter((v): v is number => v !== null);
      const mean = have.length ? have.reduce((a, v) => a + v, 0) / have.length : null;
      return `| ${label} | ${vs.map(f).join(' | ')} | ${f(mean)} | ${f(have.length ? Math.min(...have) : null)} | ${f(have.length ? Math.max(...have) : null)} |`;
    }),
  ];
  const yes = (b: boolean | null) => (b === null ? '-' : b ? 'yes' : '**no**');
  const bars = runs.map((r) => seedBars(r.results));
  const barRows: [string, (b: SeedBars) => boolean | null][] = [
    ['explicit CoT >= no-CoT + 10 points', (b) => b.stepsMatter],
    ['IVT-LR stage 3 >= explicit CoT - 2 points', (b) => b.latentKeepsUp],
    ['stages rise: 1 < 2 < 3', (b) => b.rising],
    ['curricula of N latent stages rise: N = 1 < 2 < 3', (b) => b.stageCountRising],
    ['without latent text < IVT-LR', (b) => b.textNeeded],
    ['without latent vision < IVT-LR', (b) => b.visionNeeded],
  ];
  return [
    `Test accuracy (${runs.length} seeds; each seed its own pictures, questions and data order):`,
    '',
    ...lines,
    '',
    '| | ' + runs.map((r) => `seed ${r.seed}`).join(' | ') + ' |',
    '|---|' + runs.map(() => '---|').join(''),
    `| epochs by stage | ${runs.map((r) => (r.results.stage_epochs ?? []).join(' / ') || '-').join(' | ')} |`,
    `| demo minutes | ${runs.map((r) => r.results.minutes.toFixed(1)).join(' | ')} |`,
    ...barRows.map(([name, pick]) => `| ${name} | ${bars.map((b) => yes(pick(b))).join(' | ')} |`),
    '',
  ].join('\n');
}

/** Options that must match for a seed's earlier results to be reused (everything but where it lives). */
function sameOptions(had: Record<string, unknown>, want: Record<string, unknown>): string | null {
  for (const [k, v] of Object.entries(want)) {
    if (k === 'out' || k === 'log' || v === undefined) continue;
    if (JSON.stringify(had[k]) !== JSON.stringify(v)) return `${k} ${JSON.stringify(had[k])}, asked ${JSON.stringify(v)}`;
  }
  return null;
}

function readResults(path: string): DemoResults {
  const r = readJsonObject(path) as unknown as DemoResults;
  if (!Array.isArray(r.rows) || typeof r.options !== 'object' || typeof r.minutes !== 'number') throw new UserError(`${path}: not a demo's results.json (rows, options, minutes)`);
  return r;
}

/**
 * The demo for each seed into OUT/seed-N (a seed whose report exists with the same options is
 * read, not rerun: a long multi-seed run can be continued), then OUT/seeds.md and seeds.json.
 */
export async function runDemoSeeds(o: DemoOptions, seeds: number[]): Promise<{ summaryPath: string; markdown: string }> {
  if (seeds.length === 0) throw new UserError('--seeds: at least one seed');
  if (new Set(seeds).size !== seeds.length) throw new UserError(`--seeds ${seeds.join(',')}: a seed twice`);
  const runs: SeedResult[] = [];
  for (const seed of seeds) {
    const dir = join(o.out, `seed-${seed}`);
    const file = join(dir, 'report', 'results.json');
    // Defaults resolved, so that results written before an option existed never pass for its default.
    const opts: DemoOptions = { ...o, out: dir, seed, settleEpochs: o.settleEpochs ?? DEMO_SETTLE_EPOCHS };
    if (existsSync(file)) {
      const had = readResults(file);
      const diff = sameOptions(had.options, { ...opts, log: undefined } as unknown as Record<string, unknown>);
      if (diff) throw new UserError(`${file}: seed ${seed} was run with other options (${diff}); use another --out`);
      o.log(`=== seed ${seed}: reusing ${file}`);
      runs.push({ seed, dir, results: had });
      continue;
    }
    o.log(`=== seed ${seed}`);
    await runDemo(opts);
    runs.push({ seed, dir, results: readResults(file) });
  }
  const markdown = seedsMarkdown(runs);
  mkdirSync(o.out, { recursive: true });
  const write = (name: string, text: string) => writeAtomic(join(o.out, name), text);
  write('seeds.md', `# IVT-LR demo over ${seeds.length} seeds\n\n${markdown}`);
  write('seeds.json', JSON.stringify(runs.map((r) => ({ seed: r.seed, dir: r.dir, bars: seedBars(r.results), stage_epochs: r.results.stage_epochs, minutes: r.results.minutes, rows: r.results.rows.map((x) => ({ label: x.label, accuracy: x.accuracy })) })), null, 2) + '\n');
  return { summaryPath: join(o.out, 'seeds.md'), markdown };
}
