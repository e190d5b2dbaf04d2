// What one memory access costs on this adapter, in units of the vec4 FMA it competes with.
//
//   node bench/experiments/load_costs.mjs        (npx tsc first; XDG_RUNTIME_DIR set)
//
// Each kernel runs 8 invocations per workgroup (one 8-lane subgroup on llvmpipe), loops
// ITERS times over 8 unrolled accesses of one kind and folds them into an accumulator; the
// time per access is reported per 8-lane group ("ns per op": what one SIMD instruction's worth
// of lanes pays) and as a multiple of one vec4 FMA at the FMA peak measured in the same run
// (shaders/fma_peak.wgsl). The matmul and attention kernels are shaped by these figures: a
// storage load must feed tens of FMAs to stay off the critical path.
import { initGpu, compile, buf, ubuf, timeDispatch, measurePeak } from './gpu.mjs';

const ITERS = 4096, UNROLL = 8, WG = 8, GROUPS = 2048;
const kinds = {
  'storage vec4, per-lane address': (u) => `acc += S4[(base + ${u}u * 4u + i) & 1023u];`,
  'storage vec4, same address in every lane': (u) => `acc += S4[(i * 8u + ${u}u) & 1023u];`,
  'storage f32, per-lane address': (u) => `acc += vec4f(S1[(base + ${u}u * 4u + i) & 4095u]);`,
  'storage vec4 store, per-lane address': (u) => `O[(base + ${u}u * 4u + i) & 1023u] = acc; acc += acc2;`,
  'storage f32 store, per-lane address': (u) => `O1[(base + ${u}u * 4u + i) & 4095u] = acc.x; acc += acc2;`,
  'uniform vec4, same address in every lane': (u) => `acc += UB[(i * 8u + ${u}u) & 1023u];`,
  'workgroup vec4, per-lane address': (u) => `acc += W[(lane * 8u + ${u}u + i) & 255u];`,
  'private vec4, index from a loop variable': (u) => `acc += pv[(i + ${u}u) & 15u];`,
  'private vec4, constant index (+ 1 FMA)': (u) => `acc += pv[${u}u] * acc2;`,
  'subgroupBroadcast vec4, constant lane': (u) => `acc += subgroupBroadcast(acc2, ${u}u);`,
  'subgroupShuffle vec4, per-lane source': (u) => `acc += subgroupShuffle(acc2, (lane + ${u}u) & 7u);`,
  // Texel fetches take gallivm's sampling path instead of the SSBO one: tried as a way around
  // the per-lane scalar loads (an rgba32float texel is one vec4, an r32float texel one float).
  'texture rgba32float texel, per-lane': (u) => `acc += textureLoad(T4, vec2u((base + ${u}u * 4u + i) & 63u, ${u}u), 0);`,
  'texture r32float texel, per-lane': (u) => `acc += vec4f(textureLoad(T1, vec2u((base + ${u}u * 4u + i) & 63u, ${u}u), 0).x);`,
};

const { device } = await initGpu();
const texture = (format) => device.createTexture({ size: [64, 64], format, usage: GPUTextureUsage.TEXTURE_BINDING | GPUTextureUsage.COPY_DST });
const textures = [texture('rgba32float'), texture('r32float')];
const peak = await measurePeak(device, { iters: 2048, outer: 5 });
// One vec4 FMA per lane is 8 lanes x 4 x 2 flops.
const fmaNs = (8 * 4 * 2) / peak;
console.log(`FMA peak ${peak.toFixed(1)} GFLOP/s: one 8-lane vec4 FMA = ${fmaNs.toFixed(2)} ns`);
const rows = [];
for (const [name, access] of Object.entries(kinds)) {
  const body = Array.from({ length: UNROLL }, (_, u) => '    ' + access(u)).join('\n');
  const code = `enable subgroups;
@group(0) @binding(0) var<storage, read> S4: array<vec4f>;
@group(0) @binding(1) var<storage, read> S1: array<f32>;
@group(0) @binding(2) var<storage, read_write> O: array<vec4f>;
@group(0) @binding(3) var<uniform> p: vec4u;
@group(0) @binding(4) var<uniform> UB: array<vec4f, 1024>;
@group(0) @binding(5) var<storage, read_write> O1: array<f32>;
@group(0) @binding(6) var T4: texture_2d<f32>;
@group(0) @binding(7) var T1: texture_2d<f32>;
var<workgroup> W: array<vec4f, 256>;
@compute @workgroup_size(${WG})
fn main(@builtin(subgroup_invocation_id) lane: u32, @builtin(global_invocation_id) gid: vec3u) {
  for (var x = lane; x < 256u; x += 8u) { W[x] = vec4f(f32(x)); }
  workgroupBarrier();
  var pv: array<vec4f, 16>;
  for (var x = 0u; x < 16u; x++) { pv[x] = vec4f(f32(x + lane)); }
  var acc = vec4f(0.0);
  let acc2 = vec4f(f32(lane) * 1e-9 + 0.5);
  let base = lane * 13u;
  for (var i = 0u; i < p.x; i++) {
${body}
  }
  // Every binding is used, so all kernels share one layout.
  if (acc.x == 12345.0) { acc += S4[0] + vec4f(S1[0]) + UB[0] + W[0] + pv[1] + textureLoad(T4, vec2u(0), 0) + textureLoad(T1, vec2u(0), 0); O1[0] = 1.0; }
  O[gid.x] = acc;
}`;
  const pipe = await compile(device, code, name);
  const bufs = [
    buf(device, new Float32Array(4096)), buf(device, new Float32Array(4096)), buf(device, new Float32Array(WG * GROUPS * 4)),
    ubuf(device, [ITERS, 0, 0, 0]), buf(device, new Float32Array(4096), GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST),
    buf(device, new Float32Array(4096)),
  ];
  const bg = device.createBindGroup({
    layout: pipe.getBindGroupLayout(0),
    entries: [...bufs.map((b, i) => ({ binding: i, resource: { buffer: b } })), ...textures.map((t, i) => ({ binding: 6 + i, resource: t.createView() }))],
  });
  const ms = await timeDispatch(device, pipe, bg, [GROUPS], { inner: 2, outer: 5 });
  const ns = (ms * 1e6) / (GROUPS * ITERS * UNROLL);
  rows.push({ access: name, ns_per_op: +ns.toFixed(2), vec4_fmas: +(ns / fmaNs).toFixed(1) });
  console.log(`${name.padEnd(44)} ${ns.toFixed(2).padStart(6)} ns per op = ${(ns / fmaNs).toFixed(1).padStart(5)} vec4 FMAs`);
  for (const b of bufs) b.destroy();
}
if (process.env.JSON) (await import('node:fs')).writeFileSync(process.env.JSON, JSON.stringify({ peak_gflops: peak, fma_ns: fmaNs, rows }, null, 2) + '\n');
process.exit(0);
