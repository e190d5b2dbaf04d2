// Rotary position embedding against a float64 reference: odd sizes, arbitrary positions (as in
// incremental passes on a KV cache), forward, backward and finite differences; and the
// property that makes it useful: q.k after rotation depends only on the position offset.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as E from '../../engine/index.js';
import { checkOp, close, randn, setup } from '../helpers.js';

test.before(setup);

function ropeRef(x: Float64Array, pos: number[], rows: number, D: number, hd: number, base = 10000): Float64Array {
  const y = Float64Array.from(x);
  const half = hd / 2;
  for (let r = 0; r < rows; r++) for (let part = 0; part < 2; part++) for (let h = 0; h < D / hd; h++) {
    const o = r * 3 * D + part * D + h * hd;
    for (let i = 0; i < half; i++) {
      const a = pos[r] * Math.pow(base, (-2 * i) / hd);
      const x1 = x[o + i], x2 = x[o + i + half];
      y[o + i] = x1 * Math.cos(a) - x2 * Math.sin(a);
      y[o + i + half] = x2 * Math.cos(a) + x1 * Math.sin(a);
    }
  }
  return y;
}

// Head dims 6 and 10 run the scalar kernel; 8, 16 and 24 (multiples of 8) the vec4 one.
for (const [B, T, H, hd] of [[2, 7, 3, 6], [1, 5, 2, 16], [3, 3, 1, 10], [3, 5, 3, 8], [1, 7, 2, 24]]) {
  test(`rope B=${B} T=${T} heads=${H} hd=${hd}: forward, backward, finite differences`, async () => {
    const D = H * hd;
    const pos = Array.from({ length: B * T }, (_, i) => (i * 7 + 3) % 53);
    const P = E.fromArray(pos, [B, T], 'i32');
    await checkOp('rope', {
      inputs: [{ shape: [B, T, 3 * D] }],
      gpu: ([x]) => E.rope(x, P, { heads: H }),
      ref: ([x]) => ropeRef(x, pos, B * T, D, hd),
      rtol: 1e-5, atol: 2e-6,
    });
    P.dispose();
  });
}

// Head dim 8 takes the vec4 kernel, 6 the scalar one: each computes its own far angles.
for (const hd of [8, 6]) test(`positions past the precomputed table (computed in the kernel, f32 angles), head dim ${hd}`, async () => {
  const B = 1, T = 6, H = 2, D = H * hd;
  const pos = [2045, 2046, 2047, 2048, 2049, 3000];
  const P = E.fromArray(pos, [B, T], 'i32');
  // f32 angles near 3000 rad carry ~1e-4 absolute error: a looser tolerance than the table's.
  await checkOp('rope far', {
    inputs: [{ shape: [B, T, 3 * D] }],
    gpu: ([x]) => E.rope(x, P, { heads: H }),
    ref: ([x]) => ropeRef(x, pos, B * T, D, hd),
    rtol: 1e-3, atol: 1e-3, gradRtol: 1e-3, noFd: true,
  });
  P.dispose();
});

test('after rope, a query-key score depends only on their offset', async () => {
  const H = 2, hd = 8, D = H * hd;
  const row = randn(3 * D);
  const x = new Float64Array(4 * 3 * D);
  for (let r = 0; r < 4; r++) x.set(row, r * 3 * D); // the same q and k at four positions
  const pos = [3, 5, 40, 42];
  const P = E.fromArray(pos, [1, 4], 'i32');
  const y = await E.tidy(() => E.rope(E.fromArray(Float32Array.from(x), [1, 4, 3 * D]), P, { heads: H })).toArray();
  const dot = (qr: number, kr: number) => {
    let s = 0;
    for (let d = 0; d < hd; d++) s += y[qr * 3 * D + d] * y[kr * 3 * D + D + d];
    return s;
  };
  // Offsets 2 (5 - 3 and 42 - 40) give the same score; the v part is untouched.
  close([dot(1, 0)], [dot(3, 2)], 1e-4, 1e-5, 'score at offset 2');
  assert.ok(Math.abs(dot(1, 0) - dot(2, 0)) > 1e-3, 'a different offset should give a different score');
  close(Array.from(y.slice(2 * D, 3 * D)), Array.from(row.slice(2 * D, 3 * D)), 1e-6, 1e-6, 'v unchanged');
  P.dispose();
});

test('rope refuses bad shapes and positions clearly', () => {
  const x = E.fromArray(new Float32Array(2 * 3 * 12), [1, 2, 36]);
  assert.throws(() => E.rope(x, E.fromArray([0, 1, 2], [3], 'i32'), { heads: 2 }), /positions must be i32 with 2 entries/);
  assert.throws(() => E.rope(x, E.fromArray([0, 1], [2], 'i32'), { heads: 5 }), /not divisible by 5 heads/);
  x.dispose();
});

test.run();
