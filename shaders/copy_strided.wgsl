// Generic strided copy: for every coordinate c of `shape`,
//   dst[dstOffset + sum(c * dstStride)] = src[srcOffset + sum(c * srcStride)].
// One kernel serves permute/transpose, slice, concat (one copy per piece) and expand.
// The host collapses dimensions that are contiguous in both layouts first, so RANK is small
// (integer division is costly per lane), and the loop over RANK is unrolled at compile time;
// with FASTDIV (fewer than 2^24 items) the divisions are f32 ones (divide.wgsl).
// With VEC = 4 the innermost dimension is contiguous in both and a multiple of 4: elements
// move as vec4 (shape[RANK-1], offsets and outer strides are then counted in vec4 units).
// {{T}} is the element type (f32, i32, u32, or f16 with {{ENABLE}} = "enable f16;").
{{ENABLE}}
struct P {
  n: u32, rank: u32, srcOffset: u32, dstOffset: u32,
  shape: array<vec4u, 2>,
  ss: array<vec4u, 2>,
  ds: array<vec4u, 2>,
  inv: array<vec4f, 2>,   // f32(1 / shape[d])
}
const RANK: i32 = {{RANK}};
const FASTDIV: bool = {{FASTDIV}};
{{>divide}}
@group(0) @binding(0) var<storage, read> S: array<{{VT}}>;
@group(0) @binding(1) var<storage, read_write> D: array<{{VT}}>;
@group(0) @binding(2) var<uniform> p: P;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (i >= p.n) { return; }
  var si = p.srcOffset;
  var di = p.dstOffset;
  var rem = i;
  for (var d = RANK - 1; d >= 1; d--) {
    let dim = p.shape[d / 4][d % 4];
    var q: u32;
    if (FASTDIV) { q = divSmall(rem, dim, p.inv[d / 4][d % 4]); } else { q = rem / dim; }
    let c = rem - q * dim;
    rem = q;
    si += c * p.ss[d / 4][d % 4];
    di += c * p.ds[d / 4][d % 4];
  }
  si += rem * p.ss[0][0];
  di += rem * p.ds[0][0];
  D[di] = S[si];
}
