// The tape: accumulation across uses and across backward calls, no-grad mode, and that
// backward releases every intermediate (in-use pool bytes return to where they started).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as E from '../../engine/index.js';
import { rt } from '../../engine/tensor.js';
import { close, gpu, randn, setup } from '../helpers.js';

test.before(setup);

test('a tensor used twice gets the sum of both gradients', async () => {
  const x = randn(11);
  const t = gpu(x, [11], true);
  E.tidy(() => E.backward(E.sumAll(E.add(E.mul(t, t), t)))); // d/dx (x^2 + x) = 2x + 1
  close(await t.grad!.toArray(), x.map((v) => 2 * v + 1), 1e-5, 1e-6, 'grad');
  t.dispose();
});

// 7 elements: the scalar accumulation kernel; 12: its vec4 form. Random weights make every
// element's gradient different, so a lane added into the wrong place shows.
for (const n of [7, 12]) test(`backward twice accumulates into .grad (${n} elements)`, async () => {
  const x = randn(n), c1 = randn(n), c2 = randn(n);
  const t = gpu(x, [n], true);
  E.tidy(() => E.backward(E.sumAll(E.mul(t, gpu(c1, [n])))));
  E.tidy(() => E.backward(E.sumAll(E.mul(t, gpu(c2, [n])))));
  close(await t.grad!.toArray(), c1.map((v, i) => v + c2[i]!), 1e-6, 1e-6, 'accumulated grad');
  t.dispose();
});

test('noGrad records nothing', () => {
  const t = gpu(randn(5), [5], true);
  E.tidy(() => {
    const y = E.noGrad(() => E.exp(t));
    assert.is(y.requiresGrad, false);
    assert.is(y.node, null);
    assert.throws(() => E.backward(E.sumAll(y)), /does not require grad/);
  });
  t.dispose();
});

test('intermediates are freed: in-use bytes return to the baseline after a step', async () => {
  const w = gpu(randn(64 * 48), [64, 48], true);
  const x = gpu(randn(37 * 64), [37, 64]);
  const step = () =>
    E.tidy(() => {
      const h = E.gelu(E.matmul(x, w));
      const loss = E.sumAll(E.softmax(h));
      E.backward(loss);
    });
  step(); // first step allocates w.grad, which persists
  await rt().sync();
  const base = rt().stats().pool.inUseBytes;
  const live = E.liveTensorCount();
  for (let i = 0; i < 20; i++) step();
  await rt().sync();
  assert.is(rt().stats().pool.inUseBytes, base, 'in-use bytes grew across steps');
  assert.is(E.liveTensorCount(), live, 'live tensors grew across steps');
  w.dispose();
  x.dispose();
});

test('a node reached by two paths is processed once, after both contributions', async () => {
  // y = exp(x); z = y * y + y  => dz/dx = (2y + 1) * y
  const x = randn(9, 0.5);
  const t = gpu(x, [9], true);
  E.tidy(() => {
    const y = E.exp(t);
    E.backward(E.sumAll(E.add(E.mul(y, y), y)));
  });
  close(await t.grad!.toArray(), x.map((v) => (2 * Math.exp(v) + 1) * Math.exp(v)), 1e-5, 1e-6, 'grad');
  t.dispose();
});

test('backward through a graph an earlier backward released is refused by name; a seed must match the loss', async () => {
  const x = E.fromArray([1, 2, 3, 4], [4]), w = E.fromArray([1, 1, 1, 1], [4]);
  w.requiresGrad = true;
  const y = E.mul(x, w);
  E.backward(E.sumAll(E.mul(y, y)));
  assert.equal(Array.from(await w.grad!.toArray()), [2, 8, 18, 32]);
  // y kept its value but not its graph: another backward through it would give w nothing.
  assert.throws(() => E.backward(E.sumAll(y)), /tensor #\d+ \[4\] \(made by mul\) belongs to a graph an earlier backward\(\) already went through/);
  assert.equal(Array.from(await w.grad!.toArray()), [2, 8, 18, 32], 'nothing ran');
  assert.is(y.grad, null, 'no gradient given to an intermediate');
  const z = E.sumAll(E.mul(x, w));
  assert.throws(() => E.backward(z, E.fromArray([1, 2, 3], [3])), /the seed is f32 \[3\], the loss f32 \[\]; they must match/);
  for (const t of [x, w, y]) t.dispose();
});

test.run();
