// `ivt demo --seeds`: the bars checked per seed, the table over seeds, and reuse of a seed's
// earlier results only when they were made with the same options.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DemoResults, runDemoSeeds, seedBars, seedsMarkdown } from '../../train/seeds.js';
import { DEMO_SETTLE_EPOCHS, DemoOptions } from '../../train/demo.js';
import { rejectsUserError, tempDir } from './util.js';

const LABELS = ['no-CoT', 'explicit CoT (stage 0)', 'IVT-LR stage 1', 'IVT-LR stage 2', 'IVT-LR stage 3', 'without latent text', 'without latent vision', 'IVT-LR, 1 latent stage', 'IVT-LR, 2 latent stages'];

function results(acc: number[], options: Record<string, unknown> = {}): DemoResults {
  return { options, rows: LABELS.map((label, i) => ({ label, accuracy: acc[i]! / 100, avg_passes: 1, ms_per_question: 1 })), stage_epochs: [12, 2, 3, 2], minutes: 8.4 };
}

test('the bars, seed by seed', () => {
  const good = seedBars(results([25, 95, 96, 97, 98, 25, 60, 30, 75.5]));
  assert.equal(good, { stepsMatter: true, latentKeepsUp: true, rising: true, stageCountRising: true, textNeeded: true, visionNeeded: true });
  const flat = seedBars(results([25, 100, 100, 99, 99, 25.5, 99, 25, 25]));
  assert.equal(flat, { stepsMatter: true, latentKeepsUp: true, rising: false, stageCountRising: false, textNeeded: true, visionNeeded: false });
  const bad = seedBars(results([30, 39, 67, 26.5, 25, 25, 23, 24.5, 24.5]));
  assert.equal(bad, { stepsMatter: false, latentKeepsUp: false, rising: false, stageCountRising: false, textNeeded: false, visionNeeded: true });
  // Exactly at a bar counts as reaching it, whatever binary rounding does to 0.57 * 100.
  const edge = seedBars(results([47, 57, 55, 55, 55, 25, 25, 25, 25]));
  assert.is(edge.stepsMatter, true, '57.0% against 47.0% is 10 points');
  assert.is(edge.latentKeepsUp, true, '55.0% against 57.0% is within 2 points');
  // A row missing from a run without ablations is "not measured", not a pass.
  const noAbl = results([25, 95, 96, 97, 98, 0, 0]);
  noAbl.rows = noAbl.rows.slice(0, 5);
  assert.is(seedBars(noAbl).textNeeded, null);
  assert.is(seedBars(noAbl).stageCountRising, null);
});

test('the table: every mode by seed with mean, lowest and highest', () => {
  const md = seedsMarkdown([
    { seed: 1, dir: 'a', results: results([24, 100, 100, 99, 99, 25.5, 99, 25, 23.5]) },
    { seed: 2, dir: 'b', results: results([26, 90, 98, 93, 97, 25, 25, 25.5, 75.5]) },
  ]);
  assert.ok(md.includes('| mode | seed 1 | seed 2 | mean | lowest | highest |'), md);
  assert.ok(md.includes('| explicit CoT (stage 0) | 100.0% | 90.0% | 95.0% | 90.0% | 100.0% |'), md);
  assert.ok(md.includes('| without latent vision | 99.0% | 25.0% | 62.0% | 25.0% | 99.0% |'), md);
  assert.ok(md.includes('| epochs by stage | 12 / 2 / 3 / 2 | 12 / 2 / 3 / 2 |'), md);
  assert.ok(md.includes('| without latent vision < IVT-LR | **no** | yes |'), md);
  assert.ok(md.includes('| stages rise: 1 < 2 < 3 | **no** | **no** |'), md);
  assert.ok(md.includes('| curricula of N latent stages rise: N = 1 < 2 < 3 | **no** | yes |'), md);
});

test('a seed already run with the same options is read; with other options it is refused', async () => {
  const out = tempDir('ivt-seeds');
  const opts: DemoOptions = { out, preset: 'tiny', train: 24, val: 8, test: 8, epochs0: 1, epochs: 1, batch: 8, lr: 3e-3, seed: 1, ablations: true, log: () => {} };
  for (const seed of [3, 4]) {
    mkdirSync(join(out, `seed-${seed}`, 'report'), { recursive: true });
    const { log: _log, ...rest } = opts;
    writeFileSync(join(out, `seed-${seed}`, 'report', 'results.json'), JSON.stringify(results([25, 95, 96, 97, 98, 25, 60 - seed, 25, 25], { ...rest, out: join(out, `seed-${seed}`), seed, settleEpochs: DEMO_SETTLE_EPOCHS })));
  }
  const r = await runDemoSeeds(opts, [3, 4]);
  assert.is(r.summaryPath, join(out, 'seeds.md'));
  const json = JSON.parse(readFileSync(join(out, 'seeds.json'), 'utf8')) as { seed: number; bars: { rising: boolean } }[];
  assert.equal(json.map((s) => s.seed), [3, 4]);
  assert.ok(readFileSync(r.summaryPath, 'utf8').includes('| without latent vision | 57.0% | 56.0% | 56.5% | 56.0% | 57.0% |'));
  await rejectsUserError(() => runDemoSeeds({ ...opts, epochs: 2 }, [3]), 'seed-3', 'other options', 'epochs 1, asked 2');
  await rejectsUserError(() => runDemoSeeds(opts, [3, 3]), 'a seed twice');
  // A seed run before settle epochs existed trained without them: not the default's results.
  const { log: _log, ...rest } = opts;
  writeFileSync(join(out, 'seed-5', 'report', 'results.json'), (mkdirSync(join(out, 'seed-5', 'report'), { recursive: true }), JSON.stringify(results([25, 95, 96, 97, 98, 25, 55, 25, 25], { ...rest, out: join(out, 'seed-5'), seed: 5 }))));
  await rejectsUserError(() => runDemoSeeds(opts, [5]), 'seed-5', 'settleEpochs undefined, asked 2');
});

test.run();
