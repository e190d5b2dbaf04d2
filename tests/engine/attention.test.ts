// Fused attention against the float64 reference: every mask, query offsets, left padding,
// head dims, packed and separate operands, forward and backward; the accumulator against
// probabilities from full attention matrices.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Float16Array } from '@petamoriken/float16';
import * as E from '../../engine/index.js';
import { rt } from '../../engine/tensor.js';
import { accumulatorScale, attention, attentionPacked, setAttentionPath } from '../../engine/ops/attention.js';
import * as ref from '../ref.js';
import { checkOp, close, gpu, randn, setup } from '../helpers.js';

test.before(setup);

function splitQkv(qkv: Float64Array, B: number, T: number, D: number): [Float64Array, Float64Array, Float64Array] {
  const q = new Float64Array(B * T * D), k = new Float64Array(B * T * D), v = new Float64Array(B * T * D);
  for (let r = 0; r < B * T; r++) for (let d = 0; d < D; d++) {
    q[r * D + d] = qkv[r * 3 * D + d];
    k[r * D + d] = qkv[r * 3 * D + D + d];
    v[r * D + d] = qkv[r * 3 * D + 2 * D + d];
  }
  return [q, k, v];
}

const cases = [
  { name: 'bidirectional hd=32', B: 2, Tq: 11, Tk: 11, H: 2, hd: 32, causal: false, qPos0: 0 },
  { name: 'causal hd=32', B: 2, Tq: 13, Tk: 13, H: 3, hd: 32, causal: true, qPos0: 0 },
  { name: 'causal offset into cache hd=64', B: 3, Tq: 5, Tk: 17, H: 2, hd: 64, causal: true, qPos0: 12 },
  { name: 'causal single query hd=128', B: 2, Tq: 1, Tk: 9, H: 1, hd: 128, causal: true, qPos0: 8 },
  { name: 'causal left padding hd=32', B: 3, Tq: 9, Tk: 9, H: 2, hd: 32, causal: true, qPos0: 0, keyStart: [0, 3, 8] },
  { name: 'bidirectional padding hd=48', B: 2, Tq: 7, Tk: 7, H: 1, hd: 48, causal: false, qPos0: 0, keyStart: [2, 0] },
  // The subgroup forward takes 4 query rows per lane from 17 rows on and 1 row up to 8: a
  // ragged last workgroup (37 = 32 + 5) and a latent step's few queries on a longer cache.
  { name: 'causal 37 rows, padding hd=32', B: 2, Tq: 37, Tk: 37, H: 2, hd: 32, causal: true, qPos0: 0, keyStart: [0, 5] },
  { name: 'causal 5 rows offset into cache hd=32', B: 2, Tq: 5, Tk: 19, H: 2, hd: 32, causal: true, qPos0: 14 },
  // Long passes run the backward kernels with 4 rows per lane; forced here on a short ragged
  // pass (37 query rows, 45 keys: neither a multiple of 32) so the test stays quick.
  { name: 'causal 4 rows per lane everywhere, offset hd=32', B: 2, Tq: 37, Tk: 45, H: 2, hd: 32, causal: true, qPos0: 8, keyStart: [3, 0], rows: 4 },
  // The presets' own head dims on the kernels they run (small: 16, tiny: 8).
  { name: 'causal padding hd=16', B: 2, Tq: 21, Tk: 21, H: 2, hd: 16, causal: true, qPos0: 0, keyStart: [0, 4], subgroupOnly: true },
  { name: 'causal 5 rows offset into cache hd=8', B: 2, Tq: 5, Tk: 19, H: 2, hd: 8, causal: true, qPos0: 14, subgroupOnly: true },
  // The tiny preset's prompt pass: 21 rows of head dim 8, which the subgroup forward takes 4 rows
  // per lane and the query-gradient kernel 2.
  { name: 'causal 21 rows, padding hd=8', B: 2, Tq: 21, Tk: 21, H: 2, hd: 8, causal: true, qPos0: 0, keyStart: [0, 3], subgroupOnly: true },
  // Up to 8 keys the key/value-gradient kernel takes one key row per lane.
  { name: 'causal 7 keys hd=32', B: 2, Tq: 7, Tk: 7, H: 2, hd: 32, causal: true, qPos0: 0 },
];

