// Guards the lavapipe crash (Dawn's instance collected under a live device; PLATFORM.md):
// many distinct pipelines, long dispatches, readbacks with CPU checks that allocate, and
// forced garbage collection between them. The test runner runs this file three times.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as E from '../../engine/index.js';
import { rt } from '../../engine/tensor.js';
import { randn, setup } from '../helpers.js';
import * as ref from '../ref.js';

test.before(setup);

const gc = (globalThis as { gc?: () => void }).gc;

test('many pipelines, long dispatches, readbacks and forced GC', async () => {
  assert.ok(gc, 'run with --expose-gc (the test runner does)');
  const n = 384; // ~ 57 MFLOP per product: long dispatches on lavapipe
  const a = randn(n * n), b = randn(n * n);
  const A = E.fromArray(Float32Array.from(a), [n, n]), B = E.fromArray(Float32Array.from(b), [n, n]);
  const pipelinesBefore = rt().stats().pipelines;
  for (let round = 0; round < 4; round++) {
    for (const [tA, tB] of [[false, false], [true, false], [false, true], [true, true]] as const) {
      const C = E.tidy(() => E.matmul(A, B, { transA: tA, transB: tB }));
      // A distinct pipeline per iteration: a unary kernel specialised with a literal.
      const D = E.empty([n, n]);
      const k = rt().kernel('unary', { EXPR: `x * ${1 + round}.0 + ${round}.0 + 0.0 * f32(${tA ? 1 : 0} + ${tB ? 2 : 0})` });
      rt().dispatch(k, [C.binding(), D.binding()], [n * n, 0, 0, 0], rt().grid(Math.ceil((n * n) / 256)));
      const got = await D.toArray();
      // CPU check of 20 entries (allocates, which is what used to trigger the GC crash)
      for (let s = 0; s < 20; s++) {
        const i = (s * 7919 + round * 31) % n, j = (s * 104729 + round) % n;
        let acc = 0;
        for (let k = 0; k < n; k++) acc += (tA ? a[k * n + i] : a[i * n + k]) * (tB ? b[j * n + k] : b[k * n + j]);
        const want = acc * (1 + round) + round;
        assert.ok(Math.abs(got[i * n + j] - want) <= 1e-3 * Math.max(1, Math.abs(want)), `C[${i},${j}] = ${got[i * n + j]}, want ${want}`);
      }
      C.dispose();
      D.dispose();
      gc!();
      await new Promise((r) => setTimeout(r, 1));
      gc!();
    }
  }
  assert.ok(rt().stats().pipelines - pipelinesBefore >= 8, 'expected many distinct pipelines');
  A.dispose();
  B.dispose();
});

test('a GPU validation error becomes a JS error at the next sync, naming the problem', async () => {
  // Bind a 16-byte buffer where the kernel's uniform struct needs more: a validation error.
  const r = rt();
  const k = r.kernel('fill');
  const small = r.pool.acquire(16);
  r.dispatch(k, [{ buffer: small }], [4, 0, 0, 0], [1]);
  r.flush();
  const dev = r.dev;
  dev.gpu.pushErrorScope('validation');
  dev.gpu.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.STORAGE });
  const scoped = await dev.gpu.popErrorScope();
  assert.ok(scoped, 'invalid buffer usage must be a validation error');
  // The same mistake without a scope is routed to the uncaptured-error handler.
  dev.gpu.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.STORAGE });
  await dev.gpu.queue.onSubmittedWorkDone();
  await new Promise((res) => setTimeout(res, 20));
  assert.throws(() => dev.check(), /GPU error: .*(usage|Usage)/);
  r.pool.release(small);
});

test('the float64 reference agrees with itself (sanity of the check above)', () => {
  const x = ref.matmul(Float64Array.of(1, 2, 3, 4), Float64Array.of(5, 6, 7, 8), 2, 2, 2, 1, false, false);
  assert.equal(Array.from(x), [19, 22, 43, 50]);
});

test('the process exits cleanly after shutdown', async () => {
  await E.shutdownEngine();
});

test.run();
