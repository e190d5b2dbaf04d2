// Fused optimizer kernels over flat parameter arenas (every parameter of a group lives in one
// buffer, so one dispatch updates them all).
//   sumsq:    partial sums of g^2, one per workgroup, into Partials[p.offset + workgroup]
//   norm:     one workgroup: Norm[0] = sqrt(sum of all partials)  (global gradient norm)
//   adamw:    decoupled weight decay Adam with the clip scale min(1, maxNorm / norm) applied
//             to g on the fly. A non-finite norm skips the update entirely, so one bad batch
//             cannot poison the weights (the trainer reads the norm and reports it).
struct SP { n: u32, offset: u32, _p0: u32, _p1: u32 }
@group(0) @binding(0) var<storage, read> G: array<f32>;
@group(0) @binding(1) var<storage, read_write> Partials: array<f32>;
@group(0) @binding(2) var<uniform> sp: SP;

var<workgroup> red: array<f32, 256>;

@compute @workgroup_size(256)
fn sumsq(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let stride = nwg.x * 256u;
  var acc = 0.0;
  for (var i = wid.x * 256u + lid; i < sp.n; i += stride) { let g = G[i]; acc += g * g; }
  red[lid] = acc;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] += red[lid + s]; }
    workgroupBarrier();
  }
  if (lid == 0u) { Partials[sp.offset + wid.x] = red[0]; }
}

@group(0) @binding(0) var<storage, read> PN: array<f32>;
@group(0) @binding(1) var<storage, read_write> Norm: array<f32>;
@group(0) @binding(2) var<uniform> np: SP;

@compute @workgroup_size(256)
fn norm(@builtin(local_invocation_index) lid: u32) {
  var acc = 0.0;
  for (var i = lid; i < np.n; i += 256u) { acc += PN[i]; }
  red[lid] = acc;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] += red[lid + s]; }
    workgroupBarrier();
  }
  if (lid == 0u) { Norm[0] = sqrt(red[0]); }
}

struct AP {
  n: u32, _p0: u32, _p1: u32, _p2: u32,
  lr: f32, beta1: f32, beta2: f32, eps: f32,
  wd: f32, bc1: f32, bc2: f32, max_norm: f32,
}
@group(0) @binding(0) var<storage, read_write> W: array<f32>;
@group(0) @binding(1) var<storage, read> GA: array<f32>;
@group(0) @binding(2) var<storage, read_write> M: array<f32>;
@group(0) @binding(3) var<storage, read_write> V: array<f32>;
@group(0) @binding(4) var<storage, read> NormA: array<f32>;
@group(0) @binding(5) var<uniform> ap: AP;

fn is_finite(x: f32) -> bool {
  // NaN fails every comparison; infinities exceed the largest finite f32.
  return x == x && abs(x) <= 3.402823e38;
}

@compute @workgroup_size(256)
fn adamw(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (i >= ap.n) { return; }
  let norm = NormA[0];
  if (!is_finite(norm)) { return; }
  var scale = 1.0;
  if (ap.max_norm > 0.0 && norm > ap.max_norm) { scale = ap.max_norm / (norm + 1e-6); }
  let g = GA[i] * scale;
  let m = ap.beta1 * M[i] + (1.0 - ap.beta1) * g;
  let v = ap.beta2 * V[i] + (1.0 - ap.beta2) * g * g;
  M[i] = m;
  V[i] = v;
  let mhat = m / ap.bc1;
  let vhat = v / ap.bc2;
  let w = W[i];
  W[i] = w - ap.lr * (mhat / (sqrt(vhat) + ap.eps) + ap.wd * w);
}
