// Row-wise softmax / log-softmax over the last axis, and their backward passes.
// One 64-invocation workgroup per row: each invocation strides over the row, then a tree
// reduction in workgroup memory combines the partial max and sum.
struct P { rows: u32, cols: u32, _p0: u32, _p1: u32 }
@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read_write> Y: array<f32>;
@group(0) @binding(2) var<uniform> p: P;

var<workgroup> red: array<f32, 64>;

fn reduce_max(lid: u32, v: f32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = 32u; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] = max(red[lid], red[lid + s]); }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}
fn reduce_sum(lid: u32, v: f32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = 32u; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] = red[lid] + red[lid + s]; }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}

@compute @workgroup_size(64)
fn forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.rows) { return; }
  let base = row * p.cols;
  var m = -3.402823e38;
  for (var j = lid; j < p.cols; j += 64u) { m = max(m, X[base + j]); }
  m = reduce_max(lid, m);
  var s = 0.0;
  for (var j = lid; j < p.cols; j += 64u) { s += exp(X[base + j] - m); }
  s = reduce_sum(lid, s);
  if ({{LOG}} != 0) {
    let lse = m + log(s);
    for (var j = lid; j < p.cols; j += 64u) { Y[base + j] = X[base + j] - lse; }
  } else {
    let inv = 1.0 / s;
    for (var j = lid; j < p.cols; j += 64u) { Y[base + j] = exp(X[base + j] - m) * inv; }
  }
}

// Backward from the forward output Y and its gradient G:
//   softmax:     dX = Y * (G - sum(G * Y))
//   log-softmax: dX = G - exp(Y) * sum(G)
@group(0) @binding(0) var<storage, read> YB: array<f32>;
@group(0) @binding(1) var<storage, read> G: array<f32>;
@group(0) @binding(2) var<storage, read_write> DX: array<f32>;
@group(0) @binding(3) var<uniform> pb: P;

@compute @workgroup_size(64)
fn backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= pb.rows) { return; }
  let base = row * pb.cols;
  var s = 0.0;
  for (var j = lid; j < pb.cols; j += 64u) {
    if ({{LOG}} != 0) { s += G[base + j]; } else { s += G[base + j] * YB[base + j]; }
  }
  s = reduce_sum(lid, s);
  for (var j = lid; j < pb.cols; j += 64u) {
    let y = YB[base + j];
    if ({{LOG}} != 0) { DX[base + j] = G[base + j] - exp(y) * s; }
    else { DX[base + j] = y * (G[base + j] - s); }
  }
}

// ---- one invocation per row (many short rows): no workgroup memory, no barriers ----
@compute @workgroup_size(64)
fn forward_rows(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = (wid.x + wid.y * nwg.x) * 64u + lid;
  if (row >= p.rows) { return; }
  let base = row * p.cols;
  var m = -3.402823e38;
  for (var j = 0u; j < p.cols; j++) { m = max(m, X[base + j]); }
  var s = 0.0;
  for (var j = 0u; j < p.cols; j++) { s += exp(X[base + j] - m); }
  if ({{LOG}} != 0) {
    let lse = m + log(s);
    for (var j = 0u; j < p.cols; j++) { Y[base + j] = X[base + j] - lse; }
  } else {
    let inv = 1.0 / s;
    for (var j = 0u; j < p.cols; j++) { Y[base + j] = exp(X[base + j] - m) * inv; }
  }
}

@compute @workgroup_size(64)
fn backward_rows(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = (wid.x + wid.y * nwg.x) * 64u + lid;
  if (row >= pb.rows) { return; }
  let base = row * pb.cols;
  var s = 0.0;
  for (var j = 0u; j < pb.cols; j++) {
    if ({{LOG}} != 0) { s += G[base + j]; } else { s += G[base + j] * YB[base + j]; }
  }
  for (var j = 0u; j < pb.cols; j++) {
    let y = YB[base + j];
    if ({{LOG}} != 0) { DX[base + j] = G[base + j] - exp(y) * s; }
    else { DX[base + j] = y * (G[base + j] - s); }
  }
}
