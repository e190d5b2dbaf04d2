// The wide block's width: shaders/matmul_wide.wgsl generated with TN = 16 .. 128 columns per
// workgroup (4 rows per lane, no k tail), A @ B at 1024^3, each width timed in rounds with
// the FMA peak microkernel right after it (the machine's speed drifts within a run).
//   JSON=bench/results/matmul-wide-sweep-lavapipe.json node bench/experiments/wide_sweep.mjs
// TNS=16,32,48,64,96,128 picks the widths; the widest compile for about a minute on llvmpipe.
import { initGpu, compile, buf, ubuf, timeDispatch, subst, randn, measurePeak } from './gpu.mjs';
import { genWide } from './gen_matmul.mjs';
import { writeFileSync } from 'node:fs';

const { device, adapter } = await initGpu();
const n = 1024, ROUNDS = Number(process.env.ROUNDS ?? 3);
const widths = (process.env.TNS ?? '16,32,48,64,96,128').split(',').map(Number);
const A = buf(device, randn(n * n, 3)), B = buf(device, randn(n * n, 4)), C = buf(device, new Float32Array(n * n)), U = ubuf(device, [n, n, n, 1, 0, 0, 0, 0]);
const kernels = [];
for (const TN of widths) {
  const t0 = performance.now();
  const pipe = await compile(device, subst(genWide({ TM: 4, TN }), { TRANS_A: 0, TRANS_B: 0, BIAS_DECL: '', BIAS_AT: 'return 0.0;', P_BINDING: 3 }), `wide ${TN}`, 'main_vec4');
  const bg = device.createBindGroup({ layout: pipe.getBindGroupLayout(0), entries: [A, B, C, U].map((b, i) => ({ binding: i, resource: { buffer: b } })) });
  // The first dispatch compiles the shader on llvmpipe: its time is the compile time.
  await timeDispatch(device, pipe, bg, [Math.ceil(n / TN), n / 32, 1], { inner: 1, outer: 1, warm: 0 });
  kernels.push({ TN, pipe, bg, compile_s: +((performance.now() - t0) / 1000).toFixed(1), ms: [], pct: [] });
}
for (let r = 0; r < ROUNDS; r++) for (const k of kernels) {
  const ms = await timeDispatch(device, k.pipe, k.bg, [Math.ceil(n / k.TN), n / 32, 1], { inner: 2, outer: 3 });
  const peak = await measurePeak(device, { iters: 2048, outer: 3 });
  k.ms.push(ms);
  k.pct.push((100 * (2 * n ** 3) / (ms * 1e6)) / peak);
}
const med = (x) => [...x].sort((p, q) => p - q)[Math.floor(x.length / 2)];
const rows = kernels.map((k) => ({ TN: k.TN, block: `32x${k.TN}`, vec4_loads_per_step: 4 + k.TN / 8, fmas_per_load: +((16 * k.TN) / (4 + k.TN / 8)).toFixed(1), compile_s: k.compile_s, ms_median: +med(k.ms).toFixed(1), gflops: +((2 * n ** 3) / (med(k.ms) * 1e6)).toFixed(1), pct_peak_median: +med(k.pct).toFixed(1) }));
for (const r of rows) console.log(`TN=${String(r.TN).padStart(3)}: ${r.ms_median} ms, ${r.gflops} GFLOP/s, ${r.pct_peak_median}% of the peak timed after it; compile ${r.compile_s} s`);
if (process.env.JSON) writeFileSync(process.env.JSON, JSON.stringify({ adapter: `${adapter.info?.vendor ?? ''} ${adapter.info?.description ?? ''}`.trim(), date: new Date().toISOString(), shape: [n, n, n], rounds: ROUNDS, rows }, null, 2) + '\n');
process.exit(0);
