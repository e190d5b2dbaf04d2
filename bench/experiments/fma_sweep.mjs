// Sweep register-only FMA microkernels to find the adapter's honest FMA peak.
// Variants: workgroup size WG, independent vec4 chains C, unroll U, scalar vs vec4.
import { initGpu, compile, buf, ubuf, bindGroup, timeDispatch } from './gpu.mjs';

function gen({ WG, C, U, vec }) {
  const T = vec ? 'vec4<f32>' : 'f32';
  const W = vec ? 4 : 1;
  let s = `struct P { iters: u32, _a: u32, _b: u32, _c: u32 }
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<uniform> p: P;
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let seed = f32(gid.x) * 1e-7;
  let x = ${T}(${vec ? '0.9999, 0.9998, 0.9997, 0.9996' : '0.9999'}) + ${T}(seed);
  let y = ${T}(${vec ? '1e-6, 2e-6, 3e-6, 4e-6' : '1e-6'});
`;
  for (let c = 0; c < C; c++) s += `  var a${c} = ${T}(f32(${c}) * 0.01 + seed);\n`;
  s += `  for (var i = 0u; i < p.iters; i++) {\n`;
  for (let u = 0; u < U; u++) for (let c = 0; c < C; c++) s += `    a${c} = fma(a${c}, x, y);\n`;
  s += `  }\n  var r = a0;\n`;
  for (let c = 1; c < C; c++) s += `  r = r + a${c};\n`;
  s += vec ? `  out[gid.x] = r.x + r.y + r.z + r.w;\n}\n` : `  out[gid.x] = r;\n}\n`;
  return { code: s, flopsPerIter: C * U * W * 2 };
}

const { device } = await initGpu();
const iters = 4096;
const threads = 1 << 14; // total invocations
const out = buf(device, new Float32Array(threads));
const u = ubuf(device, [iters, 0, 0, 0]);
const rows = [];
const configs = [];
const grid = process.env.FMA_GRID ? JSON.parse(process.env.FMA_GRID) : { WG: [8, 64, 256], C: [2, 4, 6, 8], U: [1, 4] };
for (const WG of grid.WG) for (const vec of [true]) for (const C of grid.C) for (const U of grid.U) configs.push({ WG, C, U, vec });
if (!process.env.FMA_GRID) configs.push({ WG: 64, C: 8, U: 1, vec: false }, { WG: 64, C: 16, U: 1, vec: false });
for (const cfg of configs) {
  const { code, flopsPerIter } = gen(cfg);
  const pipe = await compile(device, code, JSON.stringify(cfg));
  const bg = bindGroup(device, pipe, [out, u]);
  const ms = await timeDispatch(device, pipe, bg, [threads / cfg.WG], { inner: 2, outer: 5 });
  const gf = (threads * iters * flopsPerIter) / (ms * 1e6);
  rows.push({ ...cfg, ms: +ms.toFixed(2), gflops: +gf.toFixed(2) });
  console.log(JSON.stringify(rows.at(-1)));
}
rows.sort((a, b) => b.gflops - a.gflops);
console.log('best', rows[0]);
device.destroy();
