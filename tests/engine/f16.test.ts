// f16 storage: upload/readback and f32 <-> f16 casts, against the CPU's f16 rounding.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Float16Array } from '@petamoriken/float16';
import * as E from '../../engine/index.js';
import { rt } from '../../engine/tensor.js';
import { close, randn, setup, skipWithout } from '../helpers.js';
import * as ref from '../ref.js';

test.before(setup);

test('f16 round trip and casts match CPU f16 rounding', async () => {
  if (!rt().dev.hasF16) {
    console.log('  (adapter has no shader-f16: casting must refuse clearly)');
    assert.throws(() => E.cast(E.fromArray([1], [1]), 'f16'), /shader-f16/);
    return;
  }
  const x = randn(1001, 3);
  const want = Float64Array.from(Float16Array.from(x));
  const h = E.fromArray(x, [7, 143], 'f16');
  close(await h.toArray(), want, 0, 0, 'f16 upload/readback');
  // The cast path rounds twice (float64 -> f32 in Float32Array.from, then f32 -> f16 on the GPU), so its
  // reference does too: a value just under an f16 halfway point can round onto it in f32 and
  // then to even, one f16 step from the direct rounding (about 1 in 8k inputs).
  const wantViaF32 = Float64Array.from(Float16Array.from(Float32Array.from(x)));
  const viaCast = E.tidy(() => E.cast(E.cast(E.fromArray(Float32Array.from(x), [1001]), 'f16'), 'f32'));
  close(await viaCast.toArray(), wantViaF32, 0, 0, 'f32 -> f16 -> f32');
  const perm = E.tidy(() => E.permute(h, [1, 0]));
  assert.is(perm.dtype, 'f16');
  const p = await perm.toArray();
  // The whole transposed copy, every element against the CPU's transpose.
  const wantT = Float64Array.from({ length: 7 * 143 }, (_, i) => want[(i % 7) * 143 + Math.floor(i / 7)]!);
  close(p, wantT, 0, 0, 'f16 strided copy (transpose)');
  h.dispose();
  viaCast.dispose();
  perm.dispose();
});

test('f16 matmul (f32 accumulation) against float64, fast path and fallback shapes', async () => {
  if (skipWithout(rt().dev.hasF16, 'f16 matmul needs shader-f16')) return;
  // [M, N, K, transB, batch, B batched too]: B shared across the batch folds the batch into M;
  // a batched B runs the kernel over the batch.
  for (const [M, N, K, tB, batch, batchedB] of [[37, 20, 28, false, 2, false], [37, 20, 28, true, 1, false], [13, 7, 9, false, 1, false], [64, 48, 64, true, 3, false], [37, 20, 28, false, 2, true], [21, 13, 33, true, 3, true]] as [number, number, number, boolean, number, boolean][]) {
    const a = randn(batch * M * K), b = randn((batchedB ? batch : 1) * K * N);
    const A = E.fromArray(a, [batch, M, K], 'f16');
    const B = E.fromArray(b, [...(batchedB ? [batch] : []), ...(tB ? [N, K] : [K, N])], 'f16');
    const C = E.tidy(() => E.matmul(A, B, { transB: tB }));
    assert.is(C.dtype, 'f32', 'the product is f32');
    const got = await C.toArray();
    C.dispose();
    const want = ref.matmul(Float64Array.from(Float16Array.from(a)), Float64Array.from(Float16Array.from(b)), M, N, K, batch, false, tB, false, !batchedB);
    // The operands are exact in f16 and their products exact in f32: only the f32 sum rounds,
    // so the f32 tolerance holds (a kernel rounding its sums to f16 would be ~1e-3 off).
    close(got, want, 1e-5, 1e-5, `f16 matmul ${batch}x${M}x${N}x${K} tB=${tB} batched B=${batchedB}`);
    A.dispose();
    B.dispose();
  }
});

test('f16 gradients through slice and concat, and summed where a tensor is used twice', async () => {
  if (skipWithout(rt().dev.hasF16, 'f16 gradients need shader-f16')) return;
  const R = 5, C = 7;
  const x = randn(R * C), w = randn(R * (C + 3));
  const X = E.fromArray(x, [R, C], 'f16');
  X.requiresGrad = true;
  const W = E.fromArray(w, [R, C + 3]);
  // [x[:, 1:4], x]: x reaches the loss twice, through the slice and directly.
  E.tidy(() => E.backward(E.sumAll(E.mul(E.cast(E.concat([E.slice(X, 1, 1, 4), X], 1), 'f32'), W))));
  assert.is(X.grad!.dtype, 'f16');
  const wh = Float64Array.from(Float16Array.from(w)); // the gradient reaches f16 as f16(w)
  const want = new Float64Array(R * C);
  for (let i = 0; i < R; i++) {
    for (let j = 0; j < C; j++) want[i * C + j] = wh[i * (C + 3) + 3 + j]! + (j >= 1 && j <= 3 ? wh[i * (C + 3) + j - 1]! : 0);
  }
  close(await X.grad!.toArray(), want, 1e-2, 1e-2, 'f16 slice/concat gradient, accumulated');
  X.grad!.dispose();
  X.dispose();
  W.dispose();
});

test.run();
