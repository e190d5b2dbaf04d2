// The adapter's FMA peak, measured with a register-only microkernel in the same run as the
// kernels it is the denominator for (shaders/fma_peak.wgsl).
import { rt } from '../engine/tensor.js';
import { timeGpu } from './harness.js';
import type { PairedPeak } from './common.js';

/**
 * The peak microkernel's dispatch, the same one measureFmaPeak times (256 workgroups, 4096
 * iterations: ~0.5 s here). Smaller dispatches measured well below it (a 32-workgroup, 256-
 * iteration one at 69 GFLOP/s against 119 for this one, same process), which would flatter
 * any kernel divided by them. `release` returns its buffer to the pool.
 */
export function fmaPeakLaunch(): { launch: () => void; flops: number; release: () => void } {
  const r = rt();
  const WG = Math.min(256, r.dev.limits.maxComputeInvocationsPerWorkgroup, r.dev.limits.maxComputeWorkgroupSizeX);
  const groups = 256;
  const iters = 4096;
  const out = r.pool.acquire(groups * WG * 4);
  const k = r.kernel('fma_peak', { WG });
  return {
    launch: () => r.dispatch(k, [{ buffer: out }], [iters, 0, 0, 0], [groups]),
    flops: groups * WG * iters * 256,
    release: () => r.pool.release(out),
  };
}

export async function measureFmaPeak(): Promise<{ gflops: number; ms: number }> {
  const peak = fmaPeakLaunch();
  try {
    const t = await timeGpu(peak.launch, { samples: 7 });
    return { gflops: peak.flops / (t.ms_median * 1e6), ms: t.ms_median };
  } finally {
    peak.release();
  }
}

/**
 * A kernel's share of the FMA peak, with the two timed in alternating pairs. This machine's
 * speed drifts by tens of percent within a run (peaks of 68-131 GFLOP/s were measured on the
 * same adapter), so a peak measured once at the start is not a fair denominator for a kernel
 * timed minutes later; within a pair both see the same machine. Each half of a pair runs for
 * at least `minSampleMs` (the peak's dispatch alone takes longer); the order alternates.
 */
export async function timeAgainstPeak(launch: () => void, flops: number, opts: { pairs?: number; minSampleMs?: number } = {}): Promise<PairedPeak> {
  const pairs = opts.pairs ?? 9;
  const minSample = opts.minSampleMs ?? 20;
  const r = rt();
  const peak = fmaPeakLaunch();
  const once = async (f: () => void, inner: number): Promise<number> => {
    const t = performance.now();
    for (let i = 0; i < inner; i++) f();
    await r.sync();
    return (performance.now() - t) / inner;
  };
  try {
    // Warm-up (pipeline compilation, pool growth), then how many launches fill a sample.
    await once(launch, 1);
    await once(peak.launch, 1);
    const innerFor = (ms: number) => Math.max(1, Math.min(200, Math.ceil(minSample / Math.max(ms, 1e-3))));
    const innerK = innerFor(await once(launch, 1));
    const innerP = innerFor(await once(peak.launch, 1));
    const kernelMs: number[] = [], peakGflops: number[] = [], pct: number[] = [];
    for (let i = 0; i < pairs; i++) {
      let k: number, p: number;
      if (i % 2 === 0) { k = await once(launch, innerK); p = await once(peak.launch, innerP); } else { p = await once(peak.launch, innerP); k = await once(launch, innerK); }
      kernelMs.push(k);
      peakGflops.push(peak.flops / (p * 1e6));
      pct.push((100 * (flops / k)) / (peak.flops / p));
    }
    const q = (xs: number[], f: number) => [...xs].sort((x, y) => x - y)[Math.floor(f * (xs.length - 1))]!;
    return { kernel_ms: q(kernelMs, 0.5), peak_gflops: q(peakGflops, 0.5), pct_median: q(pct, 0.5), pct_q1: q(pct, 0.25), pct_q3: q(pct, 0.75), pairs };
  } finally {
    peak.release();
  }
}
