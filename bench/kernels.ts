// `ivt bench kernels`: each hot kernel timed on this adapter, as GFLOP/s or GB/s, as a
// fraction of the FMA peak measured in the same run, and beside TensorFlow.js's WebGPU
// backend on the same adapter where it has the op.
import * as E from '../engine/index.js';
import { rt } from '../engine/tensor.js';
import { timeGpu } from './harness.js';
import { measureFmaPeak } from './peak.js';

export interface PeerFigure {
  name: string;
  ms_median: number;
}
export interface KernelFigure {
  name: string;
  shape: number[];
  dtype: string;
  ms_median: number;
  gflops?: number;
  gbps?: number;
  pct_peak?: number;
  peer: PeerFigure | null;
  speedup_vs_peer: number | null;
}
export interface KernelReport {
  adapter: string;
  date: string;
  peak_gflops: number;
  kernels: KernelFigure[];
}

export interface TfjsPeerLike {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly tf: any;
  timeMatmul(M: number, N: number, K: number, reps?: number): Promise<{ ms_median: number }>;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  timeOp(build: (tf: any) => any[], run: (tf: any, inputs: any[]) => any, reps?: number): Promise<{ ms_median: number }>;
  dispose(): Promise<void> | void;
}

async function loadPeer(log: (s: string) => void): Promise<TfjsPeerLike | null> {
  try {
    // Imported by a computed path: the peer needs the TensorFlow.js dev dependencies, and a
    // machine without them still gets our own figures.
    const peerModule = './peers/tfjs.js';
    const mod = (await import(peerModule)) as { createTfjsPeer: () => Promise<TfjsPeerLike> };
    return await mod.createTfjsPeer();
  } catch (e) {
    log(`TensorFlow.js peer unavailable (${(e as Error).message.split('\n')[0]}); figures without a peer`);
    return null;
  }
}

function rand(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 4294967296 - 0.5;
  }
  return out;
}

export interface MatmulCase {
  name: string;
  M: number;
  N: number;
  K: number;
  transA?: boolean;
  transB?: boolean;
}

export const MATMUL_CASES: MatmulCase[] = [
  // The bar: 1024^3. Then the demo model's shapes (B*T rows x width), forward and the
  // transposed forms its backward uses.
  { name: 'matmul', M: 1024, N: 1024, K: 1024 },
  { name: 'matmul', M: 512, N: 512, K: 512 },
];

export interface BenchContext {
  peakGflops: number;
  peer: TfjsPeerLike | null;
  log: (s: string) => void;
  quick: boolean;
}

export type Suite = (ctx: BenchContext) => Promise<KernelFigure[]>;

export async function runKernelBench(opts: { peer?: boolean; suites?: Suite[]; quick?: boolean; log?: (s: string) => void } = {}): Promise<KernelReport> {
  const log = opts.log ?? ((s: string) => console.log(s));
  await E.initEngine();
  const peak = await measureFmaPeak();
  log(`FMA peak (same run): ${peak.gflops.toFixed(1)} GFLOP/s`);
  const peer = opts.peer === false ? null : await loadPeer(log);
  const ctx: BenchContext = { peakGflops: peak.gflops, peer, log, quick: !!opts.quick };
  const kernels: KernelFigure[] = [];
  try {
    for (const suite of opts.suites ?? DEFAULT_SUITES) {
      for (const fig of await suite(ctx)) {
        kernels.push(fig);
        log(formatRow(fig));
      }
    }
  } finally {
    await peer?.dispose();
  }
  return { adapter: rt().dev.describe(), date: new Date().toISOString(), peak_gflops: round(peak.gflops), kernels };
}

/** Builds a figure from a measured time and either flops or bytes. */
export function figure(ctx: BenchContext, name: string, shape: number[], dtype: string, ms: number, work: { flops?: number; bytes?: number; copyGbps?: number }, peer: PeerFigure | null): KernelFigure {
  const f: KernelFigure = { name, shape, dtype, ms_median: round(ms), peer: peer ? { ...peer, ms_median: round(peer.ms_median) } : null, speedup_vs_peer: peer ? round(peer.ms_median / ms) : null };
  if (work.flops !== undefined) {
    f.gflops = round(work.flops / (ms * 1e6));
    f.pct_peak = round((100 * f.gflops) / ctx.peakGflops);
  }
  if (work.bytes !== undefined) {
    f.gbps = round(work.bytes / (ms * 1e6));
    if (work.copyGbps) f.pct_peak = round((100 * f.gbps) / work.copyGbps);
  }
  return f;
}

export const matmulSuite: Suite = async (ctx) => {
  const out: KernelFigure[] = [];
  for (const c of ctx.quick ? MATMUL_CASES.slice(1) : MATMUL_CASES) {
    const aShape = c.transA ? [c.K, c.M] : [c.M, c.K];
    const bShape = c.transB ? [c.N, c.K] : [c.K, c.N];
    const A = E.fromArray(rand(c.M * c.K, 1), aShape);
    const B = E.fromArray(rand(c.K * c.N, 2), bShape);
    const t = await timeGpu(() => E.noGrad(() => E.matmul(A, B, { transA: c.transA, transB: c.transB })).dispose());
    A.dispose();
    B.dispose();
    let peer: PeerFigure | null = null;
    if (ctx.peer && !c.transA && !c.transB) peer = { name: 'tfjs-webgpu matMul', ms_median: (await ctx.peer.timeMatmul(c.M, c.N, c.K)).ms_median };
    out.push(figure(ctx, c.name + (c.transA ? ' A^T' : '') + (c.transB ? ' B^T' : ''), [c.M, c.N, c.K], 'f32', t.ms_median, { flops: 2 * c.M * c.N * c.K }, peer));
  }
  return out;
};

import { accumulatorSuite, attentionSuite, memoryBoundSuite } from './suites.js';
export const DEFAULT_SUITES: Suite[] = [matmulSuite, attentionSuite, accumulatorSuite, memoryBoundSuite];

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

export function formatRow(k: KernelFigure): string {
  const rate = k.gflops !== undefined ? `${k.gflops.toFixed(2)} GFLOP/s` : `${k.gbps?.toFixed(2)} GB/s`;
  const peer = k.peer ? `  ${k.peer.name} ${k.peer.ms_median.toFixed(2)} ms  x${k.speedup_vs_peer?.toFixed(2)}` : '';
  return `${k.name.padEnd(16)} [${k.shape.join('x')}] ${k.dtype}  ${k.ms_median.toFixed(2)} ms  ${rate}  ${k.pct_peak?.toFixed(1)}% of peak${peer}`;
}

export function markdownTable(r: KernelReport): string {
  const rows = r.kernels.map((k) =>
    `| ${k.name} | ${k.shape.join('x')} | ${k.dtype} | ${k.ms_median.toFixed(2)} | ${k.gflops?.toFixed(2) ?? '-'} | ${k.gbps?.toFixed(2) ?? '-'} | ${k.pct_peak?.toFixed(1) ?? '-'} | ${k.peer ? `${k.peer.ms_median.toFixed(2)}` : '-'} | ${k.speedup_vs_peer?.toFixed(2) ?? '-'} |`);
  return [
    `Adapter: ${r.adapter}; FMA peak measured in the same run: ${r.peak_gflops.toFixed(1)} GFLOP/s; ${r.date}`,
    '',
    '| kernel | shape (MxNxK) | dtype | ms (median) | GFLOP/s | GB/s | % of peak | TF.js ms | speedup vs TF.js |',
    '|---|---|---|---|---|---|---|---|---|',
    ...rows,
  ].join('\n');
}
