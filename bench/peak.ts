// The adapter's FMA peak, measured with a register-only microkernel in the same run as the
// kernels it is the denominator for (shaders/fma_peak.wgsl).
import { rt } from '../engine/tensor.js';
import { timeGpu } from './harness.js';

export async function measureFmaPeak(): Promise<{ gflops: number; ms: number }> {
  const r = rt();
  const WG = Math.min(256, r.dev.limits.maxComputeInvocationsPerWorkgroup);
  const groups = 256;
  const iters = 4096;
  const out = r.pool.acquire(groups * WG * 4);
  const k = r.kernel('fma_peak', { WG });
  const flops = groups * WG * iters * 256;
  const t = await timeGpu(() => r.dispatch(k, [{ buffer: out }], [iters, 0, 0, 0], [groups]), { samples: 7 });
  r.pool.release(out);
  return { gflops: flops / (t.ms_median * 1e6), ms: t.ms_median };
}
