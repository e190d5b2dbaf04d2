// Fills a 32-bit buffer with one bit pattern (f32, i32 and u32 alike): zeros, ones, poison.
struct P { n: u32, bits: u32, _p0: u32, _p1: u32 }
@group(0) @binding(0) var<storage, read_write> D: array<u32>;
@group(0) @binding(1) var<uniform> p: P;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (i < p.n) { D[i] = p.bits; }
}
