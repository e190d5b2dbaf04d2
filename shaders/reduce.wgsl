// Reduction along one axis of a contiguous tensor viewed as [outer, R, inner] -> [outer, inner].
// {{OP}} is sum or max; mean is sum with p.scale = 1/R.
// `main`: one invocation per output (many outputs: adjacent invocations read adjacent inner
// elements). `wide`: one 256-invocation workgroup per output (few outputs, long R).
struct P { outer: u32, r: u32, inner: u32, scale: f32 }
@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read_write> Y: array<f32>;
@group(0) @binding(2) var<uniform> p: P;

fn combine(a: f32, b: f32) -> f32 {
  if ({{IS_MAX}} != 0) { return max(a, b); }
  return a + b;
}
fn identity() -> f32 {
  // Never an output of max: both kernels start from real elements (a row of -Inf, a fully
  // masked row, has max -Inf, not this lowest finite f32).
  if ({{IS_MAX}} != 0) { return -3.402823e38; }
  return 0.0;
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let o = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (o >= p.outer * p.inner) { return; }
  let a = o / p.inner;
  let b = o % p.inner;
  var idx = a * p.r * p.inner + b;
  var acc = identity();
  if (p.r > 0u) { acc = X[idx]; }
  for (var k = 1u; k < p.r; k++) {
    idx += p.inner;
    acc = combine(acc, X[idx]);
  }
  if ({{IS_MAX}} != 0) { Y[o] = acc; } else { Y[o] = acc * p.scale; }
}

var<workgroup> part: array<f32, 256>;

@compute @workgroup_size(256)
fn wide(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let o = wid.x + wid.y * nwg.x;
  let a = o / p.inner;
  let b = o % p.inner;
  // Lane lid holds elements lid, lid + 256, ...; lanes past the row's length hold none and are
  // never combined (so max starts from real elements only).
  var acc = identity();
  if (lid < p.r) { acc = X[(a * p.r + lid) * p.inner + b]; }
  for (var k = lid + 256u; k < p.r; k += 256u) {
    acc = combine(acc, X[(a * p.r + k) * p.inner + b]);
  }
  part[lid] = acc;
  workgroupBarrier();
  let held = min(p.r, 256u);
  for (var s = 128u; s > 0u; s >>= 1u) {
    if (lid < s && lid + s < held) { part[lid] = combine(part[lid], part[lid + s]); }
    workgroupBarrier();
  }
  if (lid == 0u && o < p.outer * p.inner) {
    if ({{IS_MAX}} != 0) { Y[o] = part[0]; } else { Y[o] = part[0] * p.scale; }
  }
}

// Gradient of max: the whole output gradient goes to the first index attaining the maximum
// (deterministic under ties). DX must be zero-filled beforehand.
@group(0) @binding(0) var<storage, read> XB: array<f32>;
@group(0) @binding(1) var<storage, read> G: array<f32>;
@group(0) @binding(2) var<storage, read_write> DX: array<f32>;
@group(0) @binding(3) var<uniform> pb: P;

@compute @workgroup_size(256)
fn max_backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let o = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (o >= pb.outer * pb.inner) { return; }
  let a = o / pb.inner;
  let b = o % pb.inner;
  var best = -3.402823e38;
  var arg = 0u;
  for (var k = 0u; k < pb.r; k++) {
    let v = XB[(a * pb.r + k) * pb.inner + b];
    if (v > best) { best = v; arg = k; }
  }
  DX[(a * pb.r + arg) * pb.inner + b] = G[o];
}
