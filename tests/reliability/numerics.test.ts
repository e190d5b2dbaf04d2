// Non-finite numerics in training, through the trainer's own step and check functions:
//  - a batch whose inputs are NaN gives a non-finite loss and gradient norm; the AdamW kernel
//    skips the update (weights and moments bit-identical), the trainer logs it and goes on;
//  - a poisoned parameter (NaN forever) makes every step bad: after MAX_BAD_STEPS the trainer
//    stops with TrainingAborted and a message saying why;
//  - a checkpoint of non-finite weights is refused: nothing written, `latest` unchanged and
//    still loadable;
//  - a whole run that diverges stops with every step in metrics.jsonl, the one that stopped it
//    marked.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as E from '../../engine/index.js';
import { FULL_LATENT, IvtModel } from '../../model/ivt.js';
import { latestTag, loadCheckpoint, saveCheckpoint } from '../../train/checkpoint.js';
import { checkStepFinite, MAX_BAD_STEPS, train, TrainingAborted, trainStep, type TrainState } from '../../train/trainer.js';
import { writeSynthDataset } from '../../train/data/synth/write.js';
import { metricsLines, tinyRunOptions } from '../train/util.js';
import { tempDir } from './cli.js';
import { fakeSamples, microConfig } from './fake.js';

test.before(async () => { await E.initEngine(); });
test.after(() => E.shutdownEngine());

const freshState = (): TrainState => ({ stage: 0, epoch: 0, batchIndex: 0, step: 0, skippedSteps: 0, done: false });

async function weightsAndMoments(model: IvtModel, opt: E.AdamW): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (const p of model.ps.list()) parts.push(Buffer.from((await p.toArray()).buffer));
  for (const { m, v } of (await opt.exportState()).values()) parts.push(Buffer.from(m.buffer), Buffer.from(v.buffer));
  return Buffer.concat(parts);
}

test('a NaN batch: update skipped (weights and moments unchanged), logged, training goes on', async () => {
  const cfg = microConfig();
  const model = new IvtModel(cfg, 0);
  const opt = new E.AdamW(model.ps.list(), { lr: 1e-3, maxGradNorm: 1 });
  const good = fakeSamples(2, model, 3);
  const bad = fakeSamples(2, model, 4).map((s) => ({ ...s, patches: s.patches.map((x, i) => (i === 5 ? NaN : x)) }));
  const state = freshState();
  const lines: string[] = [];
  const log = (l: string) => lines.push(l);
  for (let i = 0; i < 2; i++) {
    const r = await trainStep(model, opt, good, 1, FULL_LATENT, false);
    state.step++;
    assert.not.ok(checkStepFinite(state, r.loss, r.norm, log));
  }
  const before = await weightsAndMoments(model, opt);
  const r = await trainStep(model, opt, bad, 1, FULL_LATENT, false);
  state.step++;
  assert.ok(!Number.isFinite(r.loss) || !Number.isFinite(r.norm), `NaN input gave loss ${r.loss}, norm ${r.norm}`);
  assert.ok(checkStepFinite(state, r.loss, r.norm, log));
  assert.ok((await weightsAndMoments(model, opt)).equals(before), 'the AdamW kernel skipped the update: weights and moments unchanged');
  assert.is(lines.length, 1);
  assert.match(lines[0]!, /^step 3: non-finite (loss|gradient norm) NaN; update skipped \(1 of at most 9 tolerated\)/);
  const after = await trainStep(model, opt, good, 1, FULL_LATENT, false);
  state.step++;
  assert.ok(Number.isFinite(after.loss) && Number.isFinite(after.norm), 'the next good batch trains normally');
  assert.not.ok(checkStepFinite(state, after.loss, after.norm, log));
  assert.not.ok((await weightsAndMoments(model, opt)).equals(before), 'and updates the weights');
  assert.is(state.skippedSteps, 1);
  opt.destroy();
  model.ps.dispose();
});

