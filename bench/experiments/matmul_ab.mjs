// A/B of two versions of shaders/matmul.wgsl on this adapter: bit-identical outputs on the vec4
// entry points (odd shapes, k tails), then 1024^3 timed in alternating pairs (the machine's speed
// drifts by tens of percent between runs, so only paired ratios are compared).
//
//   git show REV:shaders/matmul.wgsl > /tmp/matmul-old.wgsl
//   OLD=/tmp/matmul-old.wgsl JSON=bench/results/matmul-ab-lavapipe.json node bench/experiments/matmul_ab.mjs
import { initGpu, compile, buf, ubuf, timeDispatch, readback, subst, randn, readShader } from './gpu.mjs';
import { readFileSync, writeFileSync } from 'node:fs';

const { device, adapter } = await initGpu();
const PAIRS = Number(process.env.PAIRS ?? 5), n = 1024;
const srcs = { old: readFileSync(process.env.OLD ?? '/tmp/matmul-old.wgsl', 'utf8'), new: readShader('matmul.wgsl') };
const variants = [
  { name: 'A @ B', entry: 'main_vec4', ta: 0, tb: 0 }, { name: 'A @ B^T', entry: 'main_vec4', ta: 0, tb: 1 },
  { name: 'A^T @ B', entry: 'main_vec4_ta', ta: 1, tb: 0 }, { name: 'A^T @ B^T', entry: 'main_vec4_ta', ta: 1, tb: 1 },
];
const pipes = {};
for (const v of variants) for (const [k, src] of Object.entries(srcs)) {
  pipes[k + v.name] = await compile(device, subst(src, { TRANS_A: v.ta, TRANS_B: v.tb, BIAS_DECL: '', BIAS_AT: 'return 0.0;', P_BINDING: 3 }), `${k} ${v.name}`, v.entry);
}
async function run(key, M, N, K, timed) {
  const A = buf(device, randn(M * K, 3)), B = buf(device, randn(K * N, 4)), C = buf(device, new Float32Array(M * N).fill(NaN)), U = ubuf(device, [M, N, K, 1, 0, 0, 0, 0]);
  const bg = device.createBindGroup({ layout: pipes[key].getBindGroupLayout(0), entries: [A, B, C, U].map((b, i) => ({ binding: i, resource: { buffer: b } })) });
  const ms = await timeDispatch(device, pipes[key], bg, [Math.ceil(N / 16), Math.ceil(M / 64), 1], timed ? { inner: 2, outer: 3 } : { inner: 1, outer: 1, warm: 0 });
  const out = new Uint32Array(await readback(device, C, M * N * 4));
  for (const b of [A, B, C, U]) b.destroy();
  return { out, ms };
}
const report = { adapter: `${adapter.info?.vendor ?? ''} ${adapter.info?.description ?? ''}`.trim(), date: new Date().toISOString(), shape: [n, n, n], pairs: PAIRS, variants: [] };
for (const v of variants) {
  // Shapes the entry point accepts (4-aligned where its vec4 loads need it), with k tails.
  let differ = 0, checked = 0;
  for (const [M, N, K] of [[68, 36, 44], [132, 52, 1028], [12, 20, 13 + (v.ta ? 0 : 3)], [64, 16, 8]]) {
    const a = await run('old' + v.name, M, N, K, false), b = await run('new' + v.name, M, N, K, false);
    checked += a.out.length;
    for (let i = 0; i < a.out.length; i++) if (a.out[i] !== b.out[i]) differ++;
  }
  const ratios = [], ms = { old: [], new: [] };
  for (let p = 0; p < PAIRS; p++) {
    const order = p % 2 ? ['new', 'old'] : ['old', 'new'];
    const t = {};
    for (const k of order) t[k] = (await run(k + v.name, n, n, n, true)).ms;
    ms.old.push(t.old); ms.new.push(t.new); ratios.push(t.old / t.new);
  }
  const med = (x) => [...x].sort((p, q) => p - q)[Math.floor(x.length / 2)];
  const row = { name: v.name, entry: v.entry, elements_compared: checked, elements_differing: differ, ms_old: ms.old.map((x) => +x.toFixed(1)), ms_new: ms.new.map((x) => +x.toFixed(1)), speedup_median: +med(ratios).toFixed(2), gflops_new_median: +((2 * n ** 3) / (med(ms.new) * 1e6)).toFixed(1) };
  report.variants.push(row);
  console.log(`${v.name.padEnd(10)} ${differ}/${checked} elements differ; 1024^3 old ${row.ms_old.join(' ')} ms, new ${row.ms_new.join(' ')} ms: ${row.speedup_median}x (median of paired ratios)`);
}
if (process.env.JSON) writeFileSync(process.env.JSON, JSON.stringify(report, null, 2) + '\n');
process.exit(0);
