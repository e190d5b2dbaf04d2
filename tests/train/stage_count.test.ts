// Curricula of other lengths than three latent stages (the paper's stage-wise ablation): the
// rationale is cut into as many steps as there are latent stages, so the last stage has every
// step latent; a run branching off another run's stage 0 trains its own number of stages.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeSynthDataset } from '../../train/data/synth/write.js';
import { splitSentences } from '../../train/data/steps.js';
import { prepareRun, reasoningSteps, train, TrainOptions } from '../../train/trainer.js';
import { FULL_LATENT } from '../../model/ivt.js';
import { setup } from '../helpers.js';
import { rejectsUserError, tempDir } from './util.js';

test.before(setup);

const root = tempDir('ivt-stage-count');
const data = join(root, 'data');
const base = (out: string, stages: number): TrainOptions => ({
  data, out, preset: 'tiny', stages, epochsPerStage: 1, batch: 4, lr: 3e-3, weightDecay: 0.01, clip: 1, resetOptimizer: true, seed: 1,
  checkpointEvery: 0, resume: false, mode: 'ivt', latent: FULL_LATENT, evalEachStage: false, logEvery: 1000, maxTrain: 8, log: () => {},
});

test.before(async () => {
  // Cell-value wording: a sentence per move and one naming the value, 3 sentences here.
  await writeSynthDataset(data, { train: 12, val: 4, test: 4, seed: 5, startBy: 'cell', queries: ['colour'], wording: 'cell-value' });
});

test('the rationale is merged into as many steps as latent stages', async () => {
  const three = (await prepareRun(base(join(root, 'x3'), 3))).train;
  for (const r of three) assert.is(r.steps.length, 3, r.steps.join(' | '));
  for (const n of [1, 2]) {
    const recs = (await prepareRun(base(join(root, `x${n}`), n))).train;
    recs.forEach((r, i) => {
      assert.is(r.steps.length, n);
      // The same sentences in the same order, consecutive ones joined (the remainder goes to the first steps).
      assert.is(r.steps.join(' '), three[i]!.steps.join(' '));
      assert.equal(r.steps.map((s) => splitSentences(s).length), n === 1 ? [3] : [2, 1]);
    });
  }
  // Answer-only training and stage 0 alone keep the loader's default.
  assert.is(reasoningSteps({ mode: 'nocot', stages: 0 }), undefined);
  assert.is(reasoningSteps({ mode: 'ivt', stages: 0 }), undefined);
  assert.is(reasoningSteps({ mode: 'ivt', stages: 2 }), 2);
});

test('a run branching off stage 0 trains its own number of latent stages; resume keeps it', async () => {
  const stage0 = join(root, 'stage0');
  await train({ ...base(stage0, 3), stages: 0 });
  // stage0 was made with stages 0: its config has no latent steps; the branch sets its own.
  const branch = join(root, 'branch-1');
  const r = await train({ ...base(branch, 1), initFrom: stage0, initTag: 'stage-0', startStage: 1 });
  assert.ok(r.state.done);
  const cfg = JSON.parse(readFileSync(join(branch, 'config.json'), 'utf8')) as { latentSteps: number };
  assert.is(cfg.latentSteps, 1);
  const stages = readFileSync(join(branch, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { stage: number }).stage);
  assert.ok(stages.length > 0 && stages.every((s) => s === 1), `stages trained: ${[...new Set(stages)].join(', ')}`);
  // More latent steps than the image has room for is refused before anything is written.
  await rejectsUserError(() => prepareRun({ ...base(join(root, 'branch-9'), 9), initFrom: stage0 }), `--init-from ${stage0} --stages 9`, 'exceed the 16 image tokens');
  // Resuming a run with another number of stages would cut the rationales differently.
  await rejectsUserError(() => prepareRun({ ...base(branch, 2), resume: true }), '--resume with --stages 2', 'trains 1 latent stages');
});

test('--top-k: a fresh run and a branch off stage 0 select their own k; too many for the image, or another k on resume, is refused', async () => {
  const fresh = await prepareRun({ ...base(join(root, 'k2'), 3), topK: 2 });
  assert.is(fresh.cfg.topK, 2);
  assert.is((await prepareRun(base(join(root, 'k-default'), 3))).cfg.topK, 4, 'the tiny preset\'s k');
  const stage0 = join(root, 'stage0');
  const branch = join(root, 'branch-k1');
  await train({ ...base(branch, 2), initFrom: stage0, initTag: 'stage-0', startStage: 1, topK: 1 });
  const cfg = JSON.parse(readFileSync(join(branch, 'config.json'), 'utf8')) as { latentSteps: number; topK: number };
  assert.equal([cfg.latentSteps, cfg.topK], [2, 1]);
  // Three steps of six would need 18 of the 16 image tokens.
  await rejectsUserError(() => prepareRun({ ...base(join(root, 'k6'), 3), topK: 6 }), '--top-k 6', 'exceed the 16 image tokens');
  await rejectsUserError(() => prepareRun({ ...base(join(root, 'k6b'), 3), initFrom: stage0, topK: 6 }), `--init-from ${stage0} --stages 3 --top-k 6`, 'exceed the 16 image tokens');
  await rejectsUserError(() => prepareRun({ ...base(branch, 2), resume: true, topK: 3 }), '--resume with --top-k 3', 'selects 1 image embeddings per latent step');
  // The same k (or none given) resumes.
  assert.is((await prepareRun({ ...base(branch, 2), resume: true, topK: 1 })).cfg.topK, 1);
  assert.is((await prepareRun({ ...base(branch, 2), resume: true })).cfg.topK, 1);
});

test.run();
