// Settle epochs (TrainOptions.settleEpochs / settleLr): each latent stage ends with that many
// epochs at a lower rate, after the epochs it was given or the validation rule decided, then is
// validated once more; --resume inside them continues exactly.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { writeSynthDataset } from '../../train/data/synth/write.js';
import { SETTLE_LR_FRACTION, train, TrainOptions } from '../../train/trainer.js';
import { setup } from '../helpers.js';
import { rejectsUserError, tempDir, tinyRunOptions, metricsLines } from './util.js';

test.before(setup);

const root = tempDir('ivt-settle');
const data = join(root, 'data');
// 8 training problems in batches of 4: two steps an epoch.
const base = (out: string, over: Partial<TrainOptions> = {}): TrainOptions => tinyRunOptions(data, out, { epochsStage0: 2, lr: 0.002, latentLr: 0.0008, ...over });

interface Line { step: number; stage: number; epoch: number; lr?: number; loss?: number; gate?: boolean; extend?: boolean; settled?: boolean; accuracy?: number }
const metrics = (run: string): Line[] => metricsLines<Line>(run);
const steps = (run: string) => metrics(run).filter((l) => l.loss !== undefined);

test.before(async () => {
  await writeSynthDataset(data, { train: 12, val: 6, test: 4, seed: 5, startBy: 'cell', queries: ['colour'], wording: 'cell-value' });
});

test('fixed epochs: each latent stage trains its epochs at the latent rate, then the settle epochs at the settle rate', async () => {
  const run = join(root, 'fixed');
  const r = await train(base(run, { stageEpochs: [2, 1, 2], settleEpochs: 2 }));
  assert.equal(r.trainedEpochs, [2, 1, 2], 'the epochs at the stage\'s own rate (what a replay gives as --stage-epochs)');
  const lines = steps(run);
  const settle = 0.0008 * SETTLE_LR_FRACTION;
  // Stage 0: 4 steps; stage 1: 2 at the latent rate, 4 settling; stage 2: 4, then 4 settling.
  assert.equal(lines.map((l) => [l.stage, l.epoch, l.lr]), [
    [0, 0, 0.002], [0, 0, 0.002], [0, 1, 0.002], [0, 1, 0.002],
    [1, 0, 0.0008], [1, 0, 0.0008], [1, 1, settle], [1, 1, settle], [1, 2, settle], [1, 2, settle],
    [2, 0, 0.0008], [2, 0, 0.0008], [2, 1, 0.0008], [2, 1, 0.0008], [2, 2, settle], [2, 2, settle], [2, 3, settle], [2, 3, settle],
  ]);
  assert.equal(lines.map((l) => l.step), Array.from({ length: 18 }, (_, i) => i + 1));
});

test('with the validation rule: the stage decides its epochs, settles from there, and is checked once more (the check the next stage is held to)', async () => {
  const run = join(root, 'rule');
  // A tolerance of -101 extends every latent stage to its most epochs (3); --settle-lr given.
  const r = await train(base(run, { maxEpochsPerStage: 3, extendTolerance: -101, settleEpochs: 1, settleLr: 0.0001 }));
  assert.equal(r.trainedEpochs, [2, 3, 3]);
  // (Restores, which these few validation problems could call for on another adapter, left out.)
  const gates = metrics(run).filter((l) => l.gate && (l as { restored?: boolean }).restored === undefined).map((g) => [g.stage, g.epoch, g.extend ?? null, g.settled ?? false, g.step]);
  assert.equal(gates, [
    [0, 0, null, false, 4], // stage 1's reference, measured on stage 0's weights
    [1, 1, true, false, 6], [1, 2, true, false, 8], [1, 3, false, false, 10], [1, 4, null, true, 12],
    [2, 1, true, false, 14], [2, 2, true, false, 16], [2, 3, false, false, 18], [2, 4, null, true, 20],
  ]);
  // The reference is the best of stage 0's check and the stages' settled checks, not of the checks before settling.
  const checks = metrics(run).filter((l) => l.gate && (l.settled || (l as { reference?: boolean }).reference));
  assert.is(checks.length, 3);
  assert.is(r.state.referenceAccuracy, Math.max(...checks.map((l) => 100 * l.accuracy!)));
  assert.equal(steps(run).filter((l) => l.lr === 0.0001).map((l) => [l.stage, l.epoch]), [[1, 3], [1, 3], [2, 3], [2, 3]]);
});

test('--resume inside the settle epochs continues exactly: the same losses, rates and checks', async () => {
  const opts = (out: string): TrainOptions => base(out, { maxEpochsPerStage: 2, extendTolerance: -101, settleEpochs: 2, checkpointEvery: 1 });
  const whole = join(root, 'whole');
  await train(opts(whole));
  const cut = join(root, 'cut');
  // Stage 0: steps 1-4; stage 1: 5-8 at its own rate, 9-12 settling. Stop after step 10.
  await train({ ...opts(cut), stopAfterSteps: 10 });
  await train({ ...opts(cut), resume: true });
  // And from the step whose checkpoint is the last before the settle epochs begin (step 8).
  const edge = join(root, 'edge');
  await train({ ...opts(edge), stopAfterSteps: 8 });
  await train({ ...opts(edge), resume: true });
  const strip = (lines: Line[]) => lines.map((l) => ({ step: l.step, stage: l.stage, epoch: l.epoch, lr: l.lr, loss: l.loss, gate: l.gate, extend: l.extend, settled: l.settled, accuracy: l.accuracy }));
  assert.equal(strip(metrics(cut)), strip(metrics(whole)));
  assert.equal(strip(metrics(edge)), strip(metrics(whole)));
  // Resuming with other settle epochs would make it another curriculum half-way through.
  await rejectsUserError(() => train({ ...opts(cut), settleEpochs: 1, resume: true }), /--settle-epochs/);
  await rejectsUserError(() => train({ ...opts(cut), settleLr: 0.0001, resume: true }), /--settle-lr/);
  // The default rate given explicitly is the same schedule: accepted (the run is finished, nothing trains).
  await train({ ...opts(cut), settleLr: 0.0008 * SETTLE_LR_FRACTION, resume: true });
});

test('settle epochs are epochs: not with stages measured in optimizer steps', async () => {
  await rejectsUserError(() => train(base(join(root, 'steps'), { stepsPerStage: 3, settleEpochs: 1 })), /--settle-epochs.*--steps/);
});

test.run();
