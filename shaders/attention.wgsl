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
// with the same Acc), into Acc[b, J] as fixed-point integers (units of 1/p.accScale: 2^-24, coarser where layers x
// heads could overflow i32, engine/ops/attention.ts accumulatorScale). Integer atomic
// addition is associative, so the sum is exactly the same whatever order heads finish in.
//
// Dispatch: x = ceil(Tq / WG) (forward, backward_q) or ceil(Tk / WG) (backward_kv); the
// (batch, head) pair b * H + h is y + z * (y count): y = B * H, spread over y and z where that
// passes the adapter's per-dimension workgroup limit (engine/runtime.ts grid()).
//
// Two kernel families over the same bindings and parameters:
//   forward, backward_q, backward_kv        one invocation per row, workgroup WG (any device).
//   forward_sg, backward_q_sg, backward_kv_sg  tuned for llvmpipe (see shaders/matmul.wgsl): a
//     workgroup of 8 invocations is ONE subgroup; lane l owns R query rows (i0 + l + 8r) or RK
//     key rows, loads only its own row of each 8-row tile of the other operand and gets the
//     other 7 rows by subgroupBroadcast with a constant lane (one permute on llvmpipe, where
//     every storage load is a per-lane scalar loop). Online softmax is updated once per tile
//     of 8 keys. Every lane runs every subgroup operation: rows or keys outside the valid
//     range are padded (clamped loads, zeroed operands, probabilities forced to 0 by select).
//     Dispatch x = ceil(Tq / (8R)) (forward_sg, backward_q_sg), ceil(Tk / (8RK)) (backward_kv_sg).
// Storage: Q, K, V, O, dO and the gradients are vec4 of ST (f32, or f16 with ENABLE_F16 =
// 'enable f16;'); every load widens to f32 and all arithmetic (scores, softmax, sums) is f32;
// LSE and Dlt stay f32. Template keys: ST, ENABLE_F16; HD, WG; R, RK; ENABLE ('enable subgroups;' or empty), LANE (the lane builtin:
// subgroup_invocation_id, or local_invocation_index when the _sg entry points are compiled but
// never dispatched), BCAST4 / BCAST1 (subgroupBroadcast, or the no_bcast stand-ins below).
{{ENABLE}}
{{ENABLE_F16}}

struct P {
  B: u32, H: u32, Tq: u32, Tk: u32,
  qOff: u32, qRow: u32, qBatch: u32, causal: u32,
  kOff: u32, kRow: u32, kBatch: u32, qPos0: u32,
  vOff: u32, vRow: u32, vBatch: u32, scale: f32,
  accRow: u32, J: u32, accScale: f32, _p1: u32,
}

const HD4: u32 = {{HD}}u / 4u;
const WG: u32 = {{WG}}u;
const R: u32 = {{R}}u;
const RK: u32 = {{RK}}u;

// Stand-ins so the module compiles without the subgroups feature (the _sg entry points are
// then never dispatched).
fn no_bcast4(x: vec4f, lane: u32) -> vec4f { return x; }
fn no_bcast1(x: f32, lane: u32) -> f32 { return x; }
fn hsum(x: vec4f) -> f32 { return x.x + x.y + x.z + x.w; }

