// Stages that run past their epochs while validation says they are still learning
// (TrainOptions.maxEpochsPerStage / maxEpochsStage0, extendStage): the rule itself, a run that
// extends every stage it may and one that extends none, and --resume inside an extended epoch.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeSynthDataset } from '../../train/data/synth/write.js';
import { BEST_STAGE0_TAG, extendStage, referenceAfterStage, train, TrainOptions } from '../../train/trainer.js';
import { intListArg } from '../../cli/train_commands.js';
import { setup } from '../helpers.js';
import { rt } from '../../engine/tensor.js';
import { tempDir, throwsUserError, tinyRunOptions, metricsLines } from './util.js';

test.before(setup);

const root = tempDir('ivt-stage-extension');
const data = join(root, 'data');
const base = (out: string): TrainOptions => tinyRunOptions(data, out, { epochsStage0: 2 });

interface Line { step: number; stage: number; epoch: number; loss?: number; gate?: boolean; extend?: boolean; accuracy?: number }
const metrics = (run: string): Line[] => metricsLines<Line>(run);
const stepsByStage = (lines: Line[]) => lines.filter((l) => l.loss !== undefined).reduce<number[]>((a, l) => { a[l.stage] = (a[l.stage] ?? 0) + 1; return a; }, []);

test.before(async () => {
  await writeSynthDataset(data, { train: 12, val: 6, test: 4, seed: 5, startBy: 'cell', queries: ['colour'], wording: 'cell-value' });
});

test('the rule: stage 0 goes on until its best is `patience` epochs old, a latent stage while it is below the stage before, never past the most epochs', () => {
  const r = { tolerance: 5, patience: 2 };
  assert.ok(extendStage({ ...r, stage: 0, epoch: 9, maxEpochs: 18, accuracy: 50, bestEpoch: 9 }), 'a new best');
  assert.ok(extendStage({ ...r, stage: 0, epoch: 9, maxEpochs: 18, accuracy: 78, bestEpoch: 8 }), 'one epoch without a new best');
  assert.not.ok(extendStage({ ...r, stage: 0, epoch: 9, maxEpochs: 18, accuracy: 78, bestEpoch: 7 }), 'two epochs without a new best');
  assert.not.ok(extendStage({ ...r, stage: 0, epoch: 9, maxEpochs: 18, accuracy: 50 }), 'no best yet: nothing to compare');
  assert.not.ok(extendStage({ ...r, stage: 0, epoch: 18, maxEpochs: 18, accuracy: 90, bestEpoch: 18 }), 'at the most epochs');
  assert.ok(extendStage({ ...r, stage: 2, epoch: 2, maxEpochs: 8, accuracy: 57.5, referenceAccuracy: 100 }));
  assert.not.ok(extendStage({ ...r, stage: 2, epoch: 2, maxEpochs: 8, accuracy: 95, referenceAccuracy: 100 }), 'within the tolerance');
  assert.not.ok(extendStage({ ...r, stage: 2, epoch: 2, maxEpochs: 8, accuracy: 100, referenceAccuracy: 90 }));
  assert.not.ok(extendStage({ ...r, stage: 2, epoch: 8, maxEpochs: 8, accuracy: 25, referenceAccuracy: 100 }), 'at the most epochs');
  assert.not.ok(extendStage({ ...r, stage: 1, epoch: 2, maxEpochs: 8, accuracy: 25 }), 'no reference: nothing to compare');
});

test('a latent stage is held to the best stage before it, so shortfalls within the tolerance cannot add up', () => {
  const r = { tolerance: 1, patience: 2, stage: 3, epoch: 2, maxEpochs: 8 };
  // Stages 0, 1, 2 at 100, 99, 98: each within a point of the one before, but stage 2 is 2 below the best.
  let ref = referenceAfterStage(undefined, 100);
  ref = referenceAfterStage(ref, 99);
  assert.is(ref, 100, 'a lower stage does not lower the reference');
  ref = referenceAfterStage(ref, 98);
  assert.is(ref, 100);
  assert.ok(extendStage({ ...r, accuracy: 98, referenceAccuracy: ref }), '2 points below the best stage: one more epoch');
  assert.not.ok(extendStage({ ...r, accuracy: 99, referenceAccuracy: ref }), 'within a point of it');
  assert.is(referenceAfterStage(95, 97), 97, 'a better stage raises it');
  assert.is(referenceAfterStage(undefined, 97), 97, 'the first measurement');
});

