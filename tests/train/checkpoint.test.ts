// Run checkpoints on the GPU: save/perturb/load restores weights and AdamW state exactly (and
// the next step matches the uninterrupted run), mismatches are refused before anything is
// uploaded, `latest` only ever names a complete checkpoint (failed saves and simulated crashes),
// and pruning keeps stage checkpoints and the one `latest` names.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as E from '../../engine/index.js';
import { readSafetensors } from '../../engine/safetensors.js';
import { InitRng, ParamSet } from '../../model/nn.js';
import { latestTag, listCheckpoints, loadCheckpoint, saveCheckpoint } from '../../train/checkpoint.js';
import { gpu, randn, setup } from '../helpers.js';

test.before(setup);
const root = mkdtempSync(join(tmpdir(), 'ckpt-test-'));
test.after(async () => {
  rmSync(root, { recursive: true, force: true });
  await E.shutdownEngine();
});
let runs = 0;
const newRun = () => join(root, `run${runs++}`);

/** A pid that is certainly not running: a child that has exited. */
const deadPid = () => spawnSync(process.execPath, ['-e', '0']).pid!;

const SHAPES: Record<string, number[]> = { 'embed.weight': [11, 6], 'blocks.0.ln.weight': [6], 'blocks.0.attn.bias': [5], 'head.weight': [3, 6] };

function model(shapes = SHAPES, seed = 7): { ps: ParamSet; opt: E.AdamW } {
  const ps = new ParamSet(new InitRng(seed));
  for (const [name, shape] of Object.entries(shapes)) ps.add(name, shape, name.endsWith('ln.weight') ? 'ones' : 'normal', 0.5);
  const opt = new E.AdamW(ps.list(), { lr: 0.05, weightDecay: 0.1, maxGradNorm: 1 });
  return { ps, opt };
}

/** One optimizer step with the given per-parameter gradients (sum(p * g) has gradient g). */
function step(ps: ParamSet, opt: E.AdamW, grads: Map<string, Float64Array>): void {
  E.tidy(() => {
    opt.zeroGrad();
    let loss: E.Tensor | null = null;
    for (const [name, p] of ps.params) {
      const term = E.sumAll(E.mul(p, gpu(grads.get(name)!, [...p.shape])));
      loss = loss ? E.add(loss, term) : term;
    }
    E.backward(loss!);
    opt.update();
  });
}
const randGrads = (ps: ParamSet) => new Map([...ps.params].map(([n, p]) => [n, randn(p.size)]));

async function values(ps: ParamSet): Promise<Map<string, number[]>> {
  const out = new Map<string, number[]>();
  for (const [n, p] of ps.params) out.set(n, [...(await p.toArray())]);
  return out;
}
async function moments(ps: ParamSet, opt: E.AdamW): Promise<Map<string, number[]>> {
  const st = await opt.exportState();
  const out = new Map<string, number[]>();
  for (const [n, p] of ps.params) out.set(n, [...st.get(p)!.m, ...st.get(p)!.v]);
  return out;
}
const save = (run: string, ps: ParamSet, tag: string, opt?: E.AdamW, keep?: number) =>
  saveCheckpoint(run, { tag, params: ps.params, optimizer: opt, config: { dim: 6, layers: 1 }, trainState: { step: opt?.step ?? 0, stage: 1, rng: [1, 2, 3] }, tokenizerJson: { vocab: ['<pad>', 'a'] }, keep });

async function expectError(p: Promise<unknown>, re: RegExp, userError = true): Promise<Error> {
  try {
    await p;
  } catch (e) {
    if (userError) assert.instance(e, E.UserError, (e as Error).message);
    assert.match((e as Error).message, re);
    return e as Error;
  }
  assert.unreachable(`expected an error matching ${re}`);
  throw new Error('unreachable');
}

