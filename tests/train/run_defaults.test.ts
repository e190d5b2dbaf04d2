// What `ivt eval` and `ivt infer` run when given no --mode or --latent-steps: what the loaded
// weights were trained for (the run's options.json, and the stage the checkpoint holds), not a
// fixed latent mode.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultLatentSteps, trainedMode, weightsStage } from '../../cli/train_commands.js';
import { preset } from '../../model/config.js';
import { tempDir } from './util.js';

const cfg = preset('tiny', 64);
const root = tempDir('run-defaults');
const FULL = { latentText: true, latentVision: true, detach: false };
type State = { stage: number; epoch: number; batchIndex: number };
/** A run folder with options.json (unless null) and checkpoints holding only train_state.json; latest names the last. */
function runWith(name: string, options: Record<string, unknown> | null, checkpoints: [string, State][] = []): string {
  const dir = join(root, name);
  mkdirSync(join(dir, 'checkpoints'), { recursive: true });
  if (options) writeFileSync(join(dir, 'options.json'), JSON.stringify(options));
  for (const [tag, st] of checkpoints) {
    mkdirSync(join(dir, 'checkpoints', tag), { recursive: true });
    writeFileSync(join(dir, 'checkpoints', tag, 'train_state.json'), JSON.stringify({ ...st, step: 1, skippedSteps: 0, done: false }));
  }
  if (checkpoints.length) writeFileSync(join(dir, 'checkpoints', 'latest'), checkpoints.at(-1)![0] + '\n');
  return dir;
}

test('which stage a checkpoint holds', () => {
  const run = runWith('stages', { mode: 'ivt', latent: FULL }, [
    ['stage-0', { stage: 1, epoch: 0, batchIndex: 0 }], // written at stage 0's end: the next stage's start
    ['step-000012', { stage: 1, epoch: 0, batchIndex: 3 }], // mid-stage 1
    ['step-000020', { stage: 2, epoch: 1, batchIndex: 0 }], // stage 2, at an epoch boundary
  ]);
  assert.is(weightsStage(run, 'stage-0'), 0);
  assert.is(weightsStage(run, 'stage-2-best'), 2);
  assert.is(weightsStage(run, 'step-000012'), 1);
  assert.is(weightsStage(run, 'step-000020'), 2);
  assert.is(weightsStage(run, undefined), 2, 'latest: step-000020');
  assert.is(weightsStage(run, 'latest'), 2);
  assert.is(weightsStage(run, 'step-999999'), null, 'no such checkpoint');
  // A run killed during stage 0: its latest checkpoint holds stage-0 weights, explicit CoT.
  const early = runWith('early', { mode: 'ivt', latent: FULL }, [['step-000004', { stage: 0, epoch: 0, batchIndex: 4 }]]);
  assert.is(trainedMode(early, undefined, cfg), 'cot');
  assert.is(trainedMode(run, 'step-000012', cfg), 'ivt');
  assert.is(defaultLatentSteps(run, 'step-000012', 'ivt', cfg), 1);
});

test('the mode a run trained for', () => {
  const full = { mode: 'ivt', latent: FULL };
  assert.is(trainedMode(runWith('nocot', { mode: 'nocot', latent: FULL }), undefined, cfg), 'nocot');
  assert.is(trainedMode(runWith('full', full), undefined, cfg), 'ivt');
  assert.is(trainedMode(runWith('full', full), 'stage-0', cfg), 'cot');
  assert.is(trainedMode(runWith('full', full), 'stage-0-best', cfg), 'cot');
  assert.is(trainedMode(runWith('full', full), 'stage-2', cfg), 'ivt');
  assert.is(trainedMode(runWith('no-text', { ...full, latent: { ...FULL, latentText: false } }), undefined, cfg), 'ivt-no-text');
  assert.is(trainedMode(runWith('no-vision', { ...full, latent: { ...FULL, latentVision: false } }), undefined, cfg), 'ivt-no-vision');
  assert.is(trainedMode(runWith('random', { ...full, latent: { ...FULL, randomVision: true } }), 'stage-3', cfg), 'ivt-random-vision');
  // No latent stages: the weights write their rationale. No options.json (an older run): the full latent mode.
  assert.is(trainedMode(runWith('full', full), undefined, { ...cfg, latentSteps: 0 }), 'cot');
  assert.is(trainedMode(runWith('bare', null), undefined, cfg), 'ivt');
});

test('latent steps by the stage the weights hold', () => {
  const run = runWith('tags', { mode: 'ivt', latent: FULL });
  assert.is(defaultLatentSteps(run, 'stage-1', 'ivt', cfg), 1);
  assert.is(defaultLatentSteps(run, 'stage-2-best', 'ivt-no-vision', cfg), 2);
  // The last stage, unknown weights and the explicit modes: the model's own count (undefined).
  assert.is(defaultLatentSteps(run, 'stage-3', 'ivt', cfg), undefined);
  assert.is(defaultLatentSteps(run, undefined, 'ivt', cfg), undefined);
  assert.is(defaultLatentSteps(run, 'stage-1', 'cot', cfg), undefined);
});

test.run();