test(`a poisoned parameter: every step bad, the trainer stops after ${MAX_BAD_STEPS} with a message; a NaN checkpoint is refused`, async () => {
  const cfg = microConfig();
  const model = new IvtModel(cfg, 0);
  const opt = new E.AdamW(model.ps.list(), { lr: 1e-3, maxGradNorm: 1 });
  const batch = fakeSamples(2, model, 5);
  const run = tempDir('numerics');
  const ck = (tag: string) => saveCheckpoint(run, { tag, params: model.ps.params, optimizer: opt, config: cfg, trainState: { step: 1 } });
  await ck('step-000001');

  // Poison one weight of the language model's first block.
  const w = model.blocks[0]!.fc.weight;
  const vals = await w.toArray();
  vals[3] = NaN;
  E.rt().flush();
  E.rt().upload(w.storage.buffer, w.byteOffset, vals);

  const state = freshState();
  const lines: string[] = [];
  let stopped: unknown = null;
  for (let i = 0; i < MAX_BAD_STEPS + 5 && stopped === null; i++) {
    const r = await trainStep(model, opt, batch, 0, FULL_LATENT, false);
    state.step++;
    try {
      assert.ok(checkStepFinite(state, r.loss, r.norm, (l) => lines.push(l)), `step ${state.step} should be bad (loss ${r.loss})`);
    } catch (e) {
      stopped = e;
    }
  }
  assert.instance(stopped, TrainingAborted);
  assert.is(state.step, MAX_BAD_STEPS, `stopped at step ${state.step}`);
  assert.is(lines.length, MAX_BAD_STEPS);
  assert.match((stopped as Error).message, `training diverged: ${MAX_BAD_STEPS} steps with a non-finite loss or gradient norm (last at step ${MAX_BAD_STEPS}); stopped`);

  // The weights hold a NaN: saving is refused, nothing is written, latest still loads.
  try {
    await ck('step-000002');
    assert.unreachable('a checkpoint with a NaN weight was written');
  } catch (e) {
    assert.match((e as Error).message, /checkpoint step-000002 not saved \(latest unchanged\).*refusing to write non-finite values: tensor "[^"]+" \[[\d,]+\] has NaN/);
  }
  assert.is(latestTag(run), 'step-000001');
  assert.not.ok(existsSync(join(run, 'checkpoints', 'step-000002')));
  assert.equal(readdirSync(join(run, 'checkpoints')).filter((n) => n.startsWith('.')), [], 'no temp folder left');
  const loaded = await loadCheckpoint(run, { params: model.ps.params, optimizer: opt });
  assert.is(loaded.tag, 'step-000001');
  assert.ok((await w.toArray()).every(Number.isFinite), 'the loaded weights are the finite ones');
  const r = await trainStep(model, opt, batch, 0, FULL_LATENT, false);
  assert.ok(Number.isFinite(r.loss) && Number.isFinite(r.norm), 'training works again from the last checkpoint');
  opt.destroy();
  model.ps.dispose();
});

test('a run that diverges stops, and metrics.jsonl holds every step, the last marked as the one that stopped it', async () => {
  const dir = tempDir('ivt-diverge');
  const data = join(dir, 'data');
  await writeSynthDataset(data, { train: 8, val: 2, test: 2, seed: 3, startBy: 'cell', queries: ['colour'], wording: 'cell-value' });
  const run = join(dir, 'run');
  // A learning rate of 1e30 without clipping: the first update makes the weights overflow.
  let stopped: unknown = null;
  try {
    await train(tinyRunOptions(data, run, { lr: 1e30, clip: 0, epochsStage0: 20, stages: 1 }));
  } catch (e) {
    stopped = e;
  }
  assert.instance(stopped, TrainingAborted);
  const lines = metricsLines<{ step: number; skipped?: boolean; aborted?: boolean }>(run);
  const last = lines[lines.length - 1]!;
  assert.equal(lines.map((l) => l.step), Array.from({ length: last.step }, (_, i) => i + 1), 'a line for every step, the stopping one included');
  assert.equal([last.skipped, last.aborted], [true, true]);
  assert.is(lines.filter((l) => l.skipped).length, MAX_BAD_STEPS);
  assert.is(lines.filter((l) => l.aborted).length, 1);
});

test.run();
