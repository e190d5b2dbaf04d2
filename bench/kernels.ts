// `ivt bench kernels`: each hot kernel timed on this adapter, as GFLOP/s or GB/s, as a
// fraction of the FMA peak measured in the same run, and beside TensorFlow.js's WebGPU
// backend on the same adapter where it has the op.
import * as E from '../engine/index.js';
import { rt } from '../engine/tensor.js';
import { measureFmaPeak } from './peak.js';
import { BenchContext, KernelFigure, KernelReport, round, Suite, TfjsPeerLike } from './common.js';
import { accumulatorSuite, attentionSuite, matmulSuite, memoryBoundSuite } from './suites.js';
export * from './common.js';
export { MATMUL_CASES } from './suites.js';

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
export const DEFAULT_SUITES: Suite[] = [matmulSuite, attentionSuite, accumulatorSuite, memoryBoundSuite];

export function formatRow(k: KernelFigure): string {
  const rate = k.gflops !== undefined ? `${k.gflops.toFixed(2)} GFLOP/s` : k.gbps !== undefined ? `${k.gbps.toFixed(2)} GB/s` : '';
  const peer = k.peer ? `  ${k.peer.name} ${k.peer.ms_median.toFixed(2)} ms  x${k.speedup_vs_peer?.toFixed(2)}` : '';
  const paired = k.peak_gflops_paired ? ` (peak ${k.peak_gflops_paired.toFixed(1)} GFLOP/s timed in pairs; quartiles ${k.pct_peak_quartiles?.map((x) => x.toFixed(1)).join('..')}%)` : '';
  return `${k.name.padEnd(16)} [${k.shape.join('x')}] ${k.dtype}  ${k.ms_median.toFixed(2)} ms${rate ? `  ${rate}` : ''}${k.pct_peak !== undefined ? `  ${k.pct_peak.toFixed(1)}% of peak` : ''}${paired}${peer}`;
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
