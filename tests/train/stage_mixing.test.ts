// Stage mixing (TrainOptions.mixStages, mixedStage): in a latent stage a share of the batches
// is trained at an earlier stage. The draw itself (share, range, determinism), a run that
// records which batches were mixed, --resume across mixed batches, and bad values.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { writeSynthDataset } from '../../train/data/synth/write.js';
import { mixedStage, train, TrainOptions } from '../../train/trainer.js';
import { probabilityArg } from '../../cli/train_commands.js';
import { setup } from '../helpers.js';
import { rejectsUserError, tempDir, throwsUserError, tinyRunOptions, metricsLines } from './util.js';

test.before(setup);

const root = tempDir('ivt-stage-mixing');
const data = join(root, 'data');
const base = (out: string): TrainOptions => tinyRunOptions(data, out, { epochsPerStage: 3, epochsStage0: 1 });

interface Line { step: number; stage: number; epoch: number; loss?: number; mixed_stage?: number }
const metrics = (run: string): Line[] => metricsLines<Line>(run);

test.before(async () => {
  await writeSynthDataset(data, { train: 12, val: 6, test: 4, seed: 5, startBy: 'cell', queries: ['colour'], wording: 'cell-value' });
});

test('the draw: a share p of the batches at an earlier stage, each earlier stage equally often, the same for the same position', () => {
  for (let b = 0; b < 50; b++) {
    assert.is(mixedStage(0.5, 1, 0, 0, b), 0, 'stage 0 has no earlier stage');
    assert.is(mixedStage(0, 1, 3, 0, b), 3, 'off');
  }
  const n = 6000, p = 0.25;
  const counts = [0, 0, 0, 0];
  for (let i = 0; i < n; i++) counts[mixedStage(p, 7, 3, Math.floor(i / 100), i % 100)]!++;
  const mixed = counts[0]! + counts[1]! + counts[2]!;
  // Binomial standard deviations: about 0.0056 for the share, 0.011 for each stage's part of it.
  assert.ok(Math.abs(mixed / n - p) < 0.025, `share mixed ${mixed / n}`);
  for (let s = 0; s < 3; s++) assert.ok(Math.abs(counts[s]! / mixed - 1 / 3) < 0.05, `stage ${s}: ${counts[s]! / mixed} of the mixed batches`);
  assert.is(mixedStage(p, 7, 3, 4, 17), mixedStage(p, 7, 3, 4, 17));
  const draws = (seed: number) => Array.from({ length: 200 }, (_, b) => mixedStage(p, seed, 2, 0, b)).join('');
  assert.is.not(draws(1), draws(2), 'another seed, other draws');
});

test('a mixed run records each mixed batch and its stage; --resume across them continues exactly', async () => {
  const opts = (out: string): TrainOptions => ({ ...base(out), mixStages: 0.5, checkpointEvery: 1 });
  const whole = join(root, 'whole');
  await train(opts(whole));
  const lines = metrics(whole).filter((l) => l.loss !== undefined);
  assert.is(lines.length, 2 + 6 + 6);
  const mixed = lines.filter((l) => l.mixed_stage !== undefined);
  assert.ok(mixed.length > 0, 'some batches mixed');
  assert.ok(mixed.length < 12, 'not every batch mixed');
  for (const l of mixed) assert.ok(l.stage >= 1 && l.mixed_stage! >= 0 && l.mixed_stage! < l.stage, `step ${l.step}: stage ${l.stage}, mixed ${l.mixed_stage}`);
  // What the log says is what the draw gives for that position.
  for (const l of lines.filter((x) => x.stage > 0)) {
    const batchIndex = (l.step - 1) % 2;
    assert.is(l.mixed_stage ?? l.stage, mixedStage(0.5, 1, l.stage, l.epoch, batchIndex), `step ${l.step}`);
  }

  const cut = join(root, 'cut');
  await train({ ...opts(cut), stopAfterSteps: 7 });
  await train({ ...opts(cut), resume: true });
  const strip = (ls: Line[]) => ls.map((l) => ({ step: l.step, stage: l.stage, epoch: l.epoch, loss: l.loss, mixed_stage: l.mixed_stage }));
  assert.equal(strip(metrics(cut)), strip(metrics(whole)));

  const plain = join(root, 'plain');
  await train(base(plain));
  assert.ok(metrics(plain).every((l) => l.mixed_stage === undefined), 'off by default');
});

test('bad mixing probabilities are refused, naming the option', async () => {
  assert.is(probabilityArg('mix-stages')('0.2'), 0.2);
  assert.is(probabilityArg('mix-stages')('0'), 0);
  for (const bad of ['1', '-0.1', 'x', '']) throwsUserError(() => probabilityArg('mix-stages')(bad), '--mix-stages', 'probability');
  await rejectsUserError(() => train({ ...base(join(root, 'bad')), mixStages: 1 }), 'mixStages', 'probability');
});

test.run();
