// First sweep: NN f32 matmul M=N=K=1024, several register-blocking schemes under llvmpipe.
// Scheme "RU": workgroup (WG,1,1) covers TM rows (uniform per workgroup -> A loads are
// dynamically uniform) x WG*TN columns; invocation owns TN columns n + j*WG (adjacent lanes
// read adjacent B addresses). Scheme "RU4": same but each invocation owns TN4 vec4 columns.
// Scheme "BLK": classic per-invocation TMxTN4 tile with 2D workgroup (8x8), for reference.
import { initGpu, compile, buf, ubuf, bindGroup, timeDispatch, readback, measurePeak, randn } from './gpu.mjs';

function genRU({ WG, TM, TN, UK }) {
  let s = `struct P { M: u32, N: u32, K: u32, _p: u32 }
@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read> B: array<f32>;
@group(0) @binding(2) var<storage, read_write> C: array<f32>;
@group(0) @binding(3) var<uniform> p: P;
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let N = p.N; let K = p.K;
  let n = wid.x * ${WG * TN}u + lid.x;
  let m0 = wid.y * ${TM}u;
`;
  for (let i = 0; i < TM; i++) for (let j = 0; j < TN; j++) s += `  var c${i}_${j} = 0.0;\n`;
  for (let i = 0; i < TM; i++) s += `  let ar${i} = (m0 + ${i}u) * K;\n`;
  s += `  for (var k = 0u; k < K; k += ${UK}u) {\n`;
  for (let u = 0; u < UK; u++) {
    for (let j = 0; j < TN; j++) s += `    let b${u}_${j} = B[(k + ${u}u) * N + n + ${j * WG}u];\n`;
    for (let i = 0; i < TM; i++) {
      s += `    { let a = A[ar${i} + k + ${u}u];`;
      for (let j = 0; j < TN; j++) s += ` c${i}_${j} = fma(a, b${u}_${j}, c${i}_${j});`;
      s += ` }\n`;
    }
  }
  s += `  }\n`;
  for (let i = 0; i < TM; i++) for (let j = 0; j < TN; j++) s += `  C[(m0 + ${i}u) * N + n + ${j * WG}u] = c${i}_${j};\n`;
  s += `}\n`;
  return { code: s, wg: (M, N) => [N / (WG * TN), M / TM] };
}

function genRU4({ WG, TM, TN4, UK }) {
  let s = `struct P { M: u32, N: u32, K: u32, _p: u32 }
@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read> B: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> C: array<vec4<f32>>;
@group(0) @binding(3) var<uniform> p: P;
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let N4 = p.N / 4u; let K = p.K;
  let n4 = wid.x * ${WG * TN4}u + lid.x;
  let m0 = wid.y * ${TM}u;
`;
  for (let i = 0; i < TM; i++) for (let j = 0; j < TN4; j++) s += `  var c${i}_${j} = vec4<f32>();\n`;
  for (let i = 0; i < TM; i++) s += `  let ar${i} = (m0 + ${i}u) * K;\n`;
  s += `  for (var k = 0u; k < K; k += ${UK}u) {\n`;
  for (let u = 0; u < UK; u++) {
    for (let j = 0; j < TN4; j++) s += `    let b${u}_${j} = B[(k + ${u}u) * N4 + n4 + ${j * WG}u];\n`;
    for (let i = 0; i < TM; i++) {
      s += `    { let a = A[ar${i} + k + ${u}u];`;
      for (let j = 0; j < TN4; j++) s += ` c${i}_${j} = fma(vec4<f32>(a), b${u}_${j}, c${i}_${j});`;
      s += ` }\n`;
    }
  }
  s += `  }\n`;
  for (let i = 0; i < TM; i++) for (let j = 0; j < TN4; j++) s += `  C[(m0 + ${i}u) * N4 + n4 + ${j * WG}u] = c${i}_${j};\n`;
  s += `}\n`;
  return { code: s, wg: (M, N) => [N / 4 / (WG * TN4), M / TM] };
}

