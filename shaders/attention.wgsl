// Fused multi-head attention, flash style: each invocation owns one query row of one head and
// streams over the keys with an online softmax, so no [Tq, Tk] score matrix ever reaches
// memory. Backward recomputes the scores from Q, K and the saved log-sum-exp.
//
// Layouts (elements, all multiples of 4 so rows load as vec4): row t of head h of batch b of
// operand X starts at X.off + b * X.batch + t * X.row + h * HD. Packed QKV ([B, T, 3D] from
// one projection) and separate K/V caches ([B, Tcap, D]) are both just offsets and strides.
// Output O is [B, Tq, H, HD] (= [B, Tq, D]); LSE is [B, H, Tq].
//
// Masks: key j is visible to query i iff j >= KeyStart[b] (left padding) and, when causal,
// j <= qPos0 + i (qPos0 = absolute position of query 0: queries at an offset into a KV cache).
// A query with no visible key outputs 0 and stores LSE = 1e30 so backward gives it p = 0.
//
// Latent-vision accumulator: for query row p.accRow (if < Tq), the probabilities onto keys
// ImgStart[b] .. ImgStart[b] + J are added, summed over heads (and over layers, by calling
// with the same Acc), into Acc[b, J] as fixed-point integers (2^-24 units). Integer atomic
// addition is associative, so the sum is exactly the same whatever order heads finish in.
//
// Dispatch: x = ceil(Tq / WG) (forward, backward_q) or ceil(Tk / WG) (backward_kv), y = B * H.
struct P {
  B: u32, H: u32, Tq: u32, Tk: u32,
  qOff: u32, qRow: u32, qBatch: u32, causal: u32,
  kOff: u32, kRow: u32, kBatch: u32, qPos0: u32,
  vOff: u32, vRow: u32, vBatch: u32, scale: f32,
  accRow: u32, J: u32, _p0: u32, _p1: u32,
}

const HD4: u32 = {{HD}}u / 4u;
const WG: u32 = {{WG}}u;
const ACC_SCALE: f32 = 16777216.0;

@group(0) @binding(0) var<storage, read> Q: array<vec4f>;
@group(0) @binding(1) var<storage, read> K: array<vec4f>;
@group(0) @binding(2) var<storage, read> V: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> O: array<vec4f>;
@group(0) @binding(4) var<storage, read_write> LSE: array<f32>;
@group(0) @binding(5) var<storage, read> KeyStart: array<i32>;
@group(0) @binding(6) var<storage, read> ImgStart: array<i32>;
@group(0) @binding(7) var<storage, read_write> Acc: array<atomic<i32>>;
@group(0) @binding(8) var<uniform> p: P;

fn key_range(b: u32, i: u32) -> vec2u {
  let start = u32(max(KeyStart[b], 0));
  var end = p.Tk;
  if (p.causal != 0u) { end = min(p.Tk, p.qPos0 + i + 1u); }
  return vec2u(start, end);
}

@compute @workgroup_size(WG)
fn forward(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = wid.x * WG + lid;
  let b = wid.y / p.H;
  let h = wid.y % p.H;
  if (i >= p.Tq) { return; }
  let qb = (p.qOff + b * p.qBatch + i * p.qRow + h * {{HD}}u) / 4u;
  var q: array<vec4f, HD4>;
  var o: array<vec4f, HD4>;
  for (var d = 0u; d < HD4; d++) { q[d] = Q[qb + d] * p.scale; o[d] = vec4f(0.0); }
  let r = key_range(b, i);
  var m = -1e30;
  var l = 0.0;
  let kb0 = (p.kOff + b * p.kBatch + h * {{HD}}u) / 4u;
  let vb0 = (p.vOff + b * p.vBatch + h * {{HD}}u) / 4u;
  let kRow4 = p.kRow / 4u;
  let vRow4 = p.vRow / 4u;
  for (var j = r.x; j < r.y; j++) {
    let kb = kb0 + j * kRow4;
    var s4 = vec4f(0.0);
    for (var d = 0u; d < HD4; d++) { s4 += q[d] * K[kb + d]; }
    let s = s4.x + s4.y + s4.z + s4.w;
    if (s > m) {
      // New maximum: rescale what has been accumulated so far (rare after the first keys).
      let corr = exp(m - s);
      l *= corr;
      for (var d = 0u; d < HD4; d++) { o[d] *= corr; }
      m = s;
    }
    let pj = exp(s - m);
    l += pj;
    let vb = vb0 + j * vRow4;
    for (var d = 0u; d < HD4; d++) { o[d] += pj * V[vb + d]; }
  }
  let ob = ((b * p.Tq + i) * p.H + h) * HD4;
  var lse = 1e30;
  if (l > 0.0) {
    let inv = 1.0 / l;
    for (var d = 0u; d < HD4; d++) { O[ob + d] = o[d] * inv; }
    lse = m + log(l);
  } else {
    for (var d = 0u; d < HD4; d++) { O[ob + d] = vec4f(0.0); }
  }
  LSE[(b * p.H + h) * p.Tq + i] = lse;
  if (i == p.accRow && l > 0.0) {
    let img = ImgStart[b];
    for (var jj = 0u; jj < p.J; jj++) {
      let key = u32(img) + jj;
      if (img < 0 || key < r.x || key >= r.y) { continue; }
      let kb = kb0 + key * kRow4;
      var s4 = vec4f(0.0);
      for (var d = 0u; d < HD4; d++) { s4 += q[d] * K[kb + d]; }
      let prob = exp(s4.x + s4.y + s4.z + s4.w - lse);
      atomicAdd(&Acc[b * p.J + jj], i32(round(prob * ACC_SCALE)));
    }
  }
}

