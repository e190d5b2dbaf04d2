// Dispatches past the adapter's per-dimension workgroup limit (65535 on most adapters): batched
// matmul splits its batch into ranges bound at aligned offsets, attention spreads its (batch,
// head) pairs over y and z, top-k spreads its candidates over x and y. Reaching 65535 for real
// would take large tensors, so the runtime's limit is lowered for these tests; the runtime
// refuses any dispatch past the lowered limit, so a kernel that did not split would fail here.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Float16Array } from '@petamoriken/float16';
import * as E from '../../engine/index.js';
import { rt } from '../../engine/index.js';
import { setMatmulPath } from '../../engine/ops/matmul_kernels.js';
import { attention } from '../../engine/ops/attention.js';
import { checkOp, close, randint, randn, setup } from '../helpers.js';
import * as ref from '../ref.js';

const LIMIT = 100;

test.before(setup);
test.before.each(() => rt().limitWorkgroupsPerDim(LIMIT));
test.after.each(() => {
  rt().limitWorkgroupsPerDim();
  setMatmulPath('auto');
});

// 150 entries of odd-sized products: three dispatches of 64, 64 and 22 entries where the
// adapter's storage offset alignment is 256 bytes (whatever it is, more than one).
const BATCH = 150, M = 5, K = 13, N = 7;

for (const path of ['auto', 'tiled', 'simple'] as const) {
  test(`matmul (${path} kernel): a batch of ${BATCH} past a limit of ${LIMIT} workgroups, forward and backward`, async () => {
    setMatmulPath(path);
    await checkOp(`batched matmul ${path}`, {
      inputs: [{ shape: [BATCH, M, K] }, { shape: [BATCH, K, N] }],
      gpu: ([a, b]) => E.matmul(a, b),
      ref: ([a, b]) => ref.matmul(a, b, M, N, K, BATCH, false, false),
      // dA = R B^T, dB = A^T R, per batch entry (analytic: central differences of 23k inputs are slow)
      refGrad: ([a, b], R) => [ref.matmul(R, b!, M, K, N, BATCH, false, true), ref.matmul(a!, R, K, N, M, BATCH, true, false)],
      noFd: true, // the gradients are batched matmuls too, checked against float64 above
    });
  });
}

test('matmul: transposed A against a shared B, a batch past the limit', async () => {
  await checkOp('shared B, transA', {
    inputs: [{ shape: [BATCH, K, M] }, { shape: [K, N] }],
    gpu: ([a, b]) => E.matmul(a, b, { transA: true }),
    ref: ([a, b]) => ref.matmul(a, b, M, N, K, BATCH, true, false, false, true),
    // C_b = A_b^T B: dA_b = B R_b^T, dB = sum over b of A_b R_b
    refGrad: ([a, b], R) => {
      const perEntry = ref.matmul(a!, R, K, N, M, BATCH, false, false);
      const gb = new Float64Array(K * N);
      perEntry.forEach((x, i) => (gb[i % (K * N)] += x));
      return [ref.matmul(b!, R, K, M, N, BATCH, false, true, true, false), gb];
    },
    noFd: true,
  });
});

test('matmul with f16 storage: a batch past the limit', async () => {
  if (!rt().dev.hasF16) {
    console.log('  (adapter has no shader-f16: skipped)');
    return;
  }
  // The f16 kernel's alignment rules: k and n multiples of 4. Where the f16 kernel does not run
  // (not the subgroup path), the operands are widened and the f32 kernel splits the batch.
  const m = 5, k = 12, n = 8;
  const h16 = (x: Float64Array) => Float64Array.from(Float16Array.from(x));
  const a = h16(randn(BATCH * m * k)), b = h16(randn(BATCH * k * n));
  const A = E.fromArray(a, [BATCH, m, k], 'f16'), B = E.fromArray(b, [BATCH, k, n], 'f16');
  const C = E.matmul(A, B);
  close(await C.toArray(), ref.matmul(a, b, m, n, k, BATCH, false, false), 1e-4, 1e-5, 'f16 batched matmul');
  for (const t of [A, B, C]) t.dispose();
});

test(`attention: ${29 * 7} (batch, head) pairs past the limit, with padding, forward and backward`, async () => {
  const B = 29, H = 7, hd = 4, T = 3, D = H * hd;
  const keyStart = Array.from(randint(B, T));
  const ks = E.fromArray(keyStart, [B], 'i32');
  try {
    const opt = { causal: true, qPos0: 0, keyStart };
    await checkOp('attention over y and z', {
      inputs: [{ shape: [B, T, D] }, { shape: [B, T, D] }, { shape: [B, T, D] }],
      gpu: ([q, k, v]) => attention(q, k, v, { heads: H, causal: true, qPos0: 0, keyStart: ks }),
      ref: ([q, k, v]) => ref.attention(q, k, v, B, T, T, D, H, opt).out,
      refGrad: ([q, k, v], R) => ref.attentionGrads(q, k, v, R, B, T, T, D, H, opt),
      rtol: 1e-4, gradRtol: 3e-4, noFd: true,
    });
  } finally {
    ks.dispose();
  }
});

test('top-k selection: candidates past the limit of workgroups in x', async () => {
  const B = 101, J = 67, k = 3; // ceil(101 * 67 / 64) = 106 workgroups of 64
  const scores = Int32Array.from(randn(B * J), (x) => Math.round(x * 1000));
  const S = E.fromArray(scores, [B, J], 'i32');
  const C = E.fromArray(new Uint32Array(B * J), [B, J], 'u32');
  const sel = E.selectTopK(S, C, k, 0);
  const want: number[] = [];
  for (let b = 0; b < B; b++) {
    const order = [...Array(J).keys()].sort((x, y) => scores[b * J + y]! - scores[b * J + x]! || x - y);
    want.push(...order.slice(0, k).map((j) => b * J + j));
  }
  assert.equal(Array.from(await sel.toArray()), want);
  const marked = await C.toArray();
  assert.is(Array.from(marked).reduce((s, x) => s + x, 0), B * k, 'every selected token marked, and only those');
  for (const t of [S, C, sel]) t.dispose();
});

test('the lowered limit is enforced: a dispatch no kernel splits is refused by name', () => {
  setMatmulPath('simple'); // 32-row blocks on every adapter (the tiled kernel's are 64 rows)
  const x = E.fromArray(new Float32Array(4000 * 4), [4000, 4]); // 4000 rows: 125 row blocks of 32
  const w = E.fromArray(new Float32Array(16), [4, 4]);
  assert.throws(() => E.matmul(x, w), /exceeds maxComputeWorkgroupsPerDimension 100/);
  x.dispose();
  w.dispose();
});

test.run();
