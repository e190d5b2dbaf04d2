// Fused AdamW over parameter arenas, against a float64 reference, with clipping and the
// non-finite guard.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as E from '../../engine/index.js';
import { close, gpu, randn, setup } from '../helpers.js';

test.before(setup);

function adamRef(w: Float64Array, grads: Float64Array[], o: { lr: number; b1: number; b2: number; eps: number; wd: number; clip: number }, normOf: (i: number) => number): Float64Array {
  const m = new Float64Array(w.length), v = new Float64Array(w.length), x = Float64Array.from(w);
  grads.forEach((g, t) => {
    const norm = normOf(t);
    const s = o.clip > 0 && norm > o.clip ? o.clip / (norm + 1e-6) : 1;
    for (let i = 0; i < x.length; i++) {
      const gi = g[i] * s;
      m[i] = o.b1 * m[i] + (1 - o.b1) * gi;
      v[i] = o.b2 * v[i] + (1 - o.b2) * gi * gi;
      const mh = m[i] / (1 - o.b1 ** (t + 1)), vh = v[i] / (1 - o.b2 ** (t + 1));
      x[i] -= o.lr * (mh / (Math.sqrt(vh) + o.eps) + o.wd * x[i]);
    }
  });
  return x;
}

test('AdamW with decay groups and global-norm clipping matches the reference over 3 steps', async () => {
  const o = { lr: 0.01, b1: 0.9, b2: 0.99, eps: 1e-8, wd: 0.1, clip: 0.5 };
  const wA = randn(37 * 5), wB = randn(13); // A: matrix (decayed), B: vector (no decay)
  const A = gpu(wA, [37, 5], true), B = gpu(wB, [13], true);
  A.name = 'A'; B.name = 'B';
  const opt = new E.AdamW([A, B], { lr: o.lr, beta1: o.b1, beta2: o.b2, eps: o.eps, weightDecay: o.wd, maxGradNorm: o.clip });
  const gA: Float64Array[] = [], gB: Float64Array[] = [];
  for (let t = 0; t < 3; t++) {
    const ga = randn(wA.length), gb = randn(wB.length);
    gA.push(ga); gB.push(gb);
    opt.zeroGrad();
    // Feed exact gradients through backward of sum(A * ga) + sum(B * gb).
    E.tidy(() => E.backward(E.add(E.sumAll(E.mul(A, gpu(ga, [37, 5]))), E.sumAll(E.mul(B, gpu(gb, [13]))))));
    opt.update();
  }
  const norms = gA.map((ga, t) => Math.sqrt([...ga, ...gB[t]].reduce((s, x) => s + x * x, 0)));
  close(await A.toArray(), adamRef(wA, gA, o, (t) => norms[t]), 1e-4, 1e-6, 'A');
  close(await B.toArray(), adamRef(wB, gB, { ...o, wd: 0 }, (t) => norms[t]), 1e-4, 1e-6, 'B');
  close(await opt.gradNorm.toArray(), [norms[2]], 1e-5, 1e-6, 'reported grad norm');
  opt.destroy();
});

test('AdamW on a parameter larger than one pass of the norm kernel, with the clip off and with a limit above the norm', async () => {
  // 20011 elements: the sum of squares strides over the arena in passes of 64 x 256, so this
  // takes two passes; the gradient norm (about 141) stays below the limit in the second case.
  for (const clip of [0, 1e6]) {
    const o = { lr: 0.003, b1: 0.9, b2: 0.999, eps: 1e-8, wd: 0.01, clip };
    const w = randn(20011);
    const A = gpu(w, [20011, 1], true);
    A.name = 'A';
    const opt = new E.AdamW([A], { lr: o.lr, beta1: o.b1, beta2: o.b2, eps: o.eps, weightDecay: o.wd, maxGradNorm: clip, decay: () => true });
    const gs: Float64Array[] = [];
    for (let t = 0; t < 2; t++) {
      const g = randn(w.length);
      gs.push(g);
      opt.zeroGrad();
      E.tidy(() => E.backward(E.sumAll(E.mul(A, gpu(g, [20011, 1])))));
      opt.update();
    }
    const norms = gs.map((g) => Math.sqrt(g.reduce((s, x) => s + x * x, 0)));
    close(await A.toArray(), adamRef(w, gs, o, (t) => norms[t]!), 1e-4, 1e-6, `clip ${clip}`);
    close(await opt.gradNorm.toArray(), [norms[1]!], 1e-5, 1e-6, `reported grad norm, clip ${clip}`);
    opt.destroy();
  }
});