// ---- backward -------------------------------------------------------------------------------
// With P_ij = exp(s_ij - lse_i), Dlt_i = dO_i . O_i, dS_ij = P_ij (dO_i . V_j - Dlt_i):
//   dQ_i = scale * sum_j dS_ij K_j           (backward_q: one invocation per query row)
//   dK_j = scale * sum_i dS_ij Q_i,  dV_j = sum_i P_ij dO_i   (backward_kv: one per key row)
// Each output row is written by exactly one invocation: no atomics, deterministic.
// backward_q also stores Dlt for backward_kv, which must run after it.

struct PB {
  B: u32, H: u32, Tq: u32, Tk: u32,
  qOff: u32, qRow: u32, qBatch: u32, causal: u32,
  kOff: u32, kRow: u32, kBatch: u32, qPos0: u32,
  vOff: u32, vRow: u32, vBatch: u32, scale: f32,
  // where gradients go: dQ in GQ at (gqOff, gqRow, gqBatch); dK and dV in GKV.
  gqOff: u32, gqRow: u32, gqBatch: u32, _p0: u32,
  gkOff: u32, gvOff: u32, gkvRow: u32, gkvBatch: u32,
}

@group(0) @binding(0) var<storage, read> BQ: array<vec4f>;
@group(0) @binding(1) var<storage, read> BK: array<vec4f>;
@group(0) @binding(2) var<storage, read> BV: array<vec4f>;
@group(0) @binding(3) var<storage, read> BO: array<vec4f>;
@group(0) @binding(4) var<storage, read> BdO: array<vec4f>;
@group(0) @binding(5) var<storage, read> BLSE: array<f32>;
@group(0) @binding(6) var<storage, read> BKeyStart: array<i32>;
@group(0) @binding(7) var<storage, read_write> Dlt: array<f32>;
@group(0) @binding(8) var<storage, read_write> GQ: array<vec4f>;
@group(0) @binding(9) var<uniform> pb: PB;

