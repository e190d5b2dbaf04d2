// What `ivt eval` and `ivt infer` run when given no --mode or --latent-steps: what the run's
// weights were trained for (options.json and the checkpoint tag), not a fixed latent mode.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tagLatentSteps, trainedMode } from '../../cli/train_commands.js';
import { preset } from '../../model/config.js';
import { tempDir } from './util.js';

const cfg = preset('tiny', 64);
const root = tempDir('run-defaults');
function runWith(name: string, options: Record<string, unknown> | null): string {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  if (options) writeFileSync(join(dir, 'options.json'), JSON.stringify(options));
  return dir;
}

test('the mode a run trained for', () => {
  const full = { mode: 'ivt', latent: { latentText: true, latentVision: true, detach: false } };
  assert.is(trainedMode(runWith('nocot', { mode: 'nocot', latent: full.latent }), undefined, cfg), 'nocot');
  assert.is(trainedMode(runWith('full', full), undefined, cfg), 'ivt');
  assert.is(trainedMode(runWith('full', full), 'stage-0', cfg), 'cot');
  assert.is(trainedMode(runWith('full', full), 'stage-0-best', cfg), 'cot');
  assert.is(trainedMode(runWith('full', full), 'stage-2', cfg), 'ivt');
  assert.is(trainedMode(runWith('no-text', { ...full, latent: { ...full.latent, latentText: false } }), undefined, cfg), 'ivt-no-text');
  assert.is(trainedMode(runWith('no-vision', { ...full, latent: { ...full.latent, latentVision: false } }), undefined, cfg), 'ivt-no-vision');
  assert.is(trainedMode(runWith('random', { ...full, latent: { ...full.latent, randomVision: true } }), 'latest', cfg), 'ivt-random-vision');
  // No latent stages: the weights write their rationale. No options.json (an older run): the full latent mode.
  assert.is(trainedMode(runWith('full', full), undefined, { ...cfg, latentSteps: 0 }), 'cot');
  assert.is(trainedMode(runWith('bare', null), undefined, cfg), 'ivt');
});

test('latent steps by checkpoint tag', () => {
  assert.is(tagLatentSteps('stage-1', 'ivt', cfg), 1);
  assert.is(tagLatentSteps('stage-2-best', 'ivt-no-vision', cfg), 2);
  // The last stage, other tags and the explicit modes: the model's own count (undefined).
  assert.is(tagLatentSteps('stage-3', 'ivt', cfg), undefined);
  assert.is(tagLatentSteps('latest', 'ivt', cfg), undefined);
  assert.is(tagLatentSteps(undefined, 'ivt', cfg), undefined);
  assert.is(tagLatentSteps('stage-1', 'cot', cfg), undefined);
  assert.is(tagLatentSteps('step-000040', 'ivt', cfg), undefined);
});

test.run();
