// In-place y += alpha * x over contiguous buffers (gradient accumulation into parameters).
// VEC4: four elements per invocation (n counts vec4s then).
struct P { n: u32, alpha: f32, _p0: u32, _p1: u32 }
@group(0) @binding(0) var<storage, read> X: array<{{VT}}>;
@group(0) @binding(1) var<storage, read_write> Y: array<{{VT}}>;
@group(0) @binding(2) var<uniform> p: P;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (i < p.n) { Y[i] = Y[i] + p.alpha * X[i]; }
}
