// Stages measured in optimizer steps (TrainOptions.stepsPerStage / stepsStage0, `ivt train
// --steps N --steps0 N`): a stage ends after its steps, mid-epoch or past an epoch's end, and
// --resume inside such a stage continues exactly.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { writeSynthDataset } from '../../train/data/synth/write.js';
import { stepsOfStage, train, TrainOptions } from '../../train/trainer.js';
import { setup } from '../helpers.js';
import { rejectsUserError, tempDir, tinyRunOptions, metricsLines } from './util.js';

test.before(setup);

const root = tempDir('ivt-stage-steps');
const data = join(root, 'data');
const base = (out: string): TrainOptions => tinyRunOptions(data, out);

interface Line { step: number; stage: number; epoch: number; loss?: number }
const steps = (run: string): Line[] => metricsLines<Line>(run).filter((l) => l.loss !== undefined);

test.before(async () => {
  await writeSynthDataset(data, { train: 12, val: 6, test: 4, seed: 5, startBy: 'cell', queries: ['colour'], wording: 'cell-value' });
});

test('which stages count steps', () => {
  assert.is(stepsOfStage({}, 0), null);
  assert.is(stepsOfStage({ stepsPerStage: 3 }, 0), 3);
  assert.is(stepsOfStage({ stepsPerStage: 3, stepsStage0: 5 }, 0), 5);
  assert.is(stepsOfStage({ stepsPerStage: 3, stepsStage0: 5 }, 2), 3);
  assert.is(stepsOfStage({ stepsStage0: 5 }, 1), null, 'latent stages keep their epochs');
});

test('each stage trains its steps: past an epoch\'s end, or ending mid-epoch; the next stage starts a fresh epoch', async () => {
  const run = join(root, 'steps');
  const r = await train({ ...base(run), stepsStage0: 3, stepsPerStage: 1 });
  const lines = steps(run);
  assert.equal(lines.map((l) => [l.stage, l.epoch]), [[0, 0], [0, 0], [0, 1], [1, 0], [2, 0]]);
  assert.equal(r.trainedEpochs, [2, 1, 1], 'epochs begun by stage');
  // Only stage 0 in steps: the latent stages keep their epochs (1 epoch = 2 steps).
  const mixed = join(root, 'steps0-only');
  await train({ ...base(mixed), stepsStage0: 1 });
  assert.equal(steps(mixed).map((l) => l.stage), [0, 1, 1, 2, 2]);
});

test('--resume inside a stage measured in steps, or right at its last step mid-epoch, continues exactly; with stage mixing too', async () => {
  // Stage 0 (with its captions: 4 steps an epoch): steps 1-3; stage 1: steps 4-6 (its third step
  // starts epoch 1); stage 2: steps 7-9. Mixing draws an earlier stage for some latent batches.
  const opts = (out: string): TrainOptions => ({ ...base(out), stepsPerStage: 3, checkpointEvery: 1, mixStages: 0.5, captions: true });
  const whole = join(root, 'whole');
  await train(opts(whole));
  const strip = (ls: Line[]) => ls.map((l) => ({ step: l.step, stage: l.stage, epoch: l.epoch, loss: l.loss, mixed: (l as { mixed_stage?: number }).mixed_stage }));
  assert.equal(steps(whole).map((l) => l.stage), [0, 0, 0, 1, 1, 1, 2, 2, 2]);
  assert.ok(steps(whole).some((l) => (l as { mixed_stage?: number }).mixed_stage !== undefined), 'some batch mixed');
  for (const stop of [3, 5]) {
    const cut = join(root, `cut-${stop}`);
    await train({ ...opts(cut), stopAfterSteps: stop });
    await train({ ...opts(cut), resume: true });
    assert.equal(strip(steps(cut)), strip(steps(whole)), `stopped after step ${stop}`);
  }
  // Resuming with another schedule would silently train another curriculum: refused.
  await rejectsUserError(() => train({ ...opts(whole), mixStages: 0, resume: true }), '--resume', '--mix-stages 0.5');
  await rejectsUserError(() => train({ ...opts(whole), stepsPerStage: 4, resume: true }), '--resume', '--steps 3');
});

test('steps and epoch-based stage lengths together are refused, and so are bad step counts', async () => {
  await rejectsUserError(() => train({ ...base(join(root, 'bad1')), stepsPerStage: 2, maxEpochsPerStage: 3 }), '--steps', '--max-epochs');
  await rejectsUserError(() => train({ ...base(join(root, 'bad2')), stepsStage0: 2, stageEpochs: [1, 1, 1] }), '--stage-epochs');
  await rejectsUserError(() => train({ ...base(join(root, 'bad3')), stepsPerStage: 0 }), '--steps', 'positive integer');
});

test.run();