// Every case runs on the one-row-per-invocation kernels; cases with head dim 32 also run
// on the subgroup kernels (compiling those is slow on lavapipe: a few head dims cover them).
// (A forced row count applies to the subgroup kernels only; `subgroupOnly` cases run the default
// path alone, which is the subgroup kernels where the adapter has subgroups.)
for (const c of cases) for (const path of (c.rows || c.subgroupOnly ? ['auto'] : c.hd === 32 ? ['auto', 'simple'] : ['simple']) as ('auto' | 'simple')[]) {
  test(`attention ${c.name} (${path} kernels)`, async () => {
    setAttentionPath(path);
    const forced = { R: process.env.IVT_ATTN_R, RK: process.env.IVT_ATTN_RK };
    if (c.rows) process.env.IVT_ATTN_R = process.env.IVT_ATTN_RK = String(c.rows);
    const D = c.H * c.hd;
    const ks = c.keyStart ? E.fromArray(c.keyStart, [c.B], 'i32') : null;
    try {
      await checkOp(c.name, {
        inputs: [{ shape: [c.B, c.Tq, D] }, { shape: [c.B, c.Tk, D] }, { shape: [c.B, c.Tk, D] }],
        gpu: ([q, k, v]) => attention(q, k, v, { heads: c.H, causal: c.causal, qPos0: c.qPos0, keyStart: ks }),
        ref: ([q, k, v]) => ref.attention(q, k, v, c.B, c.Tq, c.Tk, D, c.H, { causal: c.causal, qPos0: c.qPos0, keyStart: c.keyStart }).out,
        refGrad: ([q, k, v], R) => ref.attentionGrads(q, k, v, R, c.B, c.Tq, c.Tk, D, c.H, { causal: c.causal, qPos0: c.qPos0, keyStart: c.keyStart }),
        rtol: 1e-4, gradRtol: 3e-4, noFd: c.hd > 32,
      });
    } finally {
      ks?.dispose();
      for (const [key, value] of Object.entries(forced)) {
        if (value === undefined) delete process.env[`IVT_ATTN_${key}`];
        else process.env[`IVT_ATTN_${key}`] = value;
      }
      setAttentionPath('auto');
    }
  });
}

// f16 storage, f32 arithmetic: compared with float64 on the same f16-rounded inputs, so the
// only error left is the f16 rounding of the outputs and gradients (relative ~1e-3).
for (const c of [cases[1]!, cases[2]!, cases[4]!]) {
  test(`attention f16 storage ${c.name}, forward and backward`, async () => {
    if (!rt().dev.hasF16) {
      console.log('  (adapter has no shader-f16: f16 attention must refuse clearly)');
      assert.throws(() => attention(E.fromArray([0, 0, 0, 0], [1, 1, 4]), E.fromArray([0, 0, 0, 0], [1, 1, 4], 'i32'), E.fromArray([0, 0, 0, 0], [1, 1, 4]), { heads: 1, causal: true }), /f32 or f16|like q/);
      return;
    }
    const D = c.H * c.hd;
    const h16 = (x: Float64Array) => Float64Array.from(Float16Array.from(x));
    const q = h16(randn(c.B * c.Tq * D)), k = h16(randn(c.B * c.Tk * D)), v = h16(randn(c.B * c.Tk * D));
    const R = h16(randn(c.B * c.Tq * D));
    const opt = { causal: c.causal, qPos0: c.qPos0, keyStart: c.keyStart };
    const want = ref.attention(q, k, v, c.B, c.Tq, c.Tk, D, c.H, opt).out;
    const [wq, wk, wv] = ref.attentionGrads(q, k, v, R, c.B, c.Tq, c.Tk, D, c.H, opt);
    const ks = c.keyStart ? E.fromArray(c.keyStart, [c.B], 'i32') : null;
    try { // outputs are poisoned (setup) before every kernel writes them
      const Q = E.fromArray(q, [c.B, c.Tq, D], 'f16'), K = E.fromArray(k, [c.B, c.Tk, D], 'f16'), V = E.fromArray(v, [c.B, c.Tk, D], 'f16');
      for (const t of [Q, K, V]) t.requiresGrad = true;
      const out = attention(Q, K, V, { heads: c.H, causal: c.causal, qPos0: c.qPos0, keyStart: ks });
      assert.is(out.dtype, 'f16');
      close(await out.toArray(), want, 1e-2, 1e-3, `${c.name} f16 forward`);
      // loss = sum(out * R): its gradient with respect to out is R.
      E.backward(E.sum(E.reshape(E.mul(E.cast(out, 'f32'), E.fromArray(R, [c.B, c.Tq, D])), [c.B * c.Tq * D]), 0));
      for (const [t, w, n] of [[Q, wq, 'dq'], [K, wk, 'dk'], [V, wv, 'dv']] as const) {
        assert.is(t.grad!.dtype, 'f16', `${n} dtype`);
        close(await t.grad!.toArray(), w!, 2e-2, 3e-3, `${c.name} f16 ${n}`);
      }
      for (const t of [Q, K, V, out]) t.dispose();
    } finally {
      ks?.dispose();
    }
  });
}

