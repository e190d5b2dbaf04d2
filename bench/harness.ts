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
  const minSample = opts.minSampleMs ?? 30;
  const r = rt();
  // Warm-up (pipeline compilation, pool growth) and calibration.
  launch();
  await r.sync();
  let t = performance.now();
  launch();
  await r.sync();
  const once = Math.max(performance.now() - t, 1e-3);
  const inner = Math.max(1, Math.min(opts.maxInner ?? 200, Math.ceil(minSample / once)));
  const per: number[] = [];
  for (let s = 0; s < samples; s++) {
    t = performance.now();
    for (let i = 0; i < inner; i++) launch();
    await r.sync();
    per.push((performance.now() - t) / inner);
  }
  per.sort((a, b) => a - b);
  return { ms_median: per[Math.floor(per.length / 2)], ms_min: per[0], samples };
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
