// Benchmark: FMA peak, generated matmul tile variants, tfjs WebGPU matMul, all in one process on
// the same adapter. Peak is re-measured around each kernel timing (the machine is shared and
// noisy), and % of peak uses the mean of the two peaks bracketing it.
//   node bench/experiments/mm_bench.mjs            (VARIANTS='[[2,16],[4,16]]' SHAPES=model|1024|all)
// [TM, TN, 1] is the vec4 entry point's tile; JSON=file writes the rows; NO_TFJS=1 skips the peer.
import { initGpu, compile, buf, ubuf, bindGroup, timeDispatch, readback, measurePeak, randn, subst } from './gpu.mjs';
import { genMatmul, dispatchFor } from './gen_matmul.mjs';

const variants = JSON.parse(process.env.VARIANTS ?? '[[2,16],[2,32],[3,16],[4,16],[8,16],[1,32]]').map(([TM, TN, VEC4 = 0]) => ({ TM, TN, VEC4 }));
const which = process.env.SHAPES ?? 'all';
const shapes = [];
if (which !== 'model') shapes.push({ name: '1024^3 NN', M: 1024, N: 1024, K: 1024, ta: 0, tb: 0 });
if (which !== '1024') shapes.push(
  { name: '[2048,128]x[128,384]', M: 2048, N: 384, K: 128, ta: 0, tb: 0 },
  { name: '[2048,128]x[128,512]', M: 2048, N: 512, K: 128, ta: 0, tb: 0 },
  { name: '[2048,512]x[512,128]', M: 2048, N: 128, K: 512, ta: 0, tb: 0 },
  { name: 'dX: [2048,384]x[128,384]^T', M: 2048, N: 128, K: 384, ta: 0, tb: 1 },
  { name: 'dW: [2048,128]^T x[2048,384]', M: 128, N: 384, K: 2048, ta: 1, tb: 0 },
  { name: 'attn: 8x[256,64]x[256,64]^T', M: 256, N: 256, K: 64, ta: 0, tb: 1, batch: 8 },
);

const { device } = await initGpu();
let peer = null;
if (!process.env.NO_TFJS) {
  const { createTfjsPeer } = await import('../../dist/bench/peers/tfjs.js');
  peer = await createTfjsPeer();
}
const pipes = new Map();
async function pipeFor(v, ta, tb) {
  const key = `${v.TM},${v.TN},${v.VEC4},${ta},${tb}`;
  if (!pipes.has(key)) pipes.set(key, await compile(device, subst(genMatmul(v), { TRANS_A: ta, TRANS_B: tb, BIAS_DECL: '', BIAS_AT: 'return 0.0;', P_BINDING: 3 }), key));
  return pipes.get(key);
}
const rows = [];
for (const s of shapes) {
  const batch = s.batch ?? 1;
  const { M, N, K, ta, tb } = s;
  const a = randn(batch * M * K, 11), b = randn(batch * K * N, 12);
  const A = buf(device, a), B = buf(device, b), C = buf(device, new Float32Array(batch * M * N));
  const U = ubuf(device, [M, N, K, batch, M * K, K * N, M * N, 0]);
  const flop = 2 * M * N * K * batch;
  for (const v of variants) {
    if (v.VEC4 && (ta || K % 4 || (!tb && N % 4))) continue;
    const pipe = await pipeFor(v, ta, tb);
    const bg = bindGroup(device, pipe, [A, B, C, U]);
    const pk1 = await measurePeak(device, { iters: 2048, outer: 3 });
    const ms = await timeDispatch(device, pipe, bg, dispatchFor(v, M, N, batch), { inner: 2, outer: 5 });
    const pk2 = await measurePeak(device, { iters: 2048, outer: 3 });
    const out = new Float32Array(await readback(device, C, batch * M * N * 4));
    let maxErr = 0;
    for (let t = 0; t < 16; t++) {
      const z = t % batch, m = (t * 7919) % M, n = (t * 104729 + 13) % N;
      let r = 0;
      for (let k = 0; k < K; k++) r += a[z * M * K + (ta ? k * M + m : m * K + k)] * b[z * K * N + (tb ? n * K + k : k * N + n)];
      maxErr = Math.max(maxErr, Math.abs(r - out[z * M * N + m * N + n]) / (1 + Math.abs(r)));
    }
    const gf = flop / (ms * 1e6), peak = (pk1 + pk2) / 2;
    const row = { shape: s.name, kernel: `TM=${v.TM},TN=${v.TN}${v.VEC4 ? ',vec4' : ''}`, ms: +ms.toFixed(2), gflops: +gf.toFixed(2), peak: +peak.toFixed(1), pct: +((100 * gf) / peak).toFixed(1), err: maxErr.toExponential(1) };
    rows.push(row);
    console.log(JSON.stringify(row));
  }
  if (peer && !ta && batch === 1) {
    const pk1 = await measurePeak(device, { iters: 2048, outer: 3 });
    const r = await peer.timeMatmul(M, N, K, 5);
    const pk2 = await measurePeak(device, { iters: 2048, outer: 3 });
    const gf = flop / (r.ms_median * 1e6), peak = (pk1 + pk2) / 2;
    const row = { shape: s.name, kernel: 'tfjs matMul' + (tb ? ' (NN; tfjs transposes internally only via flags)' : ''), ms: +r.ms_median.toFixed(2), gflops: +gf.toFixed(2), peak: +peak.toFixed(1), pct: +((100 * gf) / peak).toFixed(1) };
    rows.push(row);
    console.log(JSON.stringify(row));
  }
  A.destroy(); B.destroy(); C.destroy(); U.destroy();
}
console.log('\n| shape | kernel | ms | GFLOP/s | peak GFLOP/s | % peak |\n|---|---|---|---|---|---|');
for (const r of rows) console.log(`| ${r.shape} | ${r.kernel} | ${r.ms} | ${r.gflops} | ${r.peak} | ${r.pct} |`);
if (process.env.JSON) (await import('node:fs')).writeFileSync(process.env.JSON, JSON.stringify({ adapter: `${globalThis.__adapter?.info?.vendor ?? ''} ${globalThis.__adapter?.info?.description ?? ''}`.trim(), date: new Date().toISOString(), rows }, null, 2) + '\n');
if (peer) await peer.dispose();
device.destroy();