test('packed qkv matches the reference, forward and backward', async () => {
  const B = 2, T = 9, H = 2, hd = 32, D = H * hd;
  await checkOp('packed', {
    inputs: [{ shape: [B, T, 3 * D] }],
    gpu: ([qkv]) => attentionPacked(qkv, { heads: H, causal: true }),
    ref: ([qkv]) => ref.attention(...splitQkv(qkv, B, T, D), B, T, T, D, H, { causal: true, qPos0: 0 }).out,
    refGrad: ([qkv], R) => {
      const [dq, dk, dv] = ref.attentionGrads(...splitQkv(qkv, B, T, D), R, B, T, T, D, H, { causal: true, qPos0: 0 });
      const out = new Float64Array(qkv.length);
      for (let r = 0; r < B * T; r++) for (let d = 0; d < D; d++) {
        out[r * 3 * D + d] = dq[r * D + d];
        out[r * 3 * D + D + d] = dk[r * D + d];
        out[r * 3 * D + 2 * D + d] = dv[r * D + d];
      }
      return [out];
    },
    rtol: 1e-4, gradRtol: 3e-4,
  });
});

test('gradients flow through keys and values concatenated from an earlier pass (graph KV cache)', async () => {
  // Pass 1 produces k1, v1 for 6 positions; pass 2 attends from 3 new queries over cache + 3 new keys.
  const B = 2, H = 2, hd = 32, D = H * hd, T1 = 6, T2 = 3;
  await checkOp('cache chain', {
    inputs: [{ shape: [B, T1, D] }, { shape: [B, T1, D] }, { shape: [B, T2, D] }, { shape: [B, T2, D] }, { shape: [B, T2, D] }],
    gpu: ([k1, v1, q2, k2, v2]) =>
      attention(q2, E.concat([k1, k2], 1), E.concat([v1, v2], 1), { heads: H, causal: true, qPos0: T1 }),
    ref: ([k1, v1, q2, k2, v2]) => {
      const cat = (a: Float64Array, b: Float64Array) => ref.concatAxis([a, b], [[B, T1, D], [B, T2, D]], 1);
      return ref.attention(q2, cat(k1, k2), cat(v1, v2), B, T2, T1 + T2, D, H, { causal: true, qPos0: T1 }).out;
    },
    refGrad: ([k1, v1, q2, k2, v2], R) => {
      const cat = (a: Float64Array, b: Float64Array) => ref.concatAxis([a, b], [[B, T1, D], [B, T2, D]], 1);
      const [dq, dk, dv] = ref.attentionGrads(q2, cat(k1, k2), cat(v1, v2), R, B, T2, T1 + T2, D, H, { causal: true, qPos0: T1 });
      const split = (g: Float64Array, first: boolean) => ref.sliceAxis(g, [B, T1 + T2, D], 1, first ? 0 : T1, first ? T1 : T1 + T2);
      return [split(dk, true), split(dv, true), dq, split(dk, false), split(dv, false)];
    },
    rtol: 1e-4, gradRtol: 3e-4, noFd: true,
  });
});

test('a cache buffer with spare capacity: only kvLen rows are attended', async () => {
  const B = 2, H = 2, hd = 32, D = H * hd, cap = 16, len = 10, Tq = 2;
  const q = randn(B * Tq * D), k = randn(B * cap * D), v = randn(B * cap * D);
  const got = await E.tidy(() => attention(gpu(q, [B, Tq, D]), gpu(k, [B, cap, D]), gpu(v, [B, cap, D]), { heads: H, causal: true, kvLen: len, qPos0: len - Tq })).toArray();
  const trim = (x: Float64Array) => Float64Array.from({ length: B * len * D }, (_, i) => x[Math.floor(i / (len * D)) * cap * D + (i % (len * D))]);
  const want = ref.attention(q, trim(k), trim(v), B, Tq, len, D, H, { causal: true, qPos0: len - Tq }).out;
  close(got, want, 1e-4, 1e-5, 'cache buffer');
});

