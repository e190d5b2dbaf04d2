// Straightforward batched matmul, correct for every shape and transpose: each invocation
// computes a 4x4 block of C with full bounds checks. The general fallback beside the tuned
// kernel in matmul.wgsl, and the baseline it is measured against.
//   C[b] (+)= op(A[b]) @ op(B[b]) (+ Bias[n] where {{BIAS_DECL}} binds it at 3, params then at 4: as in matmul.wgsl);
//   A is [M,K] or stored [K,M] (TRANS_A); B is [K,N] or [N,K].
// Dispatch: x = ceil(N/32), y = ceil(M/32), z = batch; workgroup 8x8.
{{>matmul_common}}

fn a_at(base: u32, m: u32, k: u32) -> f32 {
  if (m >= p.M || k >= p.K) { return 0.0; }
  if ({{TRANS_A}} != 0) { return A[base + k * p.M + m]; }
  return A[base + m * p.K + k];
}
fn b_at(base: u32, k: u32, n: u32) -> f32 {
  if (k >= p.K || n >= p.N) { return 0.0; }
  if ({{TRANS_B}} != 0) { return B[base + n * p.K + k]; }
  return B[base + k * p.N + n];
}

@compute @workgroup_size(8, 8)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let n0 = (wid.x * 8u + lid.x) * 4u;
  let m0 = (wid.y * 8u + lid.y) * 4u;
  let b = wid.z;
  let abase = b * p.sa;
  let bbase = b * p.sb;
  var acc: array<vec4f, 4>;
  for (var k = 0u; k < p.K; k++) {
    let bv = vec4f(b_at(bbase, k, n0), b_at(bbase, k, n0 + 1u), b_at(bbase, k, n0 + 2u), b_at(bbase, k, n0 + 3u));
    for (var i = 0u; i < 4u; i++) { acc[i] += a_at(abase, m0 + i, k) * bv; }
  }
  for (var i = 0u; i < 4u; i++) {
    let m = m0 + i;
    if (m >= p.M) { break; }
    for (var j = 0u; j < 4u; j++) {
      let n = n0 + j;
      if (n < p.N) {
        let idx = b * p.sc + m * p.N + n;
        let v = acc[i][j] + bias_at(n);
        if (p.accumulate != 0u) { C[idx] += v; } else { C[idx] = v; }
      }
    }
  }
}
