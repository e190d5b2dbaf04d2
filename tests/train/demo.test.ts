// The main job end to end at toy size: data, curriculum, baselines, ablations, evaluation of
// every mode, the stage-0 skill table and the report with its charts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkReusedData, DEMO_SETTLE_EPOCHS, runDemo } from '../../train/demo.js';
import { resolveSynthOptions } from '../../train/data/synth/spec.js';
import { setup } from '../helpers.js';
import { rejectsUserError, tempDir, throwsUserError } from './util.js';
import { writeSynthDataset } from '../../train/data/synth/write.js';

test.before(setup);

test('ivt demo at toy size, chains of 2 and 3 steps mixed, writes a complete report', async () => {
  const out = tempDir('ivt-demo-test');
  const lines: string[] = [];
  const r = await runDemo({ out, preset: 'tiny', train: 24, val: 8, test: 8, epochs0: 1, epochs: 1, maxEpochs0: 2, maxEpochs: 2, batch: 8, lr: 3e-3, seed: 2, ablations: true, minSteps: 2, log: (s) => lines.push(s) });
  assert.is(r.reportPath, join(out, 'report', 'report.md'));
  // Grounding is on by default: the curriculum and the no-CoT baseline align image tokens and caption every picture.
  assert.is(lines.filter((l) => l.includes('grounding: alignment objective (weight 1), 24 captions mixed into stage 0')).length, 2, lines.join('\n'));
  for (const f of ['report.md', 'results.json', 'loss.png', 'accuracy.png', 'latency.png', 'example-1.png']) {
    assert.ok(existsSync(join(out, 'report', f)), `report/${f} missing`);
  }
  const res = JSON.parse(readFileSync(join(out, 'report', 'results.json'), 'utf8')) as { rows: { label: string; n: number; avg_passes: number; by_group: Record<string, { n: number; accuracy: number }> }[]; stage0_skills: { group: string }[] };
  assert.equal(res.rows.map((x) => x.label), ['no-CoT', 'explicit CoT (stage 0)', 'IVT-LR stage 1', 'IVT-LR stage 2', 'IVT-LR stage 3', 'IVT-LR, no KV cache',
    'IVT-LR stage-3 weights, 0 latent steps', 'IVT-LR stage-3 weights, 1 latent step', 'IVT-LR stage-3 weights, 2 latent steps', 'without latent text', 'without latent vision', 'random latent vision (control)', 'IVT-LR, 1 latent stage', 'IVT-LR, 2 latent stages']);
  for (const row of res.rows) assert.is(row.n, 8);
  // With mixed chain lengths every mode is scored per length too.
  assert.equal(Object.keys(res.rows[0]!.by_group), ['2 steps', '3 steps']);
  for (const row of res.rows) assert.is(Object.values(row.by_group).reduce((a, g) => a + g.n, 0), 8, row.label);
  // IVT-LR stage 3 makes its 1 + 3 latent passes before any answer token.
  assert.ok(res.rows[4]!.avg_passes >= 4, `stage-3 passes ${res.rows[4]!.avg_passes}`);
  // The stage-count ablation: final models of curricula with 1 and 2 latent stages, then the main one's.
  const byCount = (res as unknown as { by_stage_count: { stages: number; avg_passes: number }[] }).by_stage_count;
  assert.equal(byCount.map((c) => c.stages), [1, 2, 3]);
  byCount.forEach((c) => assert.ok(c.avg_passes >= 1 + c.stages, `${c.stages} stages: ${c.avg_passes} passes`));
  // The final weights with 0..3 latent steps (the rest written out); stage mixing is on by default.
  const byLatent = (res as unknown as { by_latent_count: { latent_steps: number; avg_passes: number }[] }).by_latent_count;
  assert.equal(byLatent.map((c) => c.latent_steps), [0, 1, 2, 3]);
  byLatent.forEach((c) => assert.ok(c.avg_passes >= 1 + c.latent_steps, `${c.latent_steps} latent steps: ${c.avg_passes} passes`));
  assert.ok(lines.some((l) => l.includes('stage mixing: in the latent stages, 0.2 of the batches are trained at an earlier stage')), 'mixing on by default');
  const norms = (res as unknown as { input_norms: { token: number; image: number; steps: { hidden: number; input: number }[] } }).input_norms;
  assert.is(norms.steps.length, 3);
  for (const v of [norms.token, norms.image, ...norms.steps.flatMap((st) => [st.hidden, st.input])]) assert.ok(Number.isFinite(v) && v > 0, `norm ${v}`);
  // Where latent vision looked: a row per latent step, a column per chain cell (2-3 step chains here).
  const focus = (res as unknown as { vision_focus: { cells: string[]; counts: number[]; attention: number[][]; inserted: number[][]; asked: { attention: number[]; inserted: number[] } } }).vision_focus;
  assert.equal(focus.cells, ['start', 'after move 1', 'after move 2']);
  assert.is(focus.counts[0], 8);
  // Chains of 2 and 3 cells: the tables add the asked cell (each chain's last).
  assert.ok(focus.counts[2]! < focus.counts[0]!, `chain lengths ${focus.counts.join(', ')}`);
  for (const table of [focus.attention, focus.inserted, focus.asked.attention.map((a, i) => [a, focus.asked.inserted[i]!])]) {
    assert.is(table.length, 3);
    for (const row of table) for (const x of row) assert.ok(x >= 0 && x <= 1, `share ${x}`);
  }
  assert.ok(readFileSync(r.reportPath, 'utf8').includes('| attention share | start | after move 1 | after move 2 | asked cell |'), 'report lacks the latent-vision tables');
  // Batch-1 latency: five modes, interleaved over the same test problems.
  const lat = (res as unknown as { latency_batch1: { rows: { mode: string; n: number; draft?: boolean }[]; chunk: number; spread: { plain: number[]; drafted: number[] } } }).latency_batch1;
  assert.equal(lat.rows.map((x) => x.mode + (x.draft ? '+draft' : '')), ['cot', 'ivt', 'ivt-recompute', 'cot+draft', 'ivt+draft']);
  for (const row of lat.rows) assert.is(row.n, 8);
  assert.ok(lat.spread.plain.every((x) => x > 0) && lat.spread.drafted.every((x) => x > 0));
  assert.ok(res.stage0_skills.some((g) => g.group === 'object at a cell (image lookup)'));
  // Stage lengths: each stage trained its own epoch or, extended by validation, at most 2, and
  // each latent stage then its settle epochs; the ablations trained the same, stage by stage.
  const stageEpochs = (res as unknown as { stage_epochs: number[] }).stage_epochs;
  assert.is(stageEpochs.length, 4);
  assert.ok(stageEpochs.every((e) => e === 1 || e === 2), `stage epochs ${stageEpochs.join(' / ')}`);
  const stepsOf = (run: string) => readFileSync(join(out, 'runs', run, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { loss?: number; stage: number; epoch: number; lr: number })
    .filter((m) => m.loss !== undefined);
  const epochsAt = (steps: { stage: number; epoch: number; lr: number }[], s: number, lr?: number) => new Set(steps.filter((m) => m.stage === s && (lr === undefined || m.lr === lr)).map((m) => m.epoch)).size;
  assert.ok(DEMO_SETTLE_EPOCHS > 0);
  for (const run of ['ivt', 'no-text']) {
    const steps = stepsOf(run);
    for (let s = 1; s <= 3; s++) {
      assert.is(epochsAt(steps, s), stageEpochs[s]! + DEMO_SETTLE_EPOCHS, `${run} stage ${s} epochs`);
      assert.is(epochsAt(steps, s, 3e-3 / 4), DEMO_SETTLE_EPOCHS, `${run} stage ${s}: settle epochs at a quarter of the rate`);
    }
  }
  assert.ok(lines.some((l) => l.includes(`settle epochs at lr ${3e-3 / 4}`)), 'the settle epochs are announced');
  // The random-vision control trains the same stages from the same weights, in its own mode.
  const randomOpts = JSON.parse(readFileSync(join(out, 'runs', 'random-vision', 'options.json'), 'utf8')) as { latent: { randomVision?: boolean }; initTag: string; stageEpochs: number[] };
  assert.equal([randomOpts.latent.randomVision, randomOpts.initTag, randomOpts.stageEpochs], [true, 'stage-0', stageEpochs]);
  const md = readFileSync(r.reportPath, 'utf8');
  // The latency comparison says when it compares models that have not learned the task.
  const acc = (label: string) => res.rows.find((x) => x.label === label)! as unknown as { accuracy: number };
  const learned = Math.max(acc('explicit CoT (stage 0)').accuracy, acc('IVT-LR stage 3').accuracy) >= acc('no-CoT').accuracy + 0.1;
  assert.is(md.includes('these timings compare models that have not learned the task'), !learned, `learned: ${learned}`);
  assert.ok(md.includes('Evaluated in batches of 16.'), 'the report names its evaluation batch');
  assert.ok(md.includes('| stage | after epoch | validation accuracy | mode | decision |'), 'report lacks the stage-length checks');
  for (const want of ['## Accuracy, forward passes and latency', '## What the explicit-CoT model has learned', '### By number of latent stages', '### The final weights with fewer latent steps', '### By chain length', '## What the language model reads, by norm', '## What latent vision looked at']) assert.ok(md.includes(want), `report lacks "${want}"`);
});

test('a rerun into the same folder refuses data generated with other options, before any training', async () => {
  const out = tempDir('ivt-demo-reuse');
  await writeSynthDataset(join(out, 'data'), { train: 24, val: 8, test: 8, seed: 2, startBy: 'cell', queries: ['colour'], wording: 'cell-value' });
  const lines: string[] = [];
  const base = { out, preset: 'tiny', train: 24, val: 8, test: 8, epochs0: 1, epochs: 1, batch: 8, lr: 3e-3, seed: 2, ablations: false, log: (s: string) => lines.push(s) };
  await rejectsUserError(() => runDemo({ ...base, minSteps: 2 }), 'synth.json', 'minSteps 3', 'asks for 2');
  await rejectsUserError(() => runDemo({ ...base, train: 30 }), 'train 24', 'asks for 30');
  assert.ok(!existsSync(join(out, 'runs')), 'nothing trained');
  assert.ok(!lines.some((l) => l.includes('reusing')), lines.join('\n'));
});

test('reusing data: the same options pass; a synth.json written before --min-steps reads as its default', async () => {
  const dir = join(tempDir('ivt-demo-reuse-ok'), 'data');
  const asked = { train: 24, val: 8, test: 8, seed: 2, startBy: 'cell' as const, queries: ['colour' as const], wording: 'cell-value' as const };
  await writeSynthDataset(dir, asked);
  checkReusedData(dir, resolveSynthOptions(asked));
  const file = join(dir, 'synth.json');
  const { minSteps, ...older } = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  assert.is(minSteps, 3);
  writeFileSync(file, JSON.stringify(older));
  checkReusedData(dir, resolveSynthOptions(asked));
  throwsUserError(() => checkReusedData(dir, resolveSynthOptions({ ...asked, minSteps: 2 })), 'minSteps 3', 'asks for 2');
  writeFileSync(file, '[1]');
  throwsUserError(() => checkReusedData(dir, resolveSynthOptions(asked)), 'synth.json: must be a JSON object');
});

test.run();
