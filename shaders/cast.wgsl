// Converts between f32 and f16 storage ({{SRC}} -> {{DST}}).
enable f16;
struct P { n: u32, _p0: u32, _p1: u32, _p2: u32 }
@group(0) @binding(0) var<storage, read> S: array<{{SRC}}>;
@group(0) @binding(1) var<storage, read_write> D: array<{{DST}}>;
@group(0) @binding(2) var<uniform> p: P;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (i < p.n) { D[i] = {{DST}}(S[i]); }
}