test('save, perturb, load: weights, moments and step restored exactly; the next step equals the uninterrupted one', async () => {
  const run = newRun();
  const { ps, opt } = model();
  step(ps, opt, randGrads(ps));
  step(ps, opt, randGrads(ps));
  const w = await values(ps), m = await moments(ps, opt);
  const dir = await save(run, ps, 'step-000002', opt);
  assert.is(dir, join(run, 'checkpoints', 'step-000002'));
  assert.equal(readdirSync(dir).sort(), ['config.json', 'model.safetensors', 'optimizer.safetensors', 'tokenizer.json', 'train_state.json']);
  assert.is(readFileSync(join(run, 'checkpoints', 'latest'), 'utf8'), 'step-000002\n');
  assert.is(latestTag(run), 'step-000002');
  // What PyTorch would see: parameter names, and AdamW state names.
  const mf = await readSafetensors(join(dir, 'model.safetensors'));
  assert.equal(mf.metadata, { format: 'pt' });
  assert.equal([...mf.tensors.keys()].sort(), Object.keys(SHAPES).sort());
  assert.equal(mf.tensors.get('embed.weight')!.shape, [11, 6]);
  const of = await readSafetensors(join(dir, 'optimizer.safetensors'));
  assert.is(of.metadata.step, '2');
  assert.ok(of.tensors.has('head.weight.exp_avg') && of.tensors.has('head.weight.exp_avg_sq'));
  assert.is(of.tensors.size, 8);

  // Perturb: one more step changes weights, moments and the step count.
  const g3 = randGrads(ps);
  step(ps, opt, g3);
  const w3 = await values(ps);
  assert.not.equal(w3.get('head.weight'), w.get('head.weight'));
  assert.is(opt.step, 3);

  const ck = await loadCheckpoint(run, { params: ps.params, optimizer: opt });
  assert.is(ck.tag, 'step-000002');
  assert.equal(ck.config, { dim: 6, layers: 1 });
  assert.equal(ck.trainState, { step: 2, stage: 1, rng: [1, 2, 3] });
  assert.equal(ck.tokenizerJson, { vocab: ['<pad>', 'a'] });
  assert.is(opt.step, 2);
  assert.equal(await values(ps), w, 'weights bit-exact');
  assert.equal(await moments(ps, opt), m, 'moments bit-exact');
  // Resuming gives exactly the step the uninterrupted run took.
  step(ps, opt, g3);
  assert.equal(await values(ps), w3, 'step 3 after resume equals step 3 before');
  opt.destroy();
});

test('mismatches are refused, naming the parameters and both shapes, and nothing is uploaded', async () => {
  const run = newRun();
  const a = model();
  await save(run, a.ps, 'stage-0', a.opt);
  const other = { ...SHAPES, 'head.weight': [4, 6], 'extra.bias': [2] } as Record<string, number[]>;
  delete other['blocks.0.attn.bias'];
  const b = model(other, 99);
  const before = await values(b.ps);
  const e = await expectError(loadCheckpoint(run, { params: b.ps.params }), /model\.safetensors does not match the model/);
  assert.match(e.message, /parameter "head\.weight": checkpoint has F32 \[3,6\], model has F32 \[4,6\]/);
  assert.match(e.message, /parameter "extra\.bias" \[2\] is missing/);
  assert.match(e.message, /1 tensor\(s\) the model does not have: blocks\.0\.attn\.bias/);
  assert.equal(await values(b.ps), before, 'model untouched');
  // The same model loads; weights only (no optimizer) from a checkpoint that has one is fine.
  const c = model(SHAPES, 5);
  await loadCheckpoint(run, { params: c.ps.params, tag: 'stage-0' });
  assert.equal(await values(c.ps), await values(a.ps));
  // Asking for optimizer state from a checkpoint without one is refused.
  await save(run, a.ps, 'weights-only');
  await expectError(loadCheckpoint(run, { params: c.ps.params, optimizer: c.opt }), /no optimizer state/);
  // Unknown tag, bad tag, run without checkpoints, corrupt config.
  await expectError(loadCheckpoint(run, { params: c.ps.params, tag: 'step-000999' }), /no such checkpoint \(available: stage-0, weights-only\)/);
  await expectError(loadCheckpoint(run, { params: c.ps.params, tag: '../x' }), /invalid checkpoint tag/);
  await expectError(loadCheckpoint(newRun(), { params: c.ps.params }), /no checkpoint to load/);
  writeFileSync(join(run, 'checkpoints', 'stage-0', 'config.json'), '{"dim": 6,');
  await expectError(loadCheckpoint(run, { params: c.ps.params, tag: 'stage-0' }), /stage-0[/\\]config\.json: not valid JSON/);
  writeFileSync(join(run, 'checkpoints', 'latest'), '../../etc\n');
  assert.throws(() => latestTag(run), /latest: does not name a checkpoint/);
  for (const x of [a, b, c]) x.opt.destroy();
});

