// Batched matmul for GPUs: workgroup-memory tiling, the classic shape for hardware with many
// lanes per workgroup and fast on-chip memory. (On lavapipe workgroup memory is an ordinary
// array read lane by lane, so the engine runs shaders/matmul.wgsl there instead.)
//   C[b] (+)= op(A[b]) @ op(B[b]) (+ Bias[n]), same bindings, parameters and template keys as
//   matmul.wgsl and matmul_simple.wgsl: A is [M,K] or stored [K,M] (TRANS_A); B is [K,N] or
//   stored [N,K] (TRANS_B); batch b reads A at b*sa, B at b*sb, writes C at b*sc; any M, N, K.
//
// A 16x16 workgroup computes a 64x64 block of C. For each step of BK = 16 along k, its 256
// invocations copy the 64x16 slab of op(A) and the 16x64 slab of op(B) into workgroup memory
// (4 elements each, consecutive invocations reading consecutive addresses of whichever layout
// the operand is stored in; out-of-range elements are stored as 0, so edges need no other
// test), then each invocation accumulates its 4x4 outputs: rows ty + 16i, columns tx + 16j,
// so a row of 16 invocations reads 16 consecutive floats of the B slab and one A value.
// Dispatch: x = ceil(N / 64), y = ceil(M / 64), z = batch; workgroup (16, 16).
{{>matmul_common}}

const TRANS_A = {{TRANS_A}} != 0;
const TRANS_B = {{TRANS_B}} != 0;
const BM: u32 = 64u;
const BN: u32 = 64u;
const BK: u32 = 16u;

// Slabs stored k-major: As[k * BM + m], Bs[k * BN + n].
var<workgroup> As: array<f32, 1024>;   // BK * BM
var<workgroup> Bs: array<f32, 1024>;   // BK * BN

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(local_invocation_index) li: u32) {
  let M = p.M; let N = p.N; let K = p.K;
  let m0 = wid.y * BM;
  let n0 = wid.x * BN;
  let abase = wid.z * p.sa;
  let bbase = wid.z * p.sb;
  var acc: array<array<f32, 4>, 4>;
  for (var i = 0u; i < 4u; i++) { for (var j = 0u; j < 4u; j++) { acc[i][j] = 0.0; } }
  for (var k0 = 0u; k0 < K; k0 += BK) {
    for (var t = 0u; t < 4u; t++) {
      let e = li + 256u * t;
      // Slab element e, walked in the operand's storage order.
      var am: u32; var ak: u32;
      if (TRANS_A) { ak = e / BM; am = e % BM; } else { am = e / BK; ak = e % BK; }
      let gm = m0 + am; let gk = k0 + ak;
      var av = 0.0;
      if (gm < M && gk < K) { av = A[abase + select(gm * K + gk, gk * M + gm, TRANS_A)]; }
      As[ak * BM + am] = av;
      var bk: u32; var bn: u32;
      if (TRANS_B) { bn = e / BK; bk = e % BK; } else { bk = e / BN; bn = e % BN; }
      let hk = k0 + bk; let hn = n0 + bn;
      var bv = 0.0;
      if (hk < K && hn < N) { bv = B[bbase + select(hk * N + hn, hn * K + hk, TRANS_B)]; }
      Bs[bk * BN + bn] = bv;
    }
    workgroupBarrier();
    for (var k = 0u; k < BK; k++) {
      var a: array<f32, 4>;
      var b: array<f32, 4>;
      for (var i = 0u; i < 4u; i++) { a[i] = As[k * BM + lid.y + 16u * i]; b[i] = Bs[k * BN + lid.x + 16u * i]; }
      for (var i = 0u; i < 4u; i++) { for (var j = 0u; j < 4u; j++) { acc[i][j] = fma(a[i], b[j], acc[i][j]); } }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    let m = m0 + lid.y + 16u * i;
    if (m >= M) { continue; }
    for (var j = 0u; j < 4u; j++) {
      let n = n0 + lid.x + 16u * j;
      if (n >= N) { continue; }
      let idx = wid.z * p.sc + m * N + n;
      let v = acc[i][j] + bias_at(n);
      if (p.accumulate != 0u) { C[idx] += v; } else { C[idx] = v; }
    }
  }
}