test('the trainer carries the best stage before across stages, and a checkpoint naming the old field resumes with it', async () => {
  // Never extended (tolerance 101), but every latent stage is checked. Stop at the first step of
  // stage 2, so that --resume starts from the stage-1 checkpoint, whose reference is replaced by
  // the old field holding 99.5%: a figure 6 validation problems cannot give, which survives to
  // the end only if each stage's accuracy is added as a maximum, not substituted.
  const run = join(root, 'legacy');
  const opts: TrainOptions = { ...base(run), maxEpochsPerStage: 2, extendTolerance: 101 };
  await train({ ...opts, stopAfterSteps: 7 });
  const statePath = join(run, 'checkpoints', 'stage-1', 'train_state.json');
  const saved = JSON.parse(readFileSync(statePath, 'utf8')) as Record<string, unknown>;
  assert.is(saved.stage, 2);
  assert.is(saved.referenceStage, 1);
  const gates0 = metrics(run).filter((l) => l.gate);
  assert.equal(gates0.map((g) => [g.stage, g.epoch]), [[0, 0], [1, 1]], 'stage 0 measured on stage 1\'s starting weights (it had no check of its own), then stage 1');
  assert.is(saved.referenceAccuracy, Math.max(100 * gates0[0]!.accuracy!, 100 * gates0[1]!.accuracy!), 'the best of stages 0 and 1');
  delete saved.referenceAccuracy;
  delete saved.referenceStage;
  writeFileSync(statePath, JSON.stringify({ ...saved, previousStageAccuracy: 99.5 }));
  const r = await train({ ...opts, resume: true });
  const gates = metrics(run).filter((l) => l.gate).slice(gates0.length);
  assert.equal(gates.map((g) => [g.stage, g.epoch]), [[2, 1]], 'no new measurement of stage 1: the old field is the reference');
  assert.ok(gates[0]!.accuracy! < 0.995, `stage 2's accuracy ${gates[0]!.accuracy} must stay below the planted reference for this test to tell`);
  assert.is(r.state.referenceAccuracy, 99.5);
  assert.is(r.state.referenceStage, 2);
});

test('a run whose rule always says "more" trains every stage its most epochs; one whose rule never does, its own', async () => {
  // A tolerance of -101 points asks a latent stage to beat the stage before by more than 100
  // points, and with a minimum gain of -101 every epoch is stage 0's new best: both always
  // extend. With +101 nothing after the first check is a new best, and nothing is below by 101.
  const always = join(root, 'always');
  const a = await train({ ...base(always), maxEpochsStage0: 4, maxEpochsPerStage: 3, extendTolerance: -101, extendMinGain: -101 });
  assert.equal(a.trainedEpochs, [4, 3, 3]);
  const lines = metrics(always);
  assert.equal(stepsByStage(lines), [8, 6, 6], 'optimizer steps by stage');
  const gates = lines.filter((l) => l.gate);
  // Stage 0: the 2 epochs of patience before its own end (epoch 0: the starting weights), then
  // each end; latent stages: each end.
  assert.equal(gates.map((g) => [g.stage, g.epoch, g.extend ?? null]), [[0, 0, null], [0, 1, null], [0, 2, true], [0, 3, true], [0, 4, false], [1, 1, true], [1, 2, true], [1, 3, false], [2, 1, true], [2, 2, true], [2, 3, false]]);
  for (const g of gates) assert.ok(g.accuracy! >= 0 && g.accuracy! <= 1, `accuracy ${g.accuracy}`);
  // Each check is recorded at the step that ended its epoch.
  assert.equal(gates.map((g) => g.step), [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20]);

  const never = join(root, 'never');
  const n = await train({ ...base(never), maxEpochsStage0: 4, maxEpochsPerStage: 3, extendTolerance: 101, extendMinGain: 101 });
  assert.equal(n.trainedEpochs, [2, 1, 1]);
  const nl = metrics(never);
  assert.equal(stepsByStage(nl), [4, 2, 2]);
  // Its best was the starting weights (nothing after beat them by 101 points): stage 0 ends with
  // them, restored from the snapshot kept aside, which `latest` never names.
  const restored = nl.filter((l) => (l as { restored?: boolean }).restored);
  assert.equal(restored.map((l) => [l.stage, l.epoch, l.step]), [[0, 0, 4]]);
  const weights = (tag: string) => readFileSync(join(never, 'checkpoints', tag, 'model.safetensors'));
  assert.ok(weights('stage-0').equals(weights(BEST_STAGE0_TAG)), 'stage 0 ends with the best weights');
  assert.not.ok(weights('stage-0').equals(weights('stage-1')));
  assert.is(readFileSync(join(never, 'checkpoints', 'latest'), 'utf8').trim(), 'stage-2');

  // Without the options nothing is evaluated; explicit epochs per stage are followed.
  const fixed = join(root, 'fixed');
  const f = await train({ ...base(fixed), stageEpochs: [1, 2, 1] });
  assert.equal(f.trainedEpochs, [1, 2, 1]);
  const fl = metrics(fixed);
  assert.equal(stepsByStage(fl), [2, 4, 2]);
  assert.ok(fl.every((l) => !l.gate));
});

