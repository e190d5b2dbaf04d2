// Crash-safe training and device faults, through the real CLI in child processes.
//  1. SIGKILL at random points (after some steps are in metrics.jsonl: mid-step, mid-checkpoint,
//     mid-evaluation), `--resume`, again, then let it finish: every step's loss and gradient
//     norm, every stage evaluation, and the final weights and AdamW moments are bit-identical
//     to an uninterrupted run with the same seed (the data order is a function of seed, stage
//     and epoch; the kernels are deterministic; checkpoints hold everything else).
//  2. A GPU device loss injected mid-run (IVT_FAULT_AT_STEP) and an uncaptured GPU error
//     (IVT_FAULT_KIND=error) stop the run with one clear line and exit 1, no stack; the last
//     checkpoint is intact, and resuming from it again ends bit-identical to the reference.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readSafetensors } from '../../engine/safetensors.js';
import { ivt, startIvt, STACK_RE, tempDir, withoutDawnNoise } from './cli.js';

const base = tempDir('crash');
const DS = join(base, 'ds');
// Stage 1 at its own learning rate: a resumed run must pick the stage's rate again.
const ARGS = ['--preset', 'tiny', '--stages', '1', '--epochs', '1', '--batch', '4', '--checkpoint-every', '2', '--max-val', '4', '--lr', '0.002', '--latent-lr', '0.0005'];
const train = (out: string, resume: boolean) => ['train', '--data', DS, '--out', out, ...ARGS, ...(resume ? ['--resume'] : [])];
const seed = Number(process.env.TEST_SEED ?? Date.now() % 1_000_000);
let s = seed >>> 0;
const rand = () => { s = (Math.imul(s ^ (s >>> 15), 2246822507) + 0x6d2b79f5) >>> 0; return s / 2 ** 32; };

interface Metric { step: number; stage: number; eval?: boolean; lr?: number; loss?: number; align_loss?: number; grad_norm?: number; accuracy?: number; n?: number; unparsed?: number; avg_passes?: number; mode?: string }
function metrics(run: string): Metric[] {
  const p = join(run, 'metrics.jsonl');
  if (!existsSync(p)) return [];
  return readFileSync(p, 'utf8').split('\n').filter((l) => l.trim()).flatMap((l) => { try { return [JSON.parse(l) as Metric]; } catch { return []; } });
}
/** What must be identical: the step's loss and gradient norm; an evaluation's results (not its timing). */
const essential = (m: Metric) => m.eval
  ? { eval: true, step: m.step, stage: m.stage, mode: m.mode, n: m.n, accuracy: m.accuracy, unparsed: m.unparsed, avg_passes: m.avg_passes }
  : { step: m.step, stage: m.stage, lr: m.lr, loss: m.loss, align_loss: m.align_loss, grad_norm: m.grad_norm };
const maxStep = (run: string) => metrics(run).reduce((a, m) => (m.eval ? a : Math.max(a, m.step)), 0);
const latest = (run: string) => readFileSync(join(run, 'checkpoints', 'latest'), 'utf8').trim();

async function sameCheckpoint(a: string, b: string, what: string): Promise<void> {
  assert.is(latest(b), latest(a), `${what}: latest checkpoint`);
  for (const file of ['model.safetensors', 'optimizer.safetensors']) {
    const [x, y] = await Promise.all([a, b].map((r) => readSafetensors(join(r, 'checkpoints', latest(r), file))));
    assert.equal([...y.tensors.keys()].sort(), [...x.tensors.keys()].sort(), `${what}: ${file} tensor names`);
    for (const [name, t] of x.tensors) {
      const u = y.tensors.get(name)!;
      const bx = Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
      const by = Buffer.from(u.data.buffer, u.data.byteOffset, u.data.byteLength);
      assert.ok(bx.equals(by), `${what}: ${file} tensor "${name}" differs from the uninterrupted run`);
    }
    assert.equal(y.metadata, x.metadata, `${what}: ${file} metadata`);
  }
}

function sameMetrics(ref: string, run: string, what: string): void {
  const [a, b] = [metrics(ref).map(essential), metrics(run).map(essential)];
  assert.is(b.length, a.length, `${what}: ${b.length} metric lines, the uninterrupted run has ${a.length}`);
  a.forEach((m, i) => assert.equal(b[i], m, `${what}: metrics line ${i + 1}`));
}

function noLeftovers(run: string, what: string): void {
  const left = readdirSync(join(run, 'checkpoints')).filter((n) => n.startsWith('.'));
  assert.equal(left, [], `${what}: leftovers of interrupted saves remain`);
}

const ref = join(base, 'ref');
let refDone: Promise<void>;

test.before(async () => {
  const r = await ivt(['data', 'synth', '--out', DS, '--train', '12', '--val', '4', '--test', '4']);
  assert.is(r.code, 0, r.stderr);
  // The uninterrupted reference runs alongside the first test's kill/resume chain.
  refDone = ivt(train(ref, false)).then((x) => { assert.is(x.code, 0, x.stdout + x.stderr); });
});

