// Wilson intervals and the exact McNemar test behind the demo's stage-by-stage comparison,
// against published values and an exact big-integer binomial sum.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { comparePaired, mcnemarExact, wilsonInterval } from '../../train/significance.js';

const close = (a: number, b: number, tol: number, what: string) => assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b}`);

test('Wilson interval matches published values, including 0 and n successes', () => {
  // 8 of 10 at 95%: 0.4902..0.9433 (Newcombe 1998, method 3).
  const [lo, hi] = wilsonInterval(8, 10);
  close(lo, 0.4902, 1e-4, 'lower'); close(hi, 0.9433, 1e-4, 'upper');
  const [lo0, hi0] = wilsonInterval(0, 10);
  assert.is(lo0, 0); close(hi0, 0.2775, 1e-4, 'upper at 0/10');
  const [lo1, hi1] = wilsonInterval(10, 10);
  close(lo1, 0.7225, 1e-4, 'lower at 10/10'); assert.is(hi1, 1);
  // Symmetry: k of n and n-k of n mirror each other.
  const [a, b] = wilsonInterval(13, 997), [c, d] = wilsonInterval(984, 997);
  close(a, 1 - d, 1e-12, 'mirror lower'); close(b, 1 - c, 1e-12, 'mirror upper');
  assert.throws(() => wilsonInterval(11, 10), /k=11, n=10/);
});

function exactTwoSided(onlyA: number, onlyB: number): number {
  const n = onlyA + onlyB, k = Math.min(onlyA, onlyB);
  let c = 1n, tail = 0n;
  for (let i = 0; i <= k; i++) {
    tail += c;
    c = (c * BigInt(n - i)) / BigInt(i + 1);
  }
  const p = (2 * Number((tail * 10n ** 15n) / 2n ** BigInt(n))) / 1e15;
  return Math.min(1, p);
}

test('exact McNemar p-value agrees with a big-integer binomial sum', () => {
  close(mcnemarExact(1, 9), 2 * 11 / 1024, 1e-15, '1 vs 9');
  assert.is(mcnemarExact(0, 0), 1);
  assert.is(mcnemarExact(5, 5), 1);
  for (const [a, b] of [[3, 17], [17, 3], [40, 61], [0, 12], [250, 310], [2, 1500]]) {
    const p = mcnemarExact(a, b), ref = exactTwoSided(a, b);
    assert.ok(Math.abs(p - ref) <= 1e-9 * Math.max(ref, 1e-300) + 1e-15, `${a} vs ${b}: ${p} vs ${ref}`);
  }
});

test('paired comparison counts discordant questions and names the direction', () => {
  const earlier = [true, true, false, false, true, false, true];
  const later = [true, false, true, true, true, true, true];
  const r = comparePaired(earlier, later);
  assert.is(r.onlyEarlier, 1); assert.is(r.onlyLater, 3);
  close(r.deltaPoints, (100 * 2) / 7, 1e-12, 'delta');
  assert.is(r.verdict, 'rises');
  close(r.p, mcnemarExact(1, 3), 0, 'p');
  assert.is(comparePaired(later, earlier).verdict, 'falls');
  assert.is(comparePaired(earlier, earlier).verdict, 'holds');
  assert.throws(() => comparePaired([true], [true, false]), /1 outcomes against 2/);
});

test.run();