test('--resume inside an extended epoch continues exactly: the same losses, checks, stage lengths and progress totals', async () => {
  // Progress lines at every step: their "step n/total" must count the extensions granted before
  // the checkpoint, as the uninterrupted run counted them.
  const logs = new Map<string, string[]>();
  const opts = (out: string): TrainOptions => ({ ...base(out), maxEpochsPerStage: 3, extendTolerance: -101, checkpointEvery: 1, logEvery: 1, log: (l) => { if (!logs.has(out)) logs.set(out, []); logs.get(out)!.push(l); } });
  const whole = join(root, 'whole');
  const w = await train(opts(whole));
  const cut = join(root, 'cut');
  // Stage 0: steps 1-4; stage 1: 5-10 (epoch 2, extended, is steps 7-8). Stop after step 7.
  await train({ ...opts(cut), stopAfterSteps: 7 });
  logs.delete(cut);
  const c = await train({ ...opts(cut), resume: true });
  assert.equal(c.trainedEpochs, w.trainedEpochs);
  assert.equal(w.trainedEpochs, [2, 3, 3]);
  const strip = (lines: Line[]) => lines.map((l) => ({ step: l.step, stage: l.stage, epoch: l.epoch, loss: l.loss, gate: l.gate, extend: l.extend, accuracy: l.accuracy }));
  assert.equal(strip(metrics(cut)), strip(metrics(whole)));
  const totals = (run: string) => new Map(logs.get(run)!.flatMap((l) => { const m = / step (\d+)\/(\d+) /.exec(l); return m ? [[Number(m[1]), Number(m[2])] as const] : []; }));
  const whole_ = totals(whole), resumed = totals(cut);
  assert.equal([...resumed.keys()], [8, 9, 10, 11, 12, 13, 14, 15, 16], 'the resumed run reports each of its steps');
  for (const [step, total] of resumed) assert.is(total, whole_.get(step), `step ${step}: total ${total} against the uninterrupted run's ${whole_.get(step)}`);
});

test('--resume from a stage end, where the next stage measures its reference first: that check is logged once', async () => {
  // Without validation at stage ends, stage 1's reference (stage 0's weights) is measured when
  // stage 1 starts, after stage 0's checkpoint, which therefore does not hold it: a run resumed
  // from that checkpoint measures it again, and the line must not be there twice.
  const opts = (out: string): TrainOptions => ({ ...base(out), stages: 1, maxEpochsPerStage: 2, extendTolerance: -101, evalEachStage: false });
  const whole = join(root, 'ref-whole');
  await train(opts(whole));
  const cut = join(root, 'ref-cut');
  // Stage 0: steps 1-4, its checkpoint, the reference check at step 4; stop after step 5.
  await train({ ...opts(cut), stopAfterSteps: 5 });
  assert.is(readFileSync(join(cut, 'checkpoints', 'latest'), 'utf8').trim(), 'stage-0');
  await train({ ...opts(cut), resume: true });
  const gates = (run: string) => metrics(run).filter((l) => l.gate).map((l) => [l.step, l.stage, l.epoch, l.accuracy, (l as { reference?: boolean }).reference ?? false]);
  assert.equal(gates(whole)[0], [4, 0, 0, gates(whole)[0]![3], true], 'the reference check, tagged');
  assert.equal(gates(cut), gates(whole));
});

