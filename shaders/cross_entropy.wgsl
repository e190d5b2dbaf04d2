// Cross-entropy fused with log-softmax, with an ignore mask (target < 0 is ignored).
//   rows:     per row r, lse = logsumexp(logits[r]); loss[r] = lse - logits[r, t] (0 if ignored);
//             Stats[r] = (lse, loss). One workgroup per row, reducing through workgroup memory.
//   rows_serial: the same with one invocation per row and an online logsumexp, for short rows
//             (a small vocabulary): no barriers, which a CPU adapter runs as costly switches
//             between invocations, and nothing idle when a row has fewer elements than a workgroup.
//   finalize: one workgroup sums loss and valid over rows: out = sum(loss) / max(count, 1)
//   backward: dlogits[r, j] = (softmax_j - [j == t]) * g / count, zero rows where ignored.
struct P { rows: u32, cols: u32, _p0: u32, _p1: u32 }
@group(0) @binding(0) var<storage, read> L: array<f32>;
@group(0) @binding(1) var<storage, read> T: array<i32>;
@group(0) @binding(2) var<storage, read_write> Stats: array<f32>; // [rows, 2]: lse, loss (NaN-free: 0 when ignored)
@group(0) @binding(3) var<uniform> p: P;

/** Stats[row] = (lse, loss of the row's target; 0 where the target is ignored). */
fn writeStats(row: u32, lse: f32) {
  let t = T[row];
  var loss = 0.0;
  // A target past the last class (possible only where the targets never visited the host, which
  // checks them) makes the loss NaN rather than read the next row's logit.
  var nanBits = 0x7fc00000u; // a variable: a NaN constant expression is not valid WGSL
  if (t >= i32(p.cols)) { loss = bitcast<f32>(nanBits); }
  else if (t >= 0) { loss = lse - L[row * p.cols + u32(t)]; }
  Stats[2u * row] = lse;
  Stats[2u * row + 1u] = loss;
}

var<workgroup> red: array<f32, 64>;
var<workgroup> red2: array<f32, 64>;

@compute @workgroup_size(64)
fn rows(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.rows) { return; }
  let base = row * p.cols;
  var m = -3.402823e38;
  for (var j = lid; j < p.cols; j += 64u) { m = max(m, L[base + j]); }
  red[lid] = m;
  workgroupBarrier();
  for (var s = 32u; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] = max(red[lid], red[lid + s]); }
    workgroupBarrier();
  }
  m = red[0];
  workgroupBarrier();
  var acc = 0.0;
  for (var j = lid; j < p.cols; j += 64u) { acc += exp(L[base + j] - m); }
  red[lid] = acc;
  workgroupBarrier();
  for (var s = 32u; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] = red[lid] + red[lid + s]; }
    workgroupBarrier();
  }
  if (lid == 0u) { writeStats(row, m + log(red[0])); }
}

@compute @workgroup_size(64)
fn rows_serial(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = (wid.x + wid.y * nwg.x) * 64u + lid;
  if (row >= p.rows) { return; }
  let base = row * p.cols;
  var m = -3.402823e38;
  var acc = 0.0;
  for (var j = 0u; j < p.cols; j++) {
    let x = L[base + j];
    if (x > m) { acc = acc * exp(m - x); m = x; }
    acc += exp(x - m);
  }
  writeStats(row, m + log(acc));
}

@group(0) @binding(0) var<storage, read> SF: array<f32>;
@group(0) @binding(1) var<storage, read> TF: array<i32>;
@group(0) @binding(2) var<storage, read_write> Out: array<f32>; // [2]: mean loss, count
@group(0) @binding(3) var<uniform> pf: P;

@compute @workgroup_size(64)
fn finalize(@builtin(local_invocation_index) lid: u32) {
  var s = 0.0;
  var c = 0.0;
  for (var r = lid; r < pf.rows; r += 64u) {
    s += SF[2u * r + 1u];
    if (TF[r] >= 0) { c += 1.0; }
  }
  red[lid] = s;
  red2[lid] = c;
  workgroupBarrier();
  for (var k = 32u; k > 0u; k >>= 1u) {
    if (lid < k) { red[lid] += red[lid + k]; red2[lid] += red2[lid + k]; }
    workgroupBarrier();
  }
  if (lid == 0u) {
    Out[0] = red[0] / max(red2[0], 1.0);
    Out[1] = red2[0];
  }
}

@group(0) @binding(0) var<storage, read> LB: array<f32>;
@group(0) @binding(1) var<storage, read> TB: array<i32>;
@group(0) @binding(2) var<storage, read> SB: array<f32>;
@group(0) @binding(3) var<storage, read> Res: array<f32>;   // [2]: mean loss, count (from finalize)
@group(0) @binding(4) var<storage, read> GO: array<f32>;    // [1]: upstream gradient of the mean loss
@group(0) @binding(5) var<storage, read_write> DL: array<f32>;
@group(0) @binding(6) var<uniform> pbk: P;

// One workgroup per row, its invocations striding over the columns: no index divisions
// (a division by a runtime value is scalar code per lane on a CPU adapter).
@compute @workgroup_size(64)
fn backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= pbk.rows) { return; }
  let base = row * pbk.cols;
  let t = TB[row];
  if (t < 0) {
    for (var j = lid; j < pbk.cols; j += 64u) { DL[base + j] = 0.0; }
    return;
  }
  let scale = GO[0] / max(Res[1], 1.0);
  let lse = SB[2u * row];
  for (var j = lid; j < pbk.cols; j += 64u) {
    var d = exp(LB[base + j] - lse);
    if (u32(t) == j) { d -= 1.0; }
    DL[base + j] = d * scale;
  }
}