test('latest switches only after a complete write: non-finite weights, leftovers of crashed saves', async () => {
  const run = newRun();
  const ckDir = join(run, 'checkpoints');
  const { ps, opt } = model();
  await save(run, ps, 'step-000001', opt);
  const good = await values(ps);
  // A NaN in one parameter: refused, naming it; latest unchanged; no temp folder left.
  const bad = ps.params.get('blocks.0.attn.bias')!;
  E.rt().flush();
  E.rt().upload(bad.storage.buffer, bad.byteOffset, Float32Array.of(0, 1, NaN, 3, 4));
  const e = await expectError(save(run, ps, 'step-000002', opt), /checkpoint step-000002 not saved \(latest unchanged\).*tensor "blocks\.0\.attn\.bias" \[5\] has NaN at flat index 2/, false);
  assert.ok(e.message.length < 400);
  assert.is(latestTag(run), 'step-000001');
  assert.equal(readdirSync(ckDir).sort(), ['latest', 'step-000001']);

  // Simulated crashes of another (now dead) process: a half-written temp folder, a temp
  // `latest`, and a replacement caught between moving the old copy aside and renaming the new in.
  const dead = deadPid();
  mkdirSync(join(ckDir, `.tmp-step-000003-${dead}`));
  writeFileSync(join(ckDir, `.tmp-step-000003-${dead}`, 'model.safetensors'), 'partial');
  writeFileSync(join(ckDir, `latest.tmp-${dead}-abcdef`), 'step-000003');
  assert.equal(listCheckpoints(run), ['step-000001']);
  assert.is(latestTag(run), 'step-000001');
  renameSync(join(ckDir, 'step-000001'), join(ckDir, `.old-step-000001-${dead}`));
  assert.is(latestTag(run), 'step-000001', 'recovered');
  assert.ok(existsSync(join(ckDir, 'step-000001', 'model.safetensors')));
  await loadCheckpoint(run, { params: ps.params, optimizer: opt });
  assert.equal(await values(ps), good, 'loaded the intact previous checkpoint (and the NaN is gone)');
  // A live process's temp folder is left alone; dead ones are cleaned by the next save.
  mkdirSync(join(ckDir, `.tmp-step-000009-${process.ppid}`));
  await save(run, ps, 'step-000004', opt);
  assert.equal(readdirSync(ckDir).sort(), [`.tmp-step-000009-${process.ppid}`, 'latest', 'step-000001', 'step-000004']);
  rmSync(join(ckDir, `.tmp-step-000009-${process.ppid}`), { recursive: true });
  // Re-saving an existing tag replaces it completely.
  step(ps, opt, randGrads(ps));
  await save(run, ps, 'step-000001', opt);
  assert.is(latestTag(run), 'step-000001');
  assert.equal(readdirSync(ckDir).sort(), ['latest', 'step-000001', 'step-000004']);
  const now = await values(ps);
  step(ps, opt, randGrads(ps));
  await loadCheckpoint(run, { params: ps.params, optimizer: opt });
  assert.equal(await values(ps), now);
  opt.destroy();
});

test('pruning keeps the newest K step checkpoints, every stage checkpoint, and the one latest names', async () => {
  const run = newRun();
  const { ps, opt } = model();
  for (let s = 1; s <= 6; s++) {
    await save(run, ps, `step-${String(s * 10).padStart(6, '0')}`, opt, 2);
    if (s % 2 === 0) await save(run, ps, `stage-${s / 2 - 1}`, opt, 2);
  }
  assert.equal(listCheckpoints(run), ['stage-0', 'stage-1', 'stage-2', 'step-000050', 'step-000060']);
  // Default keep is 3; an older step tag saved last is `latest` and survives.
  await save(run, ps, 'step-000070', opt);
  await save(run, ps, 'step-000080', opt);
  await save(run, ps, 'step-000005', opt, 1);
  assert.is(latestTag(run), 'step-000005');
  assert.equal(listCheckpoints(run), ['stage-0', 'stage-1', 'stage-2', 'step-000005', 'step-000080']);
  assert.equal(readdirSync(join(run, 'checkpoints')).filter((n) => n.startsWith('.')), [], 'no leftovers');
  await expectError(save(run, ps, 'latest', opt), /invalid checkpoint tag/);
  await expectError(save(run, ps, '.hidden', opt), /invalid checkpoint tag/);
  opt.destroy();
});

test.run();
