// LayerNorm and RMSNorm over the last axis ({{RMS}} = 1 for RMSNorm: no mean, no beta).
//   forward:  y = (x - mean) * rstd * gamma + beta; saves mean and rstd per row.
//   backward: dx per row (one workgroup per row); dgamma/dbeta per column (one invocation per
//             column looping over rows, so no atomics and a deterministic sum).
struct P { rows: u32, cols: u32, eps: f32, _p: u32 }
@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read> Gamma: array<f32>;
@group(0) @binding(2) var<storage, read> Beta: array<f32>;
@group(0) @binding(3) var<storage, read_write> Y: array<f32>;
@group(0) @binding(4) var<storage, read_write> Stats: array<f32>; // [rows, 2]: mean, rstd
@group(0) @binding(5) var<uniform> p: P;

var<workgroup> red: array<f32, 64>;

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
  let n = f32(p.cols);
  var mean = 0.0;
  if ({{RMS}} == 0) {
    var s = 0.0;
    for (var j = lid; j < p.cols; j += 64u) { s += X[base + j]; }
    mean = reduce_sum(lid, s) / n;
  }
  var v = 0.0;
  for (var j = lid; j < p.cols; j += 64u) { let d = X[base + j] - mean; v += d * d; }
  let rstd = inverseSqrt(reduce_sum(lid, v) / n + p.eps);
  for (var j = lid; j < p.cols; j += 64u) {
    var y = (X[base + j] - mean) * rstd * Gamma[j];
    if ({{RMS}} == 0) { y += Beta[j]; }
    Y[base + j] = y;
  }
  if (lid == 0u) { Stats[2u * row] = mean; Stats[2u * row + 1u] = rstd; }
}

// dx = rstd * (gamma*g - mean_j(gamma*g) - xhat * mean_j(gamma*g*xhat))   (LayerNorm)
// dx = rstd * (gamma*g - xhat * mean_j(gamma*g*xhat))                       (RMSNorm)
@group(0) @binding(0) var<storage, read> XB: array<f32>;
@group(0) @binding(1) var<storage, read> GammaB: array<f32>;
@group(0) @binding(2) var<storage, read> StatsB: array<f32>;
@group(0) @binding(3) var<storage, read> G: array<f32>;
@group(0) @binding(4) var<storage, read_write> DX: array<f32>;
@group(0) @binding(5) var<uniform> pb: P;

@compute @workgroup_size(64)
fn backward_x(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= pb.rows) { return; }
  let base = row * pb.cols;
  let mean = StatsB[2u * row];
  let rstd = StatsB[2u * row + 1u];
  var s1 = 0.0;
  var s2 = 0.0;
  for (var j = lid; j < pb.cols; j += 64u) {
    let gg = G[base + j] * GammaB[j];
    s1 += gg;
    s2 += gg * (XB[base + j] - mean) * rstd;
  }
  let n = f32(pb.cols);
  var m1 = reduce_sum(lid, s1) / n;
  let m2 = reduce_sum(lid, s2) / n;
  if ({{RMS}} != 0) { m1 = 0.0; }
  for (var j = lid; j < pb.cols; j += 64u) {
    let xhat = (XB[base + j] - mean) * rstd;
    DX[base + j] = rstd * (G[base + j] * GammaB[j] - m1 - xhat * m2);
  }
}

@group(0) @binding(0) var<storage, read> XC: array<f32>;
@group(0) @binding(1) var<storage, read> StatsC: array<f32>;
@group(0) @binding(2) var<storage, read> GC: array<f32>;
@group(0) @binding(3) var<storage, read_write> DGamma: array<f32>;
@group(0) @binding(4) var<storage, read_write> DBeta: array<f32>;
@group(0) @binding(5) var<uniform> pc: P;

@compute @workgroup_size(64)
fn backward_params(@builtin(global_invocation_id) gid: vec3u) {
  let j = gid.x;
  if (j >= pc.cols) { return; }
  var dg = 0.0;
  var db = 0.0;
  for (var r = 0u; r < pc.rows; r++) {
    let g = GC[r * pc.cols + j];
    dg += g * (XC[r * pc.cols + j] - StatsC[2u * r]) * StatsC[2u * r + 1u];
    db += g;
  }
  DGamma[j] = dg;
  if ({{RMS}} == 0) { DBeta[j] = db; }
}

// ---- one invocation per row (many rows, short rows): no workgroup memory, no barriers ----
@compute @workgroup_size(64)
fn forward_rows(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = (wid.x + wid.y * nwg.x) * 64u + lid;
  if (row >= p.rows) { return; }
  let base = row * p.cols;
  let n = f32(p.cols);
  var mean = 0.0;
  if ({{RMS}} == 0) {
    for (var j = 0u; j < p.cols; j++) { mean += X[base + j]; }
    mean /= n;
  }
  var v = 0.0;
  for (var j = 0u; j < p.cols; j++) { let d = X[base + j] - mean; v += d * d; }
  let rstd = inverseSqrt(v / n + p.eps);
  for (var j = 0u; j < p.cols; j++) {
    var y = (X[base + j] - mean) * rstd * Gamma[j];
    if ({{RMS}} == 0) { y += Beta[j]; }
    Y[base + j] = y;
  }
  Stats[2u * row] = mean;
  Stats[2u * row + 1u] = rstd;
}

