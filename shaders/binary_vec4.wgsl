// Same-shape elementwise out = f(a, b) for plain arithmetic expressions ({{EXPR}} in a and b,
// valid on vec4): four elements per invocation. A separate module from binary.wgsl because
// an expression must type-check for every entry point of the module it is compiled into.
// Entry points rows_b / rows_a: one operand is a single row of c4 vec4s repeated over every
// row of the other (a bias added to a [rows, C] activation), read as B4[i % c4] (the
// division in f32 with FASTDIV, fewer than 2^24 items: divide.wgsl).
struct P { n: u32, c4: u32, inv: f32, _p2: u32 }   // inv = f32(1 / c4)
const FASTDIV: bool = {{FASTDIV}};
{{>divide}}
fn rowIndex(i: u32) -> u32 {
  if (FASTDIV) { return i - divSmall(i, p4.c4, p4.inv) * p4.c4; }
  return i % p4.c4;
}
@group(0) @binding(0) var<storage, read> A4: array<vec4f>;
@group(0) @binding(1) var<storage, read> B4: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> O4: array<vec4f>;
@group(0) @binding(3) var<uniform> p4: P;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (i >= p4.n) { return; }
  let a = A4[i];
  let b = B4[i];
  O4[i] = {{EXPR}};
}

@compute @workgroup_size(256)
fn rows_b(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (i >= p4.n) { return; }
  let a = A4[i];
  let b = B4[rowIndex(i)];
  O4[i] = {{EXPR}};
}

@compute @workgroup_size(256)
fn rows_a(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (i >= p4.n) { return; }
  let a = A4[rowIndex(i)];
  let b = B4[i];
  O4[i] = {{EXPR}};
}
