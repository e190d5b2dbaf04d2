// The random-selection control for latent vision (LatentOptions.randomVision, `ivt train
// --random-latent-vision`): a run trains and validates in its own mode and records it, and
// --resume refuses to continue it in another latent mode.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { writeSynthDataset } from '../../train/data/synth/write.js';
import { prepareRun, train } from '../../train/trainer.js';
import { FULL_LATENT } from '../../model/ivt.js';
import { setup } from '../helpers.js';
import { metricsLines, rejectsUserError, tempDir, tinyRunOptions } from './util.js';

test.before(setup);

const root = tempDir('ivt-random-vision');
const data = join(root, 'data');

test.before(async () => {
  await writeSynthDataset(data, { train: 12, val: 6, test: 4, seed: 5, startBy: 'cell', queries: ['colour'], wording: 'cell-value' });
});

test('a run with random latent vision validates in that mode, records it, and trains otherwise than attention\'s selection', async () => {
  const latent = { ...FULL_LATENT, randomVision: true };
  const run = join(root, 'random');
  await train(tinyRunOptions(data, run, { latent, evalEachStage: true, maxVal: 6 }));
  const evals = metricsLines<{ eval?: boolean; stage: number; mode: string }>(run).filter((m) => m.eval);
  assert.equal(evals.map((m) => [m.stage, m.mode]), [[0, 'cot'], [1, 'ivt-random-vision'], [2, 'ivt-random-vision']]);
  assert.equal((JSON.parse(readFileSync(join(run, 'options.json'), 'utf8')) as { latent: object }).latent, latent);
  // The same run with attention's selection shares stage 0 (no latent step) and then parts.
  const attended = join(root, 'attended');
  await train(tinyRunOptions(data, attended, { evalEachStage: true, maxVal: 6 }));
  const losses = (r: string, stage: number) => metricsLines<{ stage: number; loss?: number }>(r).filter((m) => m.stage === stage && m.loss !== undefined).map((m) => m.loss);
  assert.equal(losses(run, 0), losses(attended, 0));
  assert.not.equal(losses(run, 2), losses(attended, 2));
  // Resuming in another latent mode would switch what the latent steps insert half-way.
  await rejectsUserError(() => prepareRun(tinyRunOptions(data, run, { resume: true })), '--resume', 'trained with --random-latent-vision, this command is without it');
  await rejectsUserError(() => prepareRun(tinyRunOptions(data, attended, { resume: true, latent: { ...FULL_LATENT, latentVision: false } })), 'trained without --no-latent-vision, this command is with it');
  await prepareRun(tinyRunOptions(data, run, { resume: true, latent }));
});

test.run();