@compute @workgroup_size(WG)
fn backward_q(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = wid.x * WG + lid;
  let b = wid.y / pb.H;
  let h = wid.y % pb.H;
  if (i >= pb.Tq) { return; }
  let qb = (pb.qOff + b * pb.qBatch + i * pb.qRow + h * {{HD}}u) / 4u;
  let ob = ((b * pb.Tq + i) * pb.H + h) * HD4;
  var q: array<vec4f, HD4>;
  var g: array<vec4f, HD4>;
  var dq: array<vec4f, HD4>;
  var dl4 = vec4f(0.0);
  for (var d = 0u; d < HD4; d++) {
    q[d] = BQ[qb + d] * pb.scale;
    g[d] = BdO[ob + d];
    dl4 += g[d] * BO[ob + d];
    dq[d] = vec4f(0.0);
  }
  let dlt = dl4.x + dl4.y + dl4.z + dl4.w;
  let lse = BLSE[(b * pb.H + h) * pb.Tq + i];
  Dlt[(b * pb.H + h) * pb.Tq + i] = dlt;
  let start = u32(max(BKeyStart[b], 0));
  var end = pb.Tk;
  if (pb.causal != 0u) { end = min(pb.Tk, pb.qPos0 + i + 1u); }
  let kb0 = (pb.kOff + b * pb.kBatch + h * {{HD}}u) / 4u;
  let vb0 = (pb.vOff + b * pb.vBatch + h * {{HD}}u) / 4u;
  for (var j = start; j < end; j++) {
    let kb = kb0 + j * (pb.kRow / 4u);
    let vb = vb0 + j * (pb.vRow / 4u);
    var s4 = vec4f(0.0);
    var dp4 = vec4f(0.0);
    for (var d = 0u; d < HD4; d++) { s4 += q[d] * BK[kb + d]; dp4 += g[d] * BV[vb + d]; }
    let pij = exp(s4.x + s4.y + s4.z + s4.w - lse);
    let ds = pij * (dp4.x + dp4.y + dp4.z + dp4.w - dlt);
    for (var d = 0u; d < HD4; d++) { dq[d] += ds * BK[kb + d]; }
  }
  let gb = (pb.gqOff + b * pb.gqBatch + i * pb.gqRow + h * {{HD}}u) / 4u;
  for (var d = 0u; d < HD4; d++) { GQ[gb + d] = dq[d] * pb.scale; }
}

@group(0) @binding(0) var<storage, read> CQ: array<vec4f>;
@group(0) @binding(1) var<storage, read> CK: array<vec4f>;
@group(0) @binding(2) var<storage, read> CV: array<vec4f>;
@group(0) @binding(3) var<storage, read> CdO: array<vec4f>;
@group(0) @binding(4) var<storage, read> CLSE: array<f32>;
@group(0) @binding(5) var<storage, read> CKeyStart: array<i32>;
@group(0) @binding(6) var<storage, read> CDlt: array<f32>;
@group(0) @binding(7) var<storage, read_write> GKV: array<vec4f>;
@group(0) @binding(8) var<uniform> pc: PB;

@compute @workgroup_size(WG)
fn backward_kv(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let j = wid.x * WG + lid;
  let b = wid.y / pc.H;
  let h = wid.y % pc.H;
  if (j >= pc.Tk) { return; }
  let kb = (pc.kOff + b * pc.kBatch + j * pc.kRow + h * {{HD}}u) / 4u;
  let vb = (pc.vOff + b * pc.vBatch + j * pc.vRow + h * {{HD}}u) / 4u;
  var k: array<vec4f, HD4>;
  var v: array<vec4f, HD4>;
  var dk: array<vec4f, HD4>;
  var dv: array<vec4f, HD4>;
  for (var d = 0u; d < HD4; d++) { k[d] = CK[kb + d]; v[d] = CV[vb + d]; dk[d] = vec4f(0.0); dv[d] = vec4f(0.0); }
  // Queries that see key j: all if j is not padding, and (causal) those with qPos0 + i >= j.
  var i0 = 0u;
  if (i32(j) < CKeyStart[b]) { i0 = pc.Tq; }
  if (pc.causal != 0u && j > pc.qPos0) { i0 = max(i0, j - pc.qPos0); }
  let qb0 = (pc.qOff + b * pc.qBatch + h * {{HD}}u) / 4u;
  for (var i = i0; i < pc.Tq; i++) {
    let qb = qb0 + i * (pc.qRow / 4u);
    let ob = ((b * pc.Tq + i) * pc.H + h) * HD4;
    let row = (b * pc.H + h) * pc.Tq + i;
    var s4 = vec4f(0.0);
    var dp4 = vec4f(0.0);
    for (var d = 0u; d < HD4; d++) { s4 += CQ[qb + d] * k[d]; dp4 += CdO[ob + d] * v[d]; }
    let pij = exp((s4.x + s4.y + s4.z + s4.w) * pc.scale - CLSE[row]);
    let ds = pij * (dp4.x + dp4.y + dp4.z + dp4.w - CDlt[row]);
    for (var d = 0u; d < HD4; d++) {
      dv[d] += pij * CdO[ob + d];
      dk[d] += ds * CQ[qb + d];
    }
  }
  let gb = (b * pc.gkvBatch + j * pc.gkvRow + h * {{HD}}u) / 4u;
  for (var d = 0u; d < HD4; d++) {
    GKV[gb + pc.gkOff / 4u + d] = dk[d] * pc.scale;
    GKV[gb + pc.gvOff / 4u + d] = dv[d];
  }
}