test("the optimizer's arenas come from the tensor pool: counted in use while it lives, destroyed with it", async () => {
  const A = gpu(randn(37 * 5), [37, 5], true), B = gpu(randn(13), [13], true);
  await E.rt().sync();
  const before = E.rt().stats().pool;
  const opt = new E.AdamW([A, B], { lr: 0.01 });
  await E.rt().sync();
  const during = E.rt().stats().pool;
  // Two arenas (decayed A: 185 elements padded to 192; B: 13 padded to 64), four buffers each.
  const arenaBytes = 4 * (192 + 64) * 4;
  assert.ok(during.allocatedBytes - before.allocatedBytes >= arenaBytes, `allocated grew by ${during.allocatedBytes - before.allocatedBytes}`);
  opt.destroy();
  await E.rt().sync();
  const after = E.rt().stats().pool;
  assert.is(during.allocatedBytes - after.allocatedBytes, arenaBytes, 'the arenas are destroyed');
  assert.ok(during.inUseBytes - after.inUseBytes >= arenaBytes, 'and no longer in use');
});

test('gradients in the arena: the first contribution after zeroGrad is copied, later ones add, untouched ones stay zero', async () => {
  const A = gpu(randn(6 * 7), [6, 7], true), B = gpu(randn(9), [9], true);
  A.name = 'A'; B.name = 'B';
  const opt = new E.AdamW([A, B], { lr: 0.01 });
  const g1 = randn(42), g2 = randn(42), g3 = randn(42);
  // Stale values from an earlier step, so a copy that went missing or an add onto them shows.
  E.tidy(() => E.backward(E.add(E.sumAll(E.mul(A, gpu(g3, [6, 7]))), E.sumAll(B))));
  opt.zeroGrad();
  E.tidy(() => E.backward(E.sumAll(E.mul(A, gpu(g1, [6, 7])))));
  close(await A.grad!.toArray(), g1, 1e-6, 0, 'first contribution');
  E.tidy(() => E.backward(E.sumAll(E.mul(A, gpu(g2, [6, 7])))));
  close(await A.grad!.toArray(), Array.from(g1, (x, i) => x + g2[i]!), 1e-6, 1e-7, 'accumulated');
  close(await B.grad!.toArray(), new Array(9).fill(0), 0, 0, 'not reached: zero');
  opt.destroy();
});

test('a non-finite gradient norm skips the update and is reported', async () => {
  const w = randn(19);
  const P = gpu(w, [19], true);
  const opt = new E.AdamW([P], { lr: 0.1, maxGradNorm: 1 });
  const g = randn(19);
  g[3] = NaN;
  E.tidy(() => E.backward(E.sumAll(E.mul(P, gpu(g, [19])))));
  opt.update();
  close(await P.toArray(), w, 1e-7, 0, 'weights untouched');
  assert.ok(Number.isNaN((await opt.gradNorm.toArray())[0]));
  opt.destroy();
});

test('exportState / importState round-trip the moments', async () => {
  const P = gpu(randn(70), [7, 10], true);
  P.name = 'P';
  const opt = new E.AdamW([P], { lr: 0.01 });
  E.tidy(() => E.backward(E.sumAll(E.mul(P, P))));
  opt.update();
  const st = await opt.exportState();
  opt.resetState();
  opt.importState(1, st);
  const again = await opt.exportState();
  close(again.get(P)!.m, st.get(P)!.m, 0, 0, 'm');
  close(again.get(P)!.v, st.get(P)!.v, 0, 0, 'v');
  opt.destroy();
});

test('a parameter given twice is refused, named or not', () => {
  const p = E.fromArray([1, 2, 3], [3]);
  p.requiresGrad = true;
  assert.throws(() => new E.AdamW([p, p], { lr: 1e-3 }), /AdamW: parameter #\d+ \[3\] is given twice/);
  p.dispose();
});

test.run();