test('a run resumed at the last step of a latent stage writes the stage\'s learning rate into its optimizer file, as the whole run does', async () => {
  // The step checkpoint after stage 1's last update holds the latent rate; the resumed run
  // reaches the stage end with no update of its own and must not fall back to the stage-0 rate.
  const opts = (out: string): TrainOptions => ({ ...base(out), stages: 1, lr: 0.002, latentLr: 0.0005, checkpointEvery: 1 });
  const whole = join(root, 'lr-whole');
  await train(opts(whole));
  const cut = join(root, 'lr-cut');
  await train({ ...opts(cut), stopAfterSteps: 6 });
  await train({ ...opts(cut), resume: true });
  const optim = (run: string) => readFileSync(join(run, 'checkpoints', 'stage-1', 'optimizer.safetensors'));
  assert.match(optim(whole).toString('latin1', 0, 2000), '"lr":"0.0005"');
  assert.ok(optim(cut).equals(optim(whole)), 'the same optimizer file, metadata included');
});

test('a run stopped after some steps frees its optimizer: a second such run leaves no more memory in use than the first', async () => {
  const inUse = async () => { await rt().sync(); return rt().stats().pool.inUseBytes; };
  await train({ ...base(join(root, 'stopped-1')), stopAfterSteps: 1 });
  const first = await inUse();
  await train({ ...base(join(root, 'stopped-2')), stopAfterSteps: 1 });
  assert.is(await inUse(), first, 'the second run\'s arenas were returned');
});

test('a run that starts in a folder removes checkpoints a killed run left there (a stage\'s best weights kept aside)', async () => {
  const run = join(root, 'stale-best');
  const stale = join(run, 'checkpoints', 'stage-1-best');
  mkdirSync(stale, { recursive: true });
  writeFileSync(join(stale, 'model.safetensors'), 'from another run');
  await train({ ...base(run), stages: 1 });
  assert.not.ok(existsSync(stale), 'the stale snapshot is gone');
  assert.is(readFileSync(join(run, 'checkpoints', 'latest'), 'utf8').trim(), 'stage-1');
});

test('--resume inside stage 0 past its best: the same checks, and it ends with the same best weights, read back from disk', async () => {
  // A minimum gain of 101 points: the starting weights stay the best, stage 0 stops after its
  // 2 epochs and restores them (epoch 0). The cut falls after the snapshot was written.
  const opts = (out: string): TrainOptions => ({ ...base(out), stages: 1, maxEpochsStage0: 4, extendMinGain: 101, checkpointEvery: 1 });
  const whole = join(root, 'whole0');
  await train(opts(whole));
  const cut = join(root, 'cut0');
  await train({ ...opts(cut), stopAfterSteps: 3 });
  await train({ ...opts(cut), resume: true });
  const strip = (lines: Line[]) => lines.map((l) => ({ step: l.step, stage: l.stage, epoch: l.epoch, loss: l.loss, gate: l.gate, extend: l.extend, accuracy: l.accuracy }));
  assert.equal(strip(metrics(cut)), strip(metrics(whole)));
  const weights = (run: string, tag: string) => readFileSync(join(run, 'checkpoints', tag, 'model.safetensors'));
  for (const tag of ['stage-0', 'stage-1']) assert.ok(weights(cut, tag).equals(weights(whole, tag)), `${tag} weights`);
  assert.ok(weights(cut, 'stage-0').equals(weights(cut, BEST_STAGE0_TAG)));
});