@compute @workgroup_size(64)
fn backward_x_rows(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = (wid.x + wid.y * nwg.x) * 64u + lid;
  if (row >= pb.rows) { return; }
  let base = row * pb.cols;
  let mean = StatsB[2u * row];
  let rstd = StatsB[2u * row + 1u];
  var s1 = 0.0;
  var s2 = 0.0;
  for (var j = 0u; j < pb.cols; j++) {
    let gg = G[base + j] * GammaB[j];
    s1 += gg;
    s2 += gg * (XB[base + j] - mean) * rstd;
  }
  let n = f32(pb.cols);
  var m1 = s1 / n;
  let m2 = s2 / n;
  if ({{RMS}} != 0) { m1 = 0.0; }
  for (var j = 0u; j < pb.cols; j++) {
    let xhat = (XB[base + j] - mean) * rstd;
    DX[base + j] = rstd * (G[base + j] * GammaB[j] - m1 - xhat * m2);
  }
}

// ---- the same per-row kernels reading and writing vec4 (cols % 4 == 0) ----
// llvmpipe loads storage buffers lane by lane, so one vec4 load costs about what one f32 load
// does: a quarter of the loads for the same bytes. Each sum still runs over the row's elements
// in index order, one scalar add at a time, so the results are bit-identical to the f32
// kernels above (tests/engine/ops.test.ts compares them).
@group(0) @binding(0) var<storage, read> X4: array<vec4f>;
@group(0) @binding(1) var<storage, read> Gamma4: array<vec4f>;
@group(0) @binding(2) var<storage, read> Beta4: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> Y4: array<vec4f>;

@compute @workgroup_size(64)
fn forward_rows4(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = (wid.x + wid.y * nwg.x) * 64u + lid;
  if (row >= p.rows) { return; }
  let c4 = p.cols / 4u;
  let base = row * c4;
  let n = f32(p.cols);
  var mean = 0.0;
  if ({{RMS}} == 0) {
    for (var j = 0u; j < c4; j++) { let x = X4[base + j]; mean += x.x; mean += x.y; mean += x.z; mean += x.w; }
    mean /= n;
  }
  var v = 0.0;
  for (var j = 0u; j < c4; j++) {
    let d = X4[base + j] - vec4f(mean);
    v += d.x * d.x; v += d.y * d.y; v += d.z * d.z; v += d.w * d.w;
  }
  let rstd = inverseSqrt(v / n + p.eps);
  for (var j = 0u; j < c4; j++) {
    var y = (X4[base + j] - vec4f(mean)) * rstd * Gamma4[j];
    if ({{RMS}} == 0) { y += Beta4[j]; }
    Y4[base + j] = y;
  }
  Stats[2u * row] = mean;
  Stats[2u * row + 1u] = rstd;
}

@group(0) @binding(0) var<storage, read> XB4: array<vec4f>;
@group(0) @binding(1) var<storage, read> GammaB4: array<vec4f>;
@group(0) @binding(3) var<storage, read> G4: array<vec4f>;
@group(0) @binding(4) var<storage, read_write> DX4: array<vec4f>;

@compute @workgroup_size(64)
fn backward_x_rows4(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = (wid.x + wid.y * nwg.x) * 64u + lid;
  if (row >= pb.rows) { return; }
  let c4 = pb.cols / 4u;
  let base = row * c4;
  let mean = StatsB[2u * row];
  let rstd = StatsB[2u * row + 1u];
  var s1 = 0.0;
  var s2 = 0.0;
  for (var j = 0u; j < c4; j++) {
    let gg = G4[base + j] * GammaB4[j];
    let t = gg * (XB4[base + j] - vec4f(mean)) * rstd;
    s1 += gg.x; s2 += t.x; s1 += gg.y; s2 += t.y; s1 += gg.z; s2 += t.z; s1 += gg.w; s2 += t.w;
  }
  let n = f32(pb.cols);
  var m1 = s1 / n;
  let m2 = s2 / n;
  if ({{RMS}} != 0) { m1 = 0.0; }
  for (var j = 0u; j < c4; j++) {
    let xhat = (XB4[base + j] - vec4f(mean)) * rstd;
    DX4[base + j] = rstd * (G4[base + j] * GammaB4[j] - vec4f(m1) - xhat * m2);
  }
}

@group(0) @binding(0) var<storage, read> XC4: array<vec4f>;
@group(0) @binding(2) var<storage, read> GC4: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> DGamma4: array<vec4f>;
@group(0) @binding(4) var<storage, read_write> DBeta4: array<vec4f>;

// Four columns per invocation; each column's sum over rows keeps the row order.
@compute @workgroup_size(64)
fn backward_params4(@builtin(global_invocation_id) gid: vec3u) {
  let j = gid.x;
  let c4 = pc.cols / 4u;
  if (j >= c4) { return; }
  var dg = vec4f(0.0);
  var db = vec4f(0.0);
  for (var r = 0u; r < pc.rows; r++) {
    let g = GC4[r * c4 + j];
    dg += g * (XC4[r * c4 + j] - vec4f(StatsC[2u * r])) * StatsC[2u * r + 1u];
    db += g;
  }
  DGamma4[j] = dg;
  if ({{RMS}} == 0) { DBeta4[j] = db; }
}