@group(0) @binding(0) var<storage, read> Q: array<vec4<{{ST}}>>;
@group(0) @binding(1) var<storage, read> K: array<vec4<{{ST}}>>;
@group(0) @binding(2) var<storage, read> V: array<vec4<{{ST}}>>;
@group(0) @binding(3) var<storage, read_write> O: array<vec4<{{ST}}>>;
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
fn forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = wid.x * WG + lid;
  let bh = wid.y + wid.z * nwg.y;
  if (bh >= p.B * p.H) { return; }
  let b = bh / p.H;
  let h = bh % p.H;
  if (i >= p.Tq) { return; }
  let qb = (p.qOff + b * p.qBatch + i * p.qRow + h * {{HD}}u) / 4u;
  var q: array<vec4f, HD4>;
  var o: array<vec4f, HD4>;
  for (var d = 0u; d < HD4; d++) { q[d] = vec4f(Q[qb + d]) * p.scale; o[d] = vec4f(0.0); }
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
    for (var d = 0u; d < HD4; d++) { s4 += q[d] * vec4f(K[kb + d]); }
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
    for (var d = 0u; d < HD4; d++) { o[d] += pj * vec4f(V[vb + d]); }
  }
  let ob = ((b * p.Tq + i) * p.H + h) * HD4;
  var lse = 1e30;
  if (l > 0.0) {
    let inv = 1.0 / l;
    for (var d = 0u; d < HD4; d++) { O[ob + d] = vec4<{{ST}}>(o[d] * inv); }
    lse = m + log(l);
  } else {
    for (var d = 0u; d < HD4; d++) { O[ob + d] = vec4<{{ST}}>(vec4f(0.0)); }
  }
  LSE[(b * p.H + h) * p.Tq + i] = lse;
  if (i == p.accRow && l > 0.0) {
    let img = ImgStart[b];
    for (var jj = 0u; jj < p.J; jj++) {
      let key = u32(img) + jj;
      if (img < 0 || key < r.x || key >= r.y) { continue; }
      let kb = kb0 + key * kRow4;
      var s4 = vec4f(0.0);
      for (var d = 0u; d < HD4; d++) { s4 += q[d] * vec4f(K[kb + d]); }
      let prob = exp(s4.x + s4.y + s4.z + s4.w - lse);
      atomicAdd(&Acc[b * p.J + jj], i32(round(prob * p.accScale)));
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

@group(0) @binding(0) var<storage, read> BQ: array<vec4<{{ST}}>>;
@group(0) @binding(1) var<storage, read> BK: array<vec4<{{ST}}>>;
@group(0) @binding(2) var<storage, read> BV: array<vec4<{{ST}}>>;
@group(0) @binding(3) var<storage, read> BO: array<vec4<{{ST}}>>;
@group(0) @binding(4) var<storage, read> BdO: array<vec4<{{ST}}>>;
@group(0) @binding(5) var<storage, read> BLSE: array<f32>;
@group(0) @binding(6) var<storage, read> BKeyStart: array<i32>;
@group(0) @binding(7) var<storage, read_write> Dlt: array<f32>;
@group(0) @binding(8) var<storage, read_write> GQ: array<vec4<{{ST}}>>;
@group(0) @binding(9) var<uniform> pb: PB;

@compute @workgroup_size(WG)
fn backward_q(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = wid.x * WG + lid;
  let bh = wid.y + wid.z * nwg.y;
  if (bh >= pb.B * pb.H) { return; }
  let b = bh / pb.H;
  let h = bh % pb.H;
  if (i >= pb.Tq) { return; }
  let qb = (pb.qOff + b * pb.qBatch + i * pb.qRow + h * {{HD}}u) / 4u;
  let ob = ((b * pb.Tq + i) * pb.H + h) * HD4;
  var q: array<vec4f, HD4>;
  var g: array<vec4f, HD4>;
  var dq: array<vec4f, HD4>;
  var dl4 = vec4f(0.0);
  for (var d = 0u; d < HD4; d++) {
    q[d] = vec4f(BQ[qb + d]) * pb.scale;
    g[d] = vec4f(BdO[ob + d]);
    dl4 += g[d] * vec4f(BO[ob + d]);
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
    for (var d = 0u; d < HD4; d++) { s4 += q[d] * vec4f(BK[kb + d]); dp4 += g[d] * vec4f(BV[vb + d]); }
    let pij = exp(s4.x + s4.y + s4.z + s4.w - lse);
    let ds = pij * (dp4.x + dp4.y + dp4.z + dp4.w - dlt);
    for (var d = 0u; d < HD4; d++) { dq[d] += ds * vec4f(BK[kb + d]); }
  }
  let gb = (pb.gqOff + b * pb.gqBatch + i * pb.gqRow + h * {{HD}}u) / 4u;
  for (var d = 0u; d < HD4; d++) { GQ[gb + d] = vec4<{{ST}}>(dq[d] * pb.scale); }
}

@group(0) @binding(0) var<storage, read> CQ: array<vec4<{{ST}}>>;
@group(0) @binding(1) var<storage, read> CK: array<vec4<{{ST}}>>;
@group(0) @binding(2) var<storage, read> CV: array<vec4<{{ST}}>>;
@group(0) @binding(3) var<storage, read> CdO: array<vec4<{{ST}}>>;
@group(0) @binding(4) var<storage, read> CLSE: array<f32>;
@group(0) @binding(5) var<storage, read> CKeyStart: array<i32>;
@group(0) @binding(6) var<storage, read> CDlt: array<f32>;
@group(0) @binding(7) var<storage, read_write> GKV: array<vec4<{{ST}}>>;
@group(0) @binding(8) var<uniform> pc: PB;

@compute @workgroup_size(WG)
fn backward_kv(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let j = wid.x * WG + lid;
  let bh = wid.y + wid.z * nwg.y;
  if (bh >= pc.B * pc.H) { return; }
  let b = bh / pc.H;
  let h = bh % pc.H;
  if (j >= pc.Tk) { return; }
  let kb = (pc.kOff + b * pc.kBatch + j * pc.kRow + h * {{HD}}u) / 4u;
  let vb = (pc.vOff + b * pc.vBatch + j * pc.vRow + h * {{HD}}u) / 4u;
  var k: array<vec4f, HD4>;
  var v: array<vec4f, HD4>;
  var dk: array<vec4f, HD4>;
  var dv: array<vec4f, HD4>;
  for (var d = 0u; d < HD4; d++) { k[d] = vec4f(CK[kb + d]); v[d] = vec4f(CV[vb + d]); dk[d] = vec4f(0.0); dv[d] = vec4f(0.0); }
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
    for (var d = 0u; d < HD4; d++) { s4 += vec4f(CQ[qb + d]) * k[d]; dp4 += vec4f(CdO[ob + d]) * v[d]; }
    let pij = exp((s4.x + s4.y + s4.z + s4.w) * pc.scale - CLSE[row]);
    let ds = pij * (dp4.x + dp4.y + dp4.z + dp4.w - CDlt[row]);
    for (var d = 0u; d < HD4; d++) {
      dv[d] += pij * vec4f(CdO[ob + d]);
      dk[d] += ds * vec4f(CQ[qb + d]);
    }
  }
  let gb = (b * pc.gkvBatch + j * pc.gkvRow + h * {{HD}}u) / 4u;
  for (var d = 0u; d < HD4; d++) {
    GKV[gb + pc.gkOff / 4u + d] = vec4<{{ST}}>(dk[d] * pc.scale);
    GKV[gb + pc.gvOff / 4u + d] = vec4<{{ST}}>(dv[d]);
  }
}

// ---- subgroup-broadcast kernels (llvmpipe) ----------------------------------------------------

@compute @workgroup_size(8)
fn forward_sg(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, {{LANE}} lane: u32) {
  let bh = wid.y + wid.z * nwg.y;
  if (bh >= p.B * p.H) { return; }
  let b = bh / p.H;
  let h = bh % p.H;
  let i0 = wid.x * 8u * R;
  let start = u32(max(KeyStart[b], 0));
  // Keys of the whole workgroup: start .. end of its last valid row.
  let iLast = min(i0 + 8u * R, p.Tq) - 1u;
  var end = p.Tk;
  if (p.causal != 0u) { end = min(p.Tk, p.qPos0 + iLast + 1u); }
  var q: array<vec4f, HD4 * R>;
  var o: array<vec4f, HD4 * R>;
  var m: array<f32, R>;
  var l: array<f32, R>;
  var rowEnd: array<u32, R>;
  for (var r = 0u; r < R; r++) {
    let i = i0 + lane + 8u * r;
    let ic = min(i, p.Tq - 1u);
    let qb = (p.qOff + b * p.qBatch + ic * p.qRow + h * {{HD}}u) / 4u;
    for (var d = 0u; d < HD4; d++) { q[r * HD4 + d] = vec4f(Q[qb + d]) * p.scale; o[r * HD4 + d] = vec4f(0.0); }
    m[r] = -1e30;
    l[r] = 0.0;
    rowEnd[r] = p.Tk;
    if (p.causal != 0u) { rowEnd[r] = min(p.Tk, p.qPos0 + i + 1u); }
  }
  let kb0 = (p.kOff + b * p.kBatch + h * {{HD}}u) / 4u;
  let vb0 = (p.vOff + b * p.vBatch + h * {{HD}}u) / 4u;
  let kRow4 = p.kRow / 4u;
  let vRow4 = p.vRow / 4u;
  var t: array<vec4f, HD4>;
  for (var j0 = start & ~7u; j0 < end; j0 += 8u) {
    // This lane's key row of the tile (zero outside start .. end).
    let jl = j0 + lane;
    let ok = jl >= start && jl < end;
    let kb = kb0 + min(jl, p.Tk - 1u) * kRow4;
    for (var d = 0u; d < HD4; d++) { t[d] = select(vec4f(0.0), vec4f(K[kb + d]), ok); }
    var s4: array<vec4f, 8u * R>;
    for (var x = 0u; x < 8u * R; x++) { s4[x] = vec4f(0.0); }
    // Key-outer order keeps only R accumulators live (they stay in registers).
    for (var d = 0u; d < HD4; d++) { let k = {{BCAST4}}(t[d], 0u); for (var r = 0u; r < R; r++) { s4[r * 8u + 0u] += q[r * HD4 + d] * k; } }
    for (var d = 0u; d < HD4; d++) { let k = {{BCAST4}}(t[d], 1u); for (var r = 0u; r < R; r++) { s4[r * 8u + 1u] += q[r * HD4 + d] * k; } }
    for (var d = 0u; d < HD4; d++) { let k = {{BCAST4}}(t[d], 2u); for (var r = 0u; r < R; r++) { s4[r * 8u + 2u] += q[r * HD4 + d] * k; } }
    for (var d = 0u; d < HD4; d++) { let k = {{BCAST4}}(t[d], 3u); for (var r = 0u; r < R; r++) { s4[r * 8u + 3u] += q[r * HD4 + d] * k; } }
    for (var d = 0u; d < HD4; d++) { let k = {{BCAST4}}(t[d], 4u); for (var r = 0u; r < R; r++) { s4[r * 8u + 4u] += q[r * HD4 + d] * k; } }
    for (var d = 0u; d < HD4; d++) { let k = {{BCAST4}}(t[d], 5u); for (var r = 0u; r < R; r++) { s4[r * 8u + 5u] += q[r * HD4 + d] * k; } }
    for (var d = 0u; d < HD4; d++) { let k = {{BCAST4}}(t[d], 6u); for (var r = 0u; r < R; r++) { s4[r * 8u + 6u] += q[r * HD4 + d] * k; } }
    for (var d = 0u; d < HD4; d++) { let k = {{BCAST4}}(t[d], 7u); for (var r = 0u; r < R; r++) { s4[r * 8u + 7u] += q[r * HD4 + d] * k; } }
    // Online softmax, once per tile: probabilities pr, rescale factor corr per row.
    var pr: array<f32, 8u * R>;
    var corr: array<f32, R>;
    for (var r = 0u; r < R; r++) {
      var mt = m[r];
      for (var jj = 0u; jj < 8u; jj++) {
        let j = j0 + jj;
        if (j >= start && j < rowEnd[r]) { mt = max(mt, hsum(s4[r * 8u + jj])); }
      }
      var sum = 0.0;
      for (var jj = 0u; jj < 8u; jj++) {
        let j = j0 + jj;
        let e = select(0.0, exp(hsum(s4[r * 8u + jj]) - mt), j >= start && j < rowEnd[r]);
        pr[r * 8u + jj] = e;
        sum += e;
      }
      corr[r] = exp(m[r] - mt);
      l[r] = l[r] * corr[r] + sum;
      m[r] = mt;
    }
    let vb = vb0 + min(jl, p.Tk - 1u) * vRow4;
    for (var d = 0u; d < HD4; d++) { t[d] = select(vec4f(0.0), vec4f(V[vb + d]), ok); }
    for (var d = 0u; d < HD4; d++) {
      let v0 = {{BCAST4}}(t[d], 0u); let v1 = {{BCAST4}}(t[d], 1u); let v2 = {{BCAST4}}(t[d], 2u); let v3 = {{BCAST4}}(t[d], 3u);
      let v4 = {{BCAST4}}(t[d], 4u); let v5 = {{BCAST4}}(t[d], 5u); let v6 = {{BCAST4}}(t[d], 6u); let v7 = {{BCAST4}}(t[d], 7u);
      for (var r = 0u; r < R; r++) {
        let x = r * 8u;
        o[r * HD4 + d] = o[r * HD4 + d] * corr[r] + pr[x] * v0 + pr[x + 1u] * v1 + pr[x + 2u] * v2 + pr[x + 3u] * v3
          + pr[x + 4u] * v4 + pr[x + 5u] * v5 + pr[x + 6u] * v6 + pr[x + 7u] * v7;
      }
    }
  }
  for (var r = 0u; r < R; r++) {
    let i = i0 + lane + 8u * r;
    if (i >= p.Tq) { continue; }
    let ob = ((b * p.Tq + i) * p.H + h) * HD4;
    var lse = 1e30;
    if (l[r] > 0.0) {
      let inv = 1.0 / l[r];
      for (var d = 0u; d < HD4; d++) { O[ob + d] = vec4<{{ST}}>(o[r * HD4 + d] * inv); }
      lse = m[r] + log(l[r]);
    } else {
      for (var d = 0u; d < HD4; d++) { O[ob + d] = vec4<{{ST}}>(vec4f(0.0)); }
    }
    LSE[(b * p.H + h) * p.Tq + i] = lse;
    if (i == p.accRow && l[r] > 0.0) {
      let img = ImgStart[b];
      for (var jj = 0u; jj < p.J; jj++) {
        let key = u32(img) + jj;
        if (img < 0 || key < start || key >= rowEnd[r]) { continue; }
        let kb = kb0 + key * kRow4;
        var a4 = vec4f(0.0);
        for (var d = 0u; d < HD4; d++) { a4 += q[r * HD4 + d] * vec4f(K[kb + d]); }
        let prob = exp(hsum(a4) - lse);
        atomicAdd(&Acc[b * p.J + jj], i32(round(prob * p.accScale)));
      }
    }
  }
}

@compute @workgroup_size(8)
fn backward_q_sg(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, {{LANE}} lane: u32) {
  let bh = wid.y + wid.z * nwg.y;
  if (bh >= pb.B * pb.H) { return; }
  let b = bh / pb.H;
  let h = bh % pb.H;
  let i0 = wid.x * 8u * R;
  let start = u32(max(BKeyStart[b], 0));
  let iLast = min(i0 + 8u * R, pb.Tq) - 1u;
  var end = pb.Tk;
  if (pb.causal != 0u) { end = min(pb.Tk, pb.qPos0 + iLast + 1u); }
  var q: array<vec4f, HD4 * R>;
  var g: array<vec4f, HD4 * R>;
  var dq: array<vec4f, HD4 * R>;
  var lse: array<f32, R>;
  var dlt: array<f32, R>;
  var rowEnd: array<u32, R>;
  for (var r = 0u; r < R; r++) {
    let i = i0 + lane + 8u * r;
    let ic = min(i, pb.Tq - 1u);
    let qb = (pb.qOff + b * pb.qBatch + ic * pb.qRow + h * {{HD}}u) / 4u;
    let ob = ((b * pb.Tq + ic) * pb.H + h) * HD4;
    var dl4 = vec4f(0.0);
    for (var d = 0u; d < HD4; d++) {
      q[r * HD4 + d] = vec4f(BQ[qb + d]) * pb.scale;
      let gd = vec4f(BdO[ob + d]);
      g[r * HD4 + d] = gd;
      dl4 += gd * vec4f(BO[ob + d]);
      dq[r * HD4 + d] = vec4f(0.0);
    }
    dlt[r] = hsum(dl4);
    lse[r] = BLSE[(b * pb.H + h) * pb.Tq + ic];
    if (i < pb.Tq) { Dlt[(b * pb.H + h) * pb.Tq + i] = dlt[r]; }
    rowEnd[r] = pb.Tk;
    if (pb.causal != 0u) { rowEnd[r] = min(pb.Tk, pb.qPos0 + i + 1u); }
  }
  let kb0 = (pb.kOff + b * pb.kBatch + h * {{HD}}u) / 4u;
  let vb0 = (pb.vOff + b * pb.vBatch + h * {{HD}}u) / 4u;
  var kt: array<vec4f, HD4>;
  var vt: array<vec4f, HD4>;
  for (var j0 = start & ~7u; j0 < end; j0 += 8u) {
    let jl = j0 + lane;
    let ok = jl >= start && jl < end;
    let jc = min(jl, pb.Tk - 1u);
    let kb = kb0 + jc * (pb.kRow / 4u);
    let vb = vb0 + jc * (pb.vRow / 4u);
    for (var d = 0u; d < HD4; d++) { kt[d] = select(vec4f(0.0), vec4f(BK[kb + d]), ok); vt[d] = select(vec4f(0.0), vec4f(BV[vb + d]), ok); }
    var s4: array<vec4f, 8u * R>;
    var p4: array<vec4f, 8u * R>;
    for (var x = 0u; x < 8u * R; x++) { s4[x] = vec4f(0.0); p4[x] = vec4f(0.0); }
    for (var d = 0u; d < HD4; d++) {
      let k = {{BCAST4}}(kt[d], 0u); let v = {{BCAST4}}(vt[d], 0u);
      for (var r = 0u; r < R; r++) { s4[r * 8u + 0u] += q[r * HD4 + d] * k; p4[r * 8u + 0u] += g[r * HD4 + d] * v; }
    }
    for (var d = 0u; d < HD4; d++) {
      let k = {{BCAST4}}(kt[d], 1u); let v = {{BCAST4}}(vt[d], 1u);
      for (var r = 0u; r < R; r++) { s4[r * 8u + 1u] += q[r * HD4 + d] * k; p4[r * 8u + 1u] += g[r * HD4 + d] * v; }
    }
    for (var d = 0u; d < HD4; d++) {
      let k = {{BCAST4}}(kt[d], 2u); let v = {{BCAST4}}(vt[d], 2u);
      for (var r = 0u; r < R; r++) { s4[r * 8u + 2u] += q[r * HD4 + d] * k; p4[r * 8u + 2u] += g[r * HD4 + d] * v; }
    }
    for (var d = 0u; d < HD4; d++) {
      let k = {{BCAST4}}(kt[d], 3u); let v = {{BCAST4}}(vt[d], 3u);
      for (var r = 0u; r < R; r++) { s4[r * 8u + 3u] += q[r * HD4 + d] * k; p4[r * 8u + 3u] += g[r * HD4 + d] * v; }
    }
    for (var d = 0u; d < HD4; d++) {
      let k = {{BCAST4}}(kt[d], 4u); let v = {{BCAST4}}(vt[d], 4u);
      for (var r = 0u; r < R; r++) { s4[r * 8u + 4u] += q[r * HD4 + d] * k; p4[r * 8u + 4u] += g[r * HD4 + d] * v; }
    }
    for (var d = 0u; d < HD4; d++) {
      let k = {{BCAST4}}(kt[d], 5u); let v = {{BCAST4}}(vt[d], 5u);
      for (var r = 0u; r < R; r++) { s4[r * 8u + 5u] += q[r * HD4 + d] * k; p4[r * 8u + 5u] += g[r * HD4 + d] * v; }
    }
    for (var d = 0u; d < HD4; d++) {
      let k = {{BCAST4}}(kt[d], 6u); let v = {{BCAST4}}(vt[d], 6u);
      for (var r = 0u; r < R; r++) { s4[r * 8u + 6u] += q[r * HD4 + d] * k; p4[r * 8u + 6u] += g[r * HD4 + d] * v; }
    }
    for (var d = 0u; d < HD4; d++) {
      let k = {{BCAST4}}(kt[d], 7u); let v = {{BCAST4}}(vt[d], 7u);
      for (var r = 0u; r < R; r++) { s4[r * 8u + 7u] += q[r * HD4 + d] * k; p4[r * 8u + 7u] += g[r * HD4 + d] * v; }
    }
    var ds: array<f32, 8u * R>;
    for (var r = 0u; r < R; r++) {
      for (var jj = 0u; jj < 8u; jj++) {
        let j = j0 + jj;
        let pij = select(0.0, exp(hsum(s4[r * 8u + jj]) - lse[r]), j >= start && j < rowEnd[r]);
        ds[r * 8u + jj] = pij * (hsum(p4[r * 8u + jj]) - dlt[r]);
      }
    }
    for (var d = 0u; d < HD4; d++) {
      let k0 = {{BCAST4}}(kt[d], 0u); let k1 = {{BCAST4}}(kt[d], 1u); let k2 = {{BCAST4}}(kt[d], 2u); let k3 = {{BCAST4}}(kt[d], 3u);
      let k4 = {{BCAST4}}(kt[d], 4u); let k5 = {{BCAST4}}(kt[d], 5u); let k6 = {{BCAST4}}(kt[d], 6u); let k7 = {{BCAST4}}(kt[d], 7u);
      for (var r = 0u; r < R; r++) {
        let x = r * 8u;
        dq[r * HD4 + d] += ds[x] * k0 + ds[x + 1u] * k1 + ds[x + 2u] * k2 + ds[x + 3u] * k3
          + ds[x + 4u] * k4 + ds[x + 5u] * k5 + ds[x + 6u] * k6 + ds[x + 7u] * k7;
      }
    }
  }
  for (var r = 0u; r < R; r++) {
    let i = i0 + lane + 8u * r;
    if (i >= pb.Tq) { continue; }
    let gb = (pb.gqOff + b * pb.gqBatch + i * pb.gqRow + h * {{HD}}u) / 4u;
    for (var d = 0u; d < HD4; d++) { GQ[gb + d] = vec4<{{ST}}>(dq[r * HD4 + d] * pb.scale); }
  }
}

@compute @workgroup_size(8)
fn backward_kv_sg(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, {{LANE}} lane: u32) {
  let bh = wid.y + wid.z * nwg.y;
  if (bh >= pc.B * pc.H) { return; }
  let b = bh / pc.H;
  let h = bh % pc.H;
  let jw = wid.x * 8u * RK;
  let start = u32(max(CKeyStart[b], 0));
  // Queries that see any key of the workgroup: none if all its keys are padding; causally
  // those with qPos0 + i >= first key.
  let jLast = min(jw + 8u * RK, pc.Tk) - 1u;
  var iStart = 0u;
  if (jLast < start) { iStart = pc.Tq; }
  let jFirst = max(jw, start);
  if (pc.causal != 0u && jFirst > pc.qPos0) { iStart = max(iStart, jFirst - pc.qPos0); }
  var k: array<vec4f, HD4 * RK>;
  var v: array<vec4f, HD4 * RK>;
  var dk: array<vec4f, HD4 * RK>;
  var dv: array<vec4f, HD4 * RK>;
  var keyOk: array<bool, RK>;
  var jr: array<u32, RK>;
  for (var r = 0u; r < RK; r++) {
    let j = jw + lane + 8u * r;
    jr[r] = j;
    keyOk[r] = j >= start && j < pc.Tk;
    let jc = min(j, pc.Tk - 1u);
    let kb = (pc.kOff + b * pc.kBatch + jc * pc.kRow + h * {{HD}}u) / 4u;
    let vb = (pc.vOff + b * pc.vBatch + jc * pc.vRow + h * {{HD}}u) / 4u;
    for (var d = 0u; d < HD4; d++) {
      k[r * HD4 + d] = select(vec4f(0.0), vec4f(CK[kb + d]), keyOk[r]);
      v[r * HD4 + d] = select(vec4f(0.0), vec4f(CV[vb + d]), keyOk[r]);
      dk[r * HD4 + d] = vec4f(0.0);
      dv[r * HD4 + d] = vec4f(0.0);
    }
  }
  let qb0 = (pc.qOff + b * pc.qBatch + h * {{HD}}u) / 4u;
  var qt: array<vec4f, HD4>;
  var gt: array<vec4f, HD4>;
  for (var i0 = iStart; i0 < pc.Tq; i0 += 8u) {
    // This lane's query row of the tile (zero past Tq).
    let il = i0 + lane;
    let ok = il < pc.Tq;
    let ic = min(il, pc.Tq - 1u);
    let qb = qb0 + ic * (pc.qRow / 4u);
    let ob = ((b * pc.Tq + ic) * pc.H + h) * HD4;
    let row = (b * pc.H + h) * pc.Tq + ic;
    for (var d = 0u; d < HD4; d++) {
      qt[d] = select(vec4f(0.0), vec4f(CQ[qb + d]) * pc.scale, ok);
      gt[d] = select(vec4f(0.0), vec4f(CdO[ob + d]), ok);
    }
    let lseL = CLSE[row];
    let dltL = select(0.0, CDlt[row], ok);
    var s4: array<vec4f, 8u * RK>;
    var p4: array<vec4f, 8u * RK>;
    for (var x = 0u; x < 8u * RK; x++) { s4[x] = vec4f(0.0); p4[x] = vec4f(0.0); }
    for (var d = 0u; d < HD4; d++) {
      let qq = {{BCAST4}}(qt[d], 0u); let gg = {{BCAST4}}(gt[d], 0u);
      for (var r = 0u; r < RK; r++) { s4[r * 8u + 0u] += qq * k[r * HD4 + d]; p4[r * 8u + 0u] += gg * v[r * HD4 + d]; }
    }
    for (var d = 0u; d < HD4; d++) {
      let qq = {{BCAST4}}(qt[d], 1u); let gg = {{BCAST4}}(gt[d], 1u);
      for (var r = 0u; r < RK; r++) { s4[r * 8u + 1u] += qq * k[r * HD4 + d]; p4[r * 8u + 1u] += gg * v[r * HD4 + d]; }
    }
    for (var d = 0u; d < HD4; d++) {
      let qq = {{BCAST4}}(qt[d], 2u); let gg = {{BCAST4}}(gt[d], 2u);
      for (var r = 0u; r < RK; r++) { s4[r * 8u + 2u] += qq * k[r * HD4 + d]; p4[r * 8u + 2u] += gg * v[r * HD4 + d]; }
    }
    for (var d = 0u; d < HD4; d++) {
      let qq = {{BCAST4}}(qt[d], 3u); let gg = {{BCAST4}}(gt[d], 3u);
      for (var r = 0u; r < RK; r++) { s4[r * 8u + 3u] += qq * k[r * HD4 + d]; p4[r * 8u + 3u] += gg * v[r * HD4 + d]; }
    }
    for (var d = 0u; d < HD4; d++) {
      let qq = {{BCAST4}}(qt[d], 4u); let gg = {{BCAST4}}(gt[d], 4u);
      for (var r = 0u; r < RK; r++) { s4[r * 8u + 4u] += qq * k[r * HD4 + d]; p4[r * 8u + 4u] += gg * v[r * HD4 + d]; }
    }
    for (var d = 0u; d < HD4; d++) {
      let qq = {{BCAST4}}(qt[d], 5u); let gg = {{BCAST4}}(gt[d], 5u);
      for (var r = 0u; r < RK; r++) { s4[r * 8u + 5u] += qq * k[r * HD4 + d]; p4[r * 8u + 5u] += gg * v[r * HD4 + d]; }
    }
    for (var d = 0u; d < HD4; d++) {
      let qq = {{BCAST4}}(qt[d], 6u); let gg = {{BCAST4}}(gt[d], 6u);
      for (var r = 0u; r < RK; r++) { s4[r * 8u + 6u] += qq * k[r * HD4 + d]; p4[r * 8u + 6u] += gg * v[r * HD4 + d]; }
    }
    for (var d = 0u; d < HD4; d++) {
      let qq = {{BCAST4}}(qt[d], 7u); let gg = {{BCAST4}}(gt[d], 7u);
      for (var r = 0u; r < RK; r++) { s4[r * 8u + 7u] += qq * k[r * HD4 + d]; p4[r * 8u + 7u] += gg * v[r * HD4 + d]; }
    }
    var lseB: array<f32, 8>;
    var dltB: array<f32, 8>;
    lseB[0] = {{BCAST1}}(lseL, 0u); lseB[1] = {{BCAST1}}(lseL, 1u); lseB[2] = {{BCAST1}}(lseL, 2u); lseB[3] = {{BCAST1}}(lseL, 3u);
    lseB[4] = {{BCAST1}}(lseL, 4u); lseB[5] = {{BCAST1}}(lseL, 5u); lseB[6] = {{BCAST1}}(lseL, 6u); lseB[7] = {{BCAST1}}(lseL, 7u);
    dltB[0] = {{BCAST1}}(dltL, 0u); dltB[1] = {{BCAST1}}(dltL, 1u); dltB[2] = {{BCAST1}}(dltL, 2u); dltB[3] = {{BCAST1}}(dltL, 3u);
    dltB[4] = {{BCAST1}}(dltL, 4u); dltB[5] = {{BCAST1}}(dltL, 5u); dltB[6] = {{BCAST1}}(dltL, 6u); dltB[7] = {{BCAST1}}(dltL, 7u);
    var pr: array<f32, 8u * RK>;
    var ds: array<f32, 8u * RK>;
    for (var r = 0u; r < RK; r++) {
      for (var ii = 0u; ii < 8u; ii++) {
        let i = i0 + ii;
        let vis = keyOk[r] && i < pc.Tq && (pc.causal == 0u || jr[r] <= pc.qPos0 + i);
        let pij = select(0.0, exp(hsum(s4[r * 8u + ii]) - lseB[ii]), vis);
        pr[r * 8u + ii] = pij;
        ds[r * 8u + ii] = pij * (hsum(p4[r * 8u + ii]) - dltB[ii]);
      }
    }
    for (var d = 0u; d < HD4; d++) {
      let q0 = {{BCAST4}}(qt[d], 0u); let q1 = {{BCAST4}}(qt[d], 1u); let q2 = {{BCAST4}}(qt[d], 2u); let q3 = {{BCAST4}}(qt[d], 3u);
      let q4 = {{BCAST4}}(qt[d], 4u); let q5 = {{BCAST4}}(qt[d], 5u); let q6 = {{BCAST4}}(qt[d], 6u); let q7 = {{BCAST4}}(qt[d], 7u);
      let g0 = {{BCAST4}}(gt[d], 0u); let g1 = {{BCAST4}}(gt[d], 1u); let g2 = {{BCAST4}}(gt[d], 2u); let g3 = {{BCAST4}}(gt[d], 3u);
      let g4 = {{BCAST4}}(gt[d], 4u); let g5 = {{BCAST4}}(gt[d], 5u); let g6 = {{BCAST4}}(gt[d], 6u); let g7 = {{BCAST4}}(gt[d], 7u);
      for (var r = 0u; r < RK; r++) {
        let x = r * 8u;
        dk[r * HD4 + d] += ds[x] * q0 + ds[x + 1u] * q1 + ds[x + 2u] * q2 + ds[x + 3u] * q3
          + ds[x + 4u] * q4 + ds[x + 5u] * q5 + ds[x + 6u] * q6 + ds[x + 7u] * q7;
        dv[r * HD4 + d] += pr[x] * g0 + pr[x + 1u] * g1 + pr[x + 2u] * g2 + pr[x + 3u] * g3
          + pr[x + 4u] * g4 + pr[x + 5u] * g5 + pr[x + 6u] * g6 + pr[x + 7u] * g7;
      }
    }
  }
  for (var r = 0u; r < RK; r++) {
    let j = jr[r];
    if (j >= pc.Tk) { continue; }
    let gb = (b * pc.gkvBatch + j * pc.gkvRow + h * {{HD}}u) / 4u;
    for (var d = 0u; d < HD4; d++) {
      GKV[gb + pc.gkOff / 4u + d] = vec4<{{ST}}>(dk[r * HD4 + d]);
      GKV[gb + pc.gvOff / 4u + d] = vec4<{{ST}}>(dv[r * HD4 + d]);
    }
  }
}
