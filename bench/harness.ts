// Timing for GPU work: warm up, then samples of `inner` launches followed by a full GPU sync;
// the figure is the median over samples of (sample wall time / inner). `inner` is picked so
// that a sample lasts at least ~minSampleMs, making the sync's ~0.2 ms negligible.
import { rt } from '../engine/tensor.js';

export interface Timing {
  ms_median: number;
  ms_min: number;
  samples: number;
}

export async function timeGpu(launch: () => void, opts: { samples?: number; minSampleMs?: number; maxInner?: number } = {}): Promise<Timing> {
  const samples = opts.samples ?? 7;
  const sample = await ourSampler(launch, opts.minSampleMs ?? 30, opts.maxInner ?? 200);
  const per: number[] = [];
  for (let s = 0; s < samples; s++) per.push(await sample());
  per.sort((a, b) => a - b);
  return { ms_median: per[Math.floor(per.length / 2)], ms_min: per[0], samples };
}

/**
 * Two launches compared under drift: on a shared, software-rendered machine two separately
 * taken medians drift apart by more than a few percent. Each pair times both back to back
 * (order alternating, so a trend favours neither); the figures are the medians of the pairs'
 * differences (b - a) and ratios (b / a), with quartiles as the spread.
 */
export async function timePaired(a: () => void, b: () => void, opts: { pairs?: number; inner?: number } = {}): Promise<{ a: Timing; b: Timing; diff_median: number; diff_q1: number; diff_q3: number; ratio_median: number; ratio_q1: number; ratio_q3: number; pairs: number }> {
  const pairs = opts.pairs ?? 31;
  const inner = opts.inner ?? 2;
  const r = rt();
  const once = async (f: () => void): Promise<number> => {
    const t = performance.now();
    for (let i = 0; i < inner; i++) f();
    await r.sync();
    return (performance.now() - t) / inner;
  };
  await once(a);
  await once(b);
  const ta: number[] = [], tb: number[] = [], d: number[] = [], ratio: number[] = [];
  for (let i = 0; i < pairs; i++) {
    let x: number, y: number;
    if (i % 2 === 0) { x = await once(a); y = await once(b); } else { y = await once(b); x = await once(a); }
    ta.push(x); tb.push(y); d.push(y - x); ratio.push(y / x);
  }
  const q = (xs: number[], f: number) => [...xs].sort((x, y) => x - y)[Math.floor(f * (xs.length - 1))]!;
  const timing = (xs: number[]): Timing => ({ ms_median: q(xs, 0.5), ms_min: Math.min(...xs), samples: xs.length });
  return { a: timing(ta), b: timing(tb), diff_median: q(d, 0.5), diff_q1: q(d, 0.25), diff_q3: q(d, 0.75), ratio_median: q(ratio, 0.5), ratio_q1: q(ratio, 0.25), ratio_q3: q(ratio, 0.75), pairs };
}

/** Same protocol for an async peer (e.g. TensorFlow.js, synchronised by reading a value). */
export async function timeAsync(run: () => Promise<void>, opts: { samples?: number } = {}): Promise<Timing> {
  const samples = opts.samples ?? 7;
  await run();
  await run();
  const per: number[] = [];
  for (let s = 0; s < samples; s++) {
    const t = performance.now();
    await run();
    per.push(performance.now() - t);
  }
  per.sort((a, b) => a - b);
  return { ms_median: per[Math.floor(per.length / 2)], ms_min: per[0], samples };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/**
 * One sample of `launch` at a time (ms per launch): `inner` launches, then one sync. A warm-up
 * launch first (pipeline compilation, pool growth), then one timed to pick `inner` so that a
 * sample lasts at least minSampleMs. timeGpu's samples, and this engine's half of a pairing
 * with a peer.
 */
export async function ourSampler(launch: () => void, minSampleMs = 30, maxInner = 200): Promise<() => Promise<number>> {
  const r = rt();
  launch();
  await r.sync();
  const t = performance.now();
  launch();
  await r.sync();
  const once = Math.max(performance.now() - t, 1e-3);
  const inner = Math.max(1, Math.min(maxInner, Math.ceil(minSampleMs / once)));
  return async () => {
    const t0 = performance.now();
    for (let i = 0; i < inner; i++) launch();
    await r.sync();
    return (performance.now() - t0) / inner;
  };
}