// 14 queries run 2 rows per lane in the subgroup forward; 21 run 4, with the designated row
// (18) in a lane's third row rather than the last position. Both on the subgroup kernels and on
// the one-row-per-invocation kernel (what adapters without subgroups run). The third problem's
// padding reaches into its image window (keys from 3, image from 2): a masked image key scores 0.
for (const path of ['auto', 'simple'] as const) for (const [T, row] of [[14, 13], [21, 18]] as const) test(`accumulator (${T} queries, row ${row}, ${path} kernels): probabilities of the designated row onto the image keys, summed over heads and calls`, async () => {
  const B = 3, H = 3, hd = 32, D = H * hd, J = 6;
  const imgStart = [1, 4, 2], keyStart = [0, 2, 3];
  const qs = [randn(B * T * D), randn(B * T * D)], ks = [randn(B * T * D), randn(B * T * D)], vs = [randn(B * T * D), randn(B * T * D)];
  const acc = E.fromArray(new Int32Array(B * J), [B, J], 'i32');
  const img = E.fromArray(imgStart, [B], 'i32'), kst = E.fromArray(keyStart, [B], 'i32');
  setAttentionPath(path);
  try {
    for (let layer = 0; layer < 2; layer++) {
      E.tidy(() => attention(gpu(qs[layer], [B, T, D]), gpu(ks[layer], [B, T, D]), gpu(vs[layer], [B, T, D]),
        { heads: H, causal: true, keyStart: kst, accumulate: { acc, row, imgStart: img } }));
    }
  } finally {
    setAttentionPath('auto');
  }
  const got = Array.from(await acc.toArray(), (x) => x / 2 ** 24);
  const want = new Float64Array(B * J);
  for (let layer = 0; layer < 2; layer++) {
    const { probs } = ref.attention(qs[layer], ks[layer], vs[layer], B, T, T, D, H, { causal: true, qPos0: 0, keyStart });
    for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let j = 0; j < J; j++) {
      want[b * J + j] += probs[((b * H + h) * T + row) * T + imgStart[b] + j];
    }
  }
  assert.is(want[2 * J], 0, 'the masked image key has no share');
  close(got, want, 0, 2e-6, 'accumulated scores');
  for (const t of [acc, img, kst]) t.dispose();
});

test('accumulator: a unit that leaves room for every term, so a model of many layers and heads cannot overflow it', async () => {
  assert.is(accumulatorScale(1), 2 ** 24);
  assert.is(accumulatorScale(64), 2 ** 24); // every preset (at most 6 layers x 8 heads)
  assert.is(accumulatorScale(65), 2 ** 23);
  assert.is(accumulatorScale(28 * 28), 2 ** 20);
  // 200 softmaxes that all put (almost) everything on image key 0: 200 x 2^24 would wrap i32.
  const B = 1, T = 3, hd = 4, J = 2, terms = 200;
  const acc = E.fromArray(new Int32Array(B * J), [B, J], 'i32');
  const img = E.fromArray([0], [B], 'i32');
  const q = new Float64Array(T * hd).fill(0), k = new Float64Array(T * hd).fill(0), v = randn(T * hd);
  q.fill(30, (T - 1) * hd); // the last query ...
  k.fill(30, 0, hd); // ... matches key 0 far better than keys 1 and 2
  for (let t = 0; t < terms; t++) {
    E.tidy(() => attention(gpu(q, [B, T, hd]), gpu(k, [B, T, hd]), gpu(v, [B, T, hd]), { heads: 1, causal: true, accumulate: { acc, row: T - 1, imgStart: img, terms } }));
  }
  const got = Array.from(await acc.toArray(), (x) => x / accumulatorScale(terms));
  assert.ok(Math.abs(got[0]! - terms) < 1e-3 && got[1]! >= 0 && got[1]! < 1e-3, `summed scores ${got}`);
  for (const t of [acc, img]) t.dispose();
});

test('bad shapes get clear errors', () => {
  E.tidy(() => {
    assert.throws(() => attention(E.zeros([2, 3, 30]), E.zeros([2, 3, 30]), E.zeros([2, 3, 30]), { heads: 4, causal: true }), /not divisible by 4 heads/);
    assert.throws(() => attention(E.zeros([2, 3, 32]), E.zeros([2, 4, 32]), E.zeros([2, 5, 32]), { heads: 1, causal: true }), /do not agree/);
  });
});

test('the default key start, cached across calls, stays valid for a graph that saved it when a larger batch replaces the cache', async () => {
  const D = 8;
  const x = (B: number) => { const t = E.fromArray(randn(B * 3 * D), [B, 3, D]); t.requiresGrad = true; return t; };
  const a = x(2), b = x(70); // 70 rows: more than the cached 64
  const ya = E.attention(a, a, a, { heads: 1, causal: true });
  const yb = E.attention(b, b, b, { heads: 1, causal: true });
  E.backward(E.add(E.sumAll(ya), E.sumAll(yb)));
  assert.ok(a.grad && b.grad, 'both gradients computed');
  assert.ok(Array.from(await a.grad!.toArray()).every(Number.isFinite));
});

test.run();
