// Second sweep: subgroup-broadcast kernels (NN, divisible sizes). llvmpipe executes 8 lanes
// per SIMD vector and compiles every storage/workgroup load as a per-lane scalar load, but
// subgroupBroadcast(x, constLane) is one permute. So: lane l owns rows m0+l+8i (i<TM), loads
// its own A row as vec4 along k; lane l also loads row k0+l of the B tile (TN columns, vec4
// along n) and the B values are broadcast to all lanes: 8*TM*TN FMAs per 8-k step for
// 2*TM + TN/4 vec4 loads per lane.
import { initGpu, compile, buf, ubuf, bindGroup, timeDispatch, readback, measurePeak, randn } from './gpu.mjs';

function genSG({ S, TM, TN, BV = 1 }) {
  // S subgroups of 8 per workgroup, stacked along n. TN % 4 == 0.
  const TN4 = TN / 4;
  let s = `enable subgroups;
struct P { M: u32, N: u32, K: u32, _p: u32 }
@group(0) @binding(0) var<storage, read> A: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> B: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> C: array<vec4<f32>>;
@group(0) @binding(3) var<uniform> p: P;
@compute @workgroup_size(${8 * S})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let N4 = p.N / 4u; let K4 = p.K / 4u;
  let lane = lid.x & 7u;
  let sg = lid.x >> 3u;
  let n4 = (wid.x * ${S}u + sg) * ${TN4}u;
  let m0 = wid.y * ${8 * TM}u + lane;
`;
  for (let i = 0; i < TM; i++) for (let j = 0; j < TN4; j++) s += `  var c${i}_${j} = vec4<f32>();\n`;
  for (let i = 0; i < TM; i++) s += `  let ar${i} = (m0 + ${8 * i}u) * K4;\n`;
  s += `  for (var k4 = 0u; k4 < K4; k4 += 2u) {\n`;
  for (let j = 0; j < TN4; j++) s += `    let bt${j} = B[(k4 * 4u + lane) * N4 + n4 + ${j}u];\n`;
  for (let i = 0; i < TM; i++) s += `    let a${i}_0 = A[ar${i} + k4]; let a${i}_1 = A[ar${i} + k4 + 1u];\n`;
  for (let kk = 0; kk < 8; kk++) {
    const comp = 'xyzw'[kk % 4], half = kk >> 2;
    for (let j = 0; j < TN4; j++) {
      s += `    { let b = subgroupBroadcast(bt${j}, ${kk}u);`;
      for (let i = 0; i < TM; i++) s += ` c${i}_${j} = fma(vec4<f32>(a${i}_${half}.${comp}), b, c${i}_${j});`;
      s += ` }\n`;
    }
  }
  s += `  }\n`;
  for (let i = 0; i < TM; i++) for (let j = 0; j < TN4; j++) s += `  C[(m0 + ${8 * i}u) * N4 + n4 + ${j}u] = c${i}_${j};\n`;
  s += `}\n`;
  return { code: s, wg: (M, N) => [N / (S * TN), M / (8 * TM)] };
}

const { device } = await initGpu();
const M = +(process.env.M ?? 1024), N = +(process.env.N ?? 1024), K = +(process.env.K ?? 1024);
const a = randn(M * K, 1), b = randn(K * N, 2);
const A = buf(device, a), B = buf(device, b), C = buf(device, new Float32Array(M * N));
const U = ubuf(device, [M, N, K, 0]);
const peak = await measurePeak(device);
console.log(`peak ${peak.toFixed(1)} GFLOP/s; ${M}x${N}x${K}`);
const variants = JSON.parse(process.env.VARIANTS ?? 'null') ?? [
  ['SG', { S: 1, TM: 1, TN: 8 }],
  ['SG', { S: 1, TM: 2, TN: 8 }],
  ['SG', { S: 1, TM: 1, TN: 16 }],
  ['SG', { S: 1, TM: 2, TN: 16 }],
  ['SG', { S: 4, TM: 2, TN: 8 }],
  ['SG', { S: 8, TM: 1, TN: 16 }],
  ['SG', { S: 1, TM: 4, TN: 8 }],
];
const gens = { SG: genSG };
for (const [name, cfg] of variants) {
  const { code, wg } = gens[name](cfg);
  let pipe;
  try { pipe = await compile(device, code, name); } catch (e) { console.log(name, JSON.stringify(cfg), 'COMPILE FAIL', e.message.slice(0, 300)); continue; }
  const bg = bindGroup(device, pipe, [A, B, C, U]);
  const pk = await measurePeak(device, { iters: 2048, outer: 3 });
  const ms = await timeDispatch(device, pipe, bg, wg(M, N), { inner: 2, outer: 3 });
  const pk2 = await measurePeak(device, { iters: 2048, outer: 3 });
  const out = new Float32Array(await readback(device, C, M * N * 4));
  let maxErr = 0;
  for (let t = 0; t < 24; t++) {
    const i = (t * 7919) % M, j = (t * 104729 + 13) % N;
    let s = 0; for (let k = 0; k < K; k++) s += a[i * K + k] * b[k * N + j];
    maxErr = Math.max(maxErr, Math.abs(s - out[i * N + j]));
  }
  const gf = (2 * M * N * K) / (ms * 1e6);
  console.log(`${name} ${JSON.stringify(cfg)} ms=${ms.toFixed(1)} GFLOP/s=${gf.toFixed(2)} (${((200 * gf) / (pk + pk2)).toFixed(1)}% of peak ${((pk + pk2) / 2).toFixed(1)}) maxErr=${maxErr.toExponential(1)}`);
  device.queue.writeBuffer(C, 0, new Float32Array(M * N));
}
device.destroy();