// Classic: 2D workgroup 8x8, each invocation TM rows x TN4 vec4 columns (A non-uniform).
function genBLK({ TM, TN4, UK }) {
  let s = `struct P { M: u32, N: u32, K: u32, _p: u32 }
@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read> B: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> C: array<vec4<f32>>;
@group(0) @binding(3) var<uniform> p: P;
@compute @workgroup_size(8, 8)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let N4 = p.N / 4u; let K = p.K;
  let n4 = gid.x * ${TN4}u;
  let m0 = gid.y * ${TM}u;
`;
  for (let i = 0; i < TM; i++) for (let j = 0; j < TN4; j++) s += `  var c${i}_${j} = vec4<f32>();\n`;
  s += `  for (var k = 0u; k < K; k += ${UK}u) {\n`;
  for (let u = 0; u < UK; u++) {
    for (let j = 0; j < TN4; j++) s += `    let b${u}_${j} = B[(k + ${u}u) * N4 + n4 + ${j}u];\n`;
    for (let i = 0; i < TM; i++) {
      s += `    { let a = A[(m0 + ${i}u) * K + k + ${u}u];`;
      for (let j = 0; j < TN4; j++) s += ` c${i}_${j} = fma(vec4<f32>(a), b${u}_${j}, c${i}_${j});`;
      s += ` }\n`;
    }
  }
  s += `  }\n`;
  for (let i = 0; i < TM; i++) for (let j = 0; j < TN4; j++) s += `  C[(m0 + ${i}u) * N4 + n4 + ${j}u] = c${i}_${j};\n`;
  s += `}\n`;
  return { code: s, wg: (M, N) => [N / 4 / (8 * TN4), M / (8 * TM)] };
}

const { device } = await initGpu();
const M = +(process.env.M ?? 1024), N = +(process.env.N ?? 1024), K = +(process.env.K ?? 1024);
const a = randn(M * K, 1), b = randn(K * N, 2);
const A = buf(device, a), B = buf(device, b), C = buf(device, new Float32Array(M * N));
const U = ubuf(device, [M, N, K, 0]);
const peak = await measurePeak(device);
console.log(`peak ${peak.toFixed(1)} GFLOP/s; ${M}x${N}x${K}`);
const variants = JSON.parse(process.env.VARIANTS ?? 'null') ?? [
  ['RU', { WG: 64, TM: 8, TN: 1, UK: 1 }],
  ['RU', { WG: 64, TM: 8, TN: 1, UK: 4 }],
  ['RU', { WG: 64, TM: 12, TN: 1, UK: 4 }],
  ['RU', { WG: 64, TM: 4, TN: 2, UK: 4 }],
  ['RU', { WG: 8, TM: 8, TN: 1, UK: 4 }],
  ['RU', { WG: 256, TM: 8, TN: 1, UK: 4 }],
  ['RU4', { WG: 64, TM: 2, TN4: 1, UK: 4 }],
  ['RU4', { WG: 64, TM: 4, TN4: 1, UK: 4 }],
  ['RU4', { WG: 16, TM: 4, TN4: 1, UK: 4 }],
  ['BLK', { TM: 4, TN4: 2, UK: 1 }],
];
const gens = { RU: genRU, RU4: genRU4, BLK: genBLK };
for (const [name, cfg] of variants) {
  const { code, wg } = gens[name](cfg);
  if (M % 16 || N % 1024 || K % 16) { /* sweep assumes divisibility */ }
  let pipe;
  try { pipe = await compile(device, code, name); } catch (e) { console.log(name, JSON.stringify(cfg), 'COMPILE FAIL', e.message.slice(0, 200)); continue; }
  const bg = bindGroup(device, pipe, [A, B, C, U]);
  const dims = wg(M, N);
  const ms = await timeDispatch(device, pipe, bg, dims, { inner: 2, outer: 3 });
  const out = new Float32Array(await readback(device, C, M * N * 4));
  let maxErr = 0;
  for (let t = 0; t < 24; t++) {
    const i = (t * 7919) % M, j = (t * 104729 + 13) % N;
    let s = 0; for (let k = 0; k < K; k++) s += a[i * K + k] * b[k * N + j];
    maxErr = Math.max(maxErr, Math.abs(s - out[i * N + j]));
  }
  const gf = (2 * M * N * K) / (ms * 1e6);
  console.log(`${name} ${JSON.stringify(cfg)} ms=${ms.toFixed(1)} GFLOP/s=${gf.toFixed(2)} (${((100 * gf) / peak).toFixed(1)}% peak) maxErr=${maxErr.toExponential(1)}`);
  device.queue.writeBuffer(C, 0, new Float32Array(M * N));
}
device.destroy();