test('a latent stage that runs out of epochs below its best ends with its best weights, read back after --resume', async () => {
  // Always extended (tolerance -101) up to 3 epochs; nothing after the first check is a new best
  // (minimum gain 101). Stop inside stage 1's second epoch, after the first check kept its
  // weights aside, and plant a better figure for that check in the checkpoint, so that the last
  // epoch (the tiny model's accuracy here is 0) falls below it whatever the weights do.
  const run = join(root, 'latent-best');
  const opts: TrainOptions = { ...base(run), stages: 1, maxEpochsPerStage: 3, extendTolerance: -101, extendMinGain: 101, checkpointEvery: 1 };
  // Stage 0: steps 1-4; stage 1: steps 5-10, its first check after step 6.
  await train({ ...opts, stopAfterSteps: 7 });
  const latest = readFileSync(join(run, 'checkpoints', 'latest'), 'utf8').trim();
  assert.is(latest, 'step-000007');
  const statePath = join(run, 'checkpoints', latest, 'train_state.json');
  const saved = JSON.parse(readFileSync(statePath, 'utf8')) as Record<string, unknown>;
  assert.equal([saved.stage, saved.bestEpoch], [1, 1], 'the first check is the stage\'s best so far');
  writeFileSync(statePath, JSON.stringify({ ...saved, bestAccuracy: 100 }));
  const r = await train({ ...opts, resume: true });
  assert.equal(r.trainedEpochs, [2, 3]);
  const restored = metrics(run).filter((l) => (l as { restored?: boolean }).restored);
  assert.equal(restored.map((l) => [l.stage, l.epoch, l.step]), [[1, 1, 10]]);
  const weights = (tag: string) => readFileSync(join(run, 'checkpoints', tag, 'model.safetensors'));
  assert.ok(weights('stage-1').equals(weights('stage-1-best')), 'stage 1 ends with the weights of its best check');
  assert.not.ok(weights('stage-1').equals(weights('step-000010')), 'not with its last step\'s');
  assert.is(r.state.referenceAccuracy, 100, 'the restored stage\'s best is what a next stage would compare with');

  // The same with a first check planted at 0%: the last check is not lower, so the stage keeps
  // its last weights, although its best check is older (unlike stage 0, which would restore).
  const keep = join(root, 'latent-keep');
  await train({ ...opts, out: keep, stopAfterSteps: 7 });
  const keepState = join(keep, 'checkpoints', 'step-000007', 'train_state.json');
  writeFileSync(keepState, JSON.stringify({ ...(JSON.parse(readFileSync(keepState, 'utf8')) as Record<string, unknown>), bestAccuracy: 0 }));
  await train({ ...opts, out: keep, resume: true });
  assert.not.ok(metrics(keep).some((l) => (l as { restored?: boolean }).restored), 'nothing restored');
  const keepWeights = (tag: string) => readFileSync(join(keep, 'checkpoints', tag, 'model.safetensors'));
  assert.ok(keepWeights('stage-1').equals(keepWeights('step-000010')), 'stage 1 ends with its last step\'s weights');
});

test('a best snapshot an interrupted run wrote after the checkpoint resumed from is not restored', async () => {
  // As above (stop inside stage 1's second epoch, a first check planted at 100%), but the
  // snapshot on disk is then made the one a killed continuation would leave: its best kept at a
  // later check. The resumed run must not end stage 1 with those weights.
  const run = join(root, 'foreign-best');
  const opts: TrainOptions = { ...base(run), stages: 1, maxEpochsPerStage: 3, extendTolerance: -101, extendMinGain: 101, checkpointEvery: 1 };
  await train({ ...opts, stopAfterSteps: 7 });
  const statePath = join(run, 'checkpoints', 'step-000007', 'train_state.json');
  const saved = JSON.parse(readFileSync(statePath, 'utf8')) as Record<string, unknown>;
  assert.equal([saved.bestEpoch, saved.bestStep], [1, 6], 'the state names the snapshot by its epoch and step');
  writeFileSync(statePath, JSON.stringify({ ...saved, bestAccuracy: 100 }));
  const keptPath = join(run, 'checkpoints', 'stage-1-best', 'train_state.json');
  const kept = JSON.parse(readFileSync(keptPath, 'utf8')) as Record<string, unknown>;
  writeFileSync(keptPath, JSON.stringify({ ...kept, epoch: 2, step: 8, bestEpoch: 2, bestStep: 8 }));
  const logged: string[] = [];
  await train({ ...opts, resume: true, log: (s) => logged.push(s) });
  const lines = metrics(run).filter((l) => (l as { restored?: boolean }).restored !== undefined) as (Line & { restored: boolean; reason?: string })[];
  assert.equal(lines.map((l) => [l.stage, l.epoch, l.restored]), [[1, 1, false]]);
  assert.match(lines[0]!.reason!, /stage-1-best holds the best of epoch 2 kept at step 8/);
  assert.ok(logged.some((s) => /stage 1: its best weights \(epoch 1\) are not on disk/.test(s)), logged.join('\n'));
  const weights = (tag: string) => readFileSync(join(run, 'checkpoints', tag, 'model.safetensors'));
  assert.ok(weights('stage-1').equals(weights('step-000010')), 'stage 1 ends with its last step\'s weights');
  assert.not.ok(existsSync(join(run, 'checkpoints', 'stage-1-best')), 'the foreign snapshot is removed');
});

test('--stage-epochs takes a list of positive integers', () => {
  assert.equal(intListArg('stage-epochs')('9, 2,4,2'), [9, 2, 4, 2]);
  throwsUserError(() => intListArg('stage-epochs')('9,0'), '--stage-epochs', 'positive integers', '"9,0"');
  throwsUserError(() => intListArg('stage-epochs')('9,two'), '--stage-epochs');
});

test.run();
