// Kernel generators shared by the sweeps.
export function genSG({ S, TM, TN, BV = 1 }) {
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

export const gens = { SG: genSG };
