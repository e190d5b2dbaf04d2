// Shared types and helpers of the kernel benchmarks (kept apart from the suites so that the
// suites and the runner can import them without an import cycle).

export interface PeerFigure {
  name: string;
  ms_median: number;
  /** Where the peer was timed in alternating pairs with our kernel: the median of the pairs' ratios (peer / ours) and quartiles. */
  ratio_median?: number;
  ratio_quartiles?: [number, number];
  pairs?: number;
}

/** A PeerFigure from a paired timing (TfjsPeer.timeOpPaired / timeMatmulPaired). */
export function pairedPeer(name: string, r: PairedTiming): PeerFigure {
  return { name, ms_median: r.ms_median, ratio_median: r.ratio_median, ratio_quartiles: [r.ratio_q1, r.ratio_q3], pairs: r.pairs };
}
export interface KernelFigure {
  name: string;
  shape: number[];
  dtype: string;
  ms_median: number;
  gflops?: number;
  gbps?: number;
  pct_peak?: number;
  /** The FMA peak this figure's pct_peak divides by, where it was timed in pairs with the kernel. */
  peak_gflops_paired?: number;
  pct_peak_quartiles?: [number, number];
  peer: PeerFigure | null;
  speedup_vs_peer: number | null;
}
export interface KernelReport {
  adapter: string;
  date: string;
  peak_gflops: number;
  kernels: KernelFigure[];
}

/** A peer timed in alternating pairs with our kernel: its median, and the median ratio peer / ours with quartiles. */
export interface PairedTiming { ms_median: number; ratio_median: number; ratio_q1: number; ratio_q3: number; pairs: number }

export interface TfjsPeerLike {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly tf: any;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  timeOpPaired(build: (tf: any) => any[], run: (tf: any, inputs: any[]) => any, ours: () => Promise<number>, pairs?: number): Promise<PairedTiming>;
  timeMatmulPaired(M: number, N: number, K: number, ours: () => Promise<number>, pairs?: number, trans?: { transA?: boolean; transB?: boolean }): Promise<PairedTiming>;
  dispose(): Promise<void> | void;
}

/** A kernel timed in alternating pairs with the FMA peak microkernel (timeAgainstPeak). */
export interface PairedPeak {
  kernel_ms: number;
  peak_gflops: number;
  pct_median: number;
  pct_q1: number;
  pct_q3: number;
  pairs: number;
}

export interface BenchContext {
  peakGflops: number;
  peer: TfjsPeerLike | null;
  log: (s: string) => void;
  quick: boolean;
}

export type Suite = (ctx: BenchContext) => Promise<KernelFigure[]>;

export function figure(ctx: BenchContext, name: string, shape: number[], dtype: string, ms: number, work: { flops?: number; bytes?: number; copyGbps?: number; pairedPeak?: PairedPeak }, peer: PeerFigure | null): KernelFigure {
  // Paired with our kernel, the peer's figure is the median of the pairs' ratios; else the ratio of medians.
  const speedup = peer ? peer.ratio_median ?? peer.ms_median / ms : null;
  const f: KernelFigure = {
    name, shape, dtype, ms_median: round(ms),
    peer: peer ? { ...peer, ms_median: round(peer.ms_median), ...(peer.ratio_median !== undefined ? { ratio_median: round(peer.ratio_median), ratio_quartiles: peer.ratio_quartiles!.map(round) as [number, number] } : {}) } : null,
    speedup_vs_peer: speedup === null ? null : round(speedup),
  };
  if (work.flops !== undefined) {
    f.gflops = round(work.flops / (ms * 1e6));
    if (work.pairedPeak) {
      f.pct_peak = round(work.pairedPeak.pct_median);
      f.pct_peak_quartiles = [round(work.pairedPeak.pct_q1), round(work.pairedPeak.pct_q3)];
      f.peak_gflops_paired = round(work.pairedPeak.peak_gflops);
    } else {
      f.pct_peak = round((100 * f.gflops) / ctx.peakGflops);
    }
  }
  if (work.bytes !== undefined) {
    f.gbps = round(work.bytes / (ms * 1e6));
    if (work.copyGbps) f.pct_peak = round((100 * f.gbps) / work.copyGbps);
  }
  return f;
}

export function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