test('SIGKILL at random points and --resume: losses and final weights identical to an uninterrupted run', async () => {
  const t0 = Date.now();
  const run = join(base, 'killed');
  const log: string[] = [];
  let kills = 0;
  for (let attempt = 0; attempt < 6; attempt++) {
    const resume = attempt > 0;
    const from = maxStep(run);
    const last = kills >= 2; // two kills, then let it finish
    const target = from + 1 + Math.floor(rand() * 2); // kill once this step is logged ...
    const delay = Math.floor(rand() * 400); // ... plus up to 0.4 s (mid-step, checkpoint or eval)
    const p = startIvt(train(run, resume));
    if (!last) {
      const killer = (async () => {
        while (p.child.exitCode === null && maxStep(run) < target) await new Promise((r) => setTimeout(r, 15));
        await new Promise((r) => setTimeout(r, delay));
        if (p.child.exitCode === null && p.child.signalCode === null) { p.child.kill('SIGKILL'); return true; }
        return false;
      })();
      const [killed, r] = await Promise.all([killer, p.done]);
      if (killed && r.signal === 'SIGKILL') {
        kills++;
        log.push(`run ${attempt + 1}: killed after step ${maxStep(run)} was logged (target ${target} + ${delay} ms)`);
        continue;
      }
      assert.is(r.code, 0, withoutDawnNoise(r.stdout + r.stderr));
      log.push(`run ${attempt + 1}: finished before the kill (target ${target})`);
      break;
    }
    const r = await p.done;
    assert.is(r.code, 0, withoutDawnNoise(r.stdout + r.stderr));
    assert.match(r.stdout, resume ? /resumed from checkpoint|done: / : /done: /);
    log.push(`run ${attempt + 1}: finished (${r.stdout.match(/resumed from checkpoint [^:]+/)?.[0] ?? 'from scratch'})`);
    break;
  }
  await refDone;
  console.log(`seed ${seed}: ${log.join('; ')} (${((Date.now() - t0) / 1000).toFixed(1)}s)`);
  assert.ok(kills >= 1, `no run was killed: ${log.join('; ')}`);
  // Each step at its stage's learning rate (--lr for stage 0, --latent-lr after).
  const steps = metrics(ref).filter((m) => !m.eval);
  assert.ok(steps.some((m) => m.stage === 0) && steps.some((m) => m.stage === 1), 'want steps of both stages');
  for (const m of steps) assert.is(m.lr, m.stage === 0 ? 0.002 : 0.0005, `step ${m.step} (stage ${m.stage}) learning rate`);
  // The optimizer file records the rate its last step used, the stage's own.
  for (const [tag, lr] of [['stage-0', '0.002'], ['stage-1', '0.0005']]) {
    assert.is((await readSafetensors(join(ref, 'checkpoints', tag!, 'optimizer.safetensors'))).metadata.lr, lr, `${tag} optimizer.safetensors lr`);
  }
  sameMetrics(ref, run, 'killed and resumed');
  await sameCheckpoint(ref, run, 'killed and resumed');
  noLeftovers(run, 'killed and resumed');
});

for (const kind of ['lost', 'error'] as const) {
  test(`GPU fault (${kind === 'lost' ? 'device loss' : 'uncaptured GPU error'}) at step 7: one clear line, exit 1, last checkpoint intact and resumable`, async () => {
    const t0 = Date.now();
    const run = join(base, `fault-${kind}`);
    // The error run also shows --verbose: a progress line per step with the pool's statistics.
    const r = await ivt([...train(run, false), ...(kind === 'error' ? ['--verbose'] : [])], { IVT_FAULT_AT_STEP: '7', IVT_FAULT_KIND: kind });
    const out = withoutDawnNoise(r.stdout + r.stderr);
    assert.is(r.code, 1, out);
    if (kind === 'error') {
      const progress = r.stdout.split('\n').filter((l) => /^stage \d epoch 1\/1 step \d\/9 .*\| gpu: in use [\d.]+ \w?i?B \/ allocated [\d.]+ \w?i?B, cached .+, peak in use .+, peak allocated .+, buffers \d+ created \/ \d+ reused \/ \d+ destroyed$/.test(l));
      assert.is(progress.length, 6, `--verbose progress lines:\n${r.stdout}`);
    }
    assert.not.ok(STACK_RE.test(out), `stack trace printed:\n${out}`);
    // One line from ivt, last. (For a validation error Dawn itself also prints the error it
    // raised, a few lines starting "validation:"; that is the driver's diagnostic, not ours.)
    const errLines = withoutDawnNoise(r.stderr).split('\n').filter((l) => l.trim() && !(kind === 'error' && /^(validation:|Buffer usages| - While calling)/.test(l)));
    assert.is(errLines.length, 1, `expected one line on stderr, got:\n${r.stderr}`);
    assert.ok(r.stderr.trimEnd().endsWith(errLines[0]!), 'the ivt line comes last');
    assert.match(errLines[0]!, kind === 'lost' ? /^ivt: GPU failure during step 7: GPU device lost/ : /^ivt: GPU failure during step 7: GPU error: /);
    // Stage 0 (12 problems and their 12 captions, batch 4: steps 1-6) ended (eval + stage-0
    // checkpoint); step 7, the first of stage 1, never landed.
    assert.match(errLines[0]!, /The last checkpoint \(stage-0\) is intact: continue with --resume/);
    assert.is(latest(run), 'stage-0');
    assert.is(maxStep(run), 6, 'no metrics line for the failed step');
    noLeftovers(run, 'after the fault');
    const ck = await readSafetensors(join(run, 'checkpoints', 'stage-0', 'model.safetensors'));
    assert.ok(ck.tensors.size > 0);
    // After the device loss, resume with no flag but --resume: the run's own options.json gives
    // the rest (its learning rates, seed, stage lengths), so it still ends identical.
    const again = await ivt(kind === 'lost' ? ['train', '--data', DS, '--out', run, '--resume'] : train(run, true));
    assert.is(again.code, 0, withoutDawnNoise(again.stdout + again.stderr));
    assert.match(again.stdout, 'resumed from checkpoint stage-0: stage 1, epoch 0, batch 0, step 6');
    await refDone;
    sameMetrics(ref, run, `resumed after ${kind}`);
    await sameCheckpoint(ref, run, `resumed after ${kind}`);
    console.log(`fault ${kind}: ${((Date.now() - t0) / 1000).toFixed(1)}s`);
  });
}

test.run();
