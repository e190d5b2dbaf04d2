// Which products the wide matmul block pays on: shaders/matmul.wgsl (32x16 per workgroup)
// against shaders/matmul_wide.wgsl (32x32), main_vec4, over model-like and square shapes, the two
// timed in alternating rounds in one process. The engine's rule (engine/ops/matmul_kernels.ts,
// takesWide) comes from these figures.
//   JSON=bench/results/matmul-wide-shapes-lavapipe.json node bench/experiments/wide_shapes.mjs
// SHAPES=MxNxK,... picks shapes; TB=1 times A @ B^T.
import { initGpu, compile, buf, ubuf, timeDispatch, subst, randn, readShader } from './gpu.mjs';
import { writeFileSync } from 'node:fs';

const { device, adapter } = await initGpu();
const TB = Number(process.env.TB ?? 0), ROUNDS = Number(process.env.ROUNDS ?? 3);
const kinds = { narrow: readShader('matmul.wgsl'), wide: readShader('matmul_wide.wgsl') };
const pipes = {}, tiles = {};
for (const [k, src] of Object.entries(kinds)) {
  const t = /\(TM=(\d+), TN=(\d+)\)/.exec(src);
  tiles[k] = { rows: 8 * +t[1], cols: +t[2] };
  pipes[k] = await compile(device, subst(src, { TRANS_A: 0, TRANS_B: TB, BIAS_DECL: '', BIAS_AT: 'return 0.0;', P_BINDING: 3 }), k, 'main_vec4');
}
const shapes = (process.env.SHAPES ?? '1024x1024x1024,512x512x512,2048x512x128,2048x384x128,2048x256x128,2048x128x512,256x256x64,128x192x64,2048x64x64,4096x96x32,3104x96x32,3104x32x96')
  .split(',').map((s) => s.split('x').map(Number));
const med = (x) => [...x].sort((a, b) => a - b)[Math.floor(x.length / 2)];
const rows = [];
for (const [M, N, K] of shapes) {
  const A = buf(device, randn(M * K, 3)), B = buf(device, randn(K * N, 4)), C = buf(device, new Float32Array(M * N)), U = ubuf(device, [M, N, K, 1, 0, 0, 0, 0]);
  const ms = { narrow: [], wide: [] };
  for (let r = 0; r < ROUNDS; r++) for (const k of r % 2 ? ['wide', 'narrow'] : ['narrow', 'wide']) {
    const bg = device.createBindGroup({ layout: pipes[k].getBindGroupLayout(0), entries: [A, B, C, U].map((b, i) => ({ binding: i, resource: { buffer: b } })) });
    ms[k].push(await timeDispatch(device, pipes[k], bg, [Math.ceil(N / tiles[k].cols), Math.ceil(M / tiles[k].rows), 1], { inner: 3, outer: 3 }));
  }
  const row = { shape: [M, N, K], macs: M * N * K, ms_narrow: +med(ms.narrow).toFixed(2), ms_wide: +med(ms.wide).toFixed(2), speedup: +(med(ms.narrow) / med(ms.wide)).toFixed(2) };
  rows.push(row);
  console.log(`${M}x${N}x${K}: 32x16 ${row.ms_narrow} ms, 32x32 ${row.ms_wide} ms, ${row.speedup}x`);
  for (const b of [A, B, C, U]) b.destroy();
}
if (process.env.JSON) writeFileSync(process.env.JSON, JSON.stringify({ adapter: `${adapter.info?.vendor ?? ''} ${adapter.info?.description ?? ''}`.trim(), date: new Date().toISOString(), transB: TB, rounds: ROUNDS, rows }, null, 2) + '\n');
process.exit(0);
