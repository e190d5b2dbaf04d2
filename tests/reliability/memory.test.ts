// GPU memory over a long run: 1000 training steps of a tiny IVT-LR model (batch 2, every
// curriculum stage in turn, two batch shapes), through the trainer's own step function. After
// warm-up the pool's bytes in use and the live tensor count must be exactly flat, and the
// bytes allocated from the driver must stop growing (buffers are reused, not re-created).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as E from '../../engine/index.js';
import { fmtBytes } from '../../engine/memory.js';
import { FULL_LATENT, IvtModel } from '../../model/ivt.js';
import { trainStep } from '../../train/trainer.js';
import { fakeSamples, microConfig } from './fake.js';

const STEPS = Number(process.env.IVT_MEMORY_STEPS ?? 1000);

test(`${STEPS} training steps: in-use bytes and live tensors flat after warm-up, allocation bounded`, async () => {
  await E.initEngine();
  const cfg = microConfig();
  const model = new IvtModel(cfg, 0);
  const opt = new E.AdamW(model.ps.list(), { lr: 1e-3, maxGradNorm: 1 });
  const batches = [fakeSamples(2, model, 1), fakeSamples(2, model, 2, 1)];
  const snap = () => ({ pool: E.rt().stats().pool, live: E.liveTensorCount() });
  let at20: ReturnType<typeof snap> | null = null;
  const t0 = performance.now();
  let tWarm = t0;
  let last = { loss: 0, norm: 0 };
  for (let step = 1; step <= STEPS; step++) {
    const stage = step % (cfg.latentSteps + 1);
    last = await trainStep(model, opt, batches[step % 2]!, stage, FULL_LATENT, false);
    assert.ok(Number.isFinite(last.loss) && Number.isFinite(last.norm), `step ${step}: loss ${last.loss}, norm ${last.norm}`);
    if (step === 20) { at20 = snap(); tWarm = performance.now(); }
  }
  const end = snap();
  const a = at20!;
  const secs = (performance.now() - t0) / 1000;
  console.log(`${STEPS} steps in ${secs.toFixed(1)}s (${((performance.now() - tWarm) / (STEPS - 20)).toFixed(1)} ms/step after warm-up), loss ${last.loss.toFixed(3)}; ` +
    `after step 20 / ${STEPS}: in use ${a.pool.inUseBytes} / ${end.pool.inUseBytes} B, allocated ${fmtBytes(a.pool.allocatedBytes)} / ${fmtBytes(end.pool.allocatedBytes)}, ` +
    `peak allocated ${fmtBytes(end.pool.peakAllocatedBytes)}, live tensors ${a.live} / ${end.live}, buffers created ${a.pool.buffersCreated} / ${end.pool.buffersCreated}, reused ${end.pool.buffersReused}`);
  assert.is(end.pool.inUseBytes, a.pool.inUseBytes, 'bytes in use after step 20 and after the last step');
  assert.is(end.live, a.live, 'live tensors after step 20 and after the last step');
  assert.ok(end.pool.allocatedBytes <= a.pool.allocatedBytes * 1.1, `allocated grew from ${fmtBytes(a.pool.allocatedBytes)} to ${fmtBytes(end.pool.allocatedBytes)}`);
  assert.ok(end.pool.peakAllocatedBytes <= a.pool.peakAllocatedBytes * 1.1, 'peak allocation grew after warm-up');
  assert.ok(end.pool.buffersCreated - a.pool.buffersCreated <= a.pool.buffersCreated * 0.1, `buffers created after warm-up: ${end.pool.buffersCreated - a.pool.buffersCreated}`);
  opt.destroy();
  model.ps.dispose();
  await E.shutdownEngine();
});

test.run();
