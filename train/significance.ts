// How much an accuracy measured on n questions can be trusted, and whether one model beats
// another on the same questions. The demo's stage-by-stage figures differ by a handful of
// questions near 100%, where a plain percentage says nothing about noise.

/** Wilson score interval for k successes in n trials (z = 1.96: 95%). Stays inside [0, 1] at 0% and 100%, unlike the normal approximation. */
export function wilsonInterval(k: number, n: number, z = 1.96): [number, number] {
  if (!Number.isInteger(k) || !Number.isInteger(n) || n < 0 || k < 0 || k > n) throw new RangeError(`wilsonInterval: need integers 0 <= k <= n, got k=${k}, n=${n}`);
  if (n === 0) return [0, 1];
  const p = k / n, z2 = z * z;
  const centre = (p + z2 / (2 * n)) / (1 + z2 / n);
  const half = (z / (1 + z2 / n)) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  return [Math.max(0, centre - half), Math.min(1, centre + half)];
}

/** log of n choose k, summed in logs so that n in the thousands does not overflow. */
function logChoose(n: number, k: number): number {
  let s = 0;
  for (let i = 1; i <= k; i++) s += Math.log(n - k + i) - Math.log(i);
  return s;
}

/**
 * Exact two-sided McNemar test for paired right/wrong outcomes: of the questions exactly one
 * model gets right, `onlyA` are A's and `onlyB` are B's; under "no difference" each such
 * question is a fair coin. Returns the two-sided p-value (1 when there are no discordant pairs).
 */
export function mcnemarExact(onlyA: number, onlyB: number): number {
  const n = onlyA + onlyB;
  if (n === 0) return 1;
  const k = Math.min(onlyA, onlyB);
  let tail = 0;
  for (let i = 0; i <= k; i++) tail += Math.exp(logChoose(n, i) - n * Math.LN2);
  return Math.min(1, 2 * tail);
}

export interface PairedComparison {
  /** Questions only the earlier model answers right, and only the later one. */
  onlyEarlier: number;
  onlyLater: number;
  /** Later accuracy minus earlier, in points (percent). */
  deltaPoints: number;
  p: number;
  verdict: 'rises' | 'holds' | 'falls';
}

/** Compares two models' per-question outcomes on the same questions, in the same order. */
export function comparePaired(earlier: boolean[], later: boolean[]): PairedComparison {
  if (earlier.length !== later.length) throw new RangeError(`comparePaired: ${earlier.length} outcomes against ${later.length}; both must score the same questions`);
  let onlyEarlier = 0, onlyLater = 0;
  for (let i = 0; i < earlier.length; i++) {
    if (earlier[i] && !later[i]) onlyEarlier++;
    else if (later[i] && !earlier[i]) onlyLater++;
  }
  const deltaPoints = earlier.length ? (100 * (onlyLater - onlyEarlier)) / earlier.length : 0;
  return { onlyEarlier, onlyLater, deltaPoints, p: mcnemarExact(onlyEarlier, onlyLater), verdict: onlyLater > onlyEarlier ? 'rises' : onlyLater < onlyEarlier ? 'falls' : 'holds' };
}
