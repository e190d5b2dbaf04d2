// Latent-vision selection: per batch row, the k highest accumulated scores among image tokens
// not chosen at an earlier step. Scores are the accumulator's fixed-point integers, so the
// comparison is exact; ties go to the lower index. One invocation per candidate computes its
// rank by counting better candidates (J <= a few thousand: O(J^2) compares, no barriers).
//   select: Sel[b, rank] = b * J + j for the candidates with rank < k (flattened, ready to gather)
//   mark:   Chosen[Sel[b, r]] = 1, so later steps exclude them (a separate dispatch: select reads Chosen)
struct P { B: u32, J: u32, k: u32, _p: u32 }
@group(0) @binding(0) var<storage, read> Scores: array<i32>;
@group(0) @binding(1) var<storage, read> Chosen: array<u32>;
@group(0) @binding(2) var<storage, read_write> Sel: array<i32>;
@group(0) @binding(3) var<uniform> p: P;

@compute @workgroup_size(64)
fn select_topk(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  // Workgroups spread over x and y past the per-dimension limit (engine/runtime.ts grid()).
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= p.B * p.J) { return; }
  if (Chosen[i] != 0u) { return; }
  let b = i / p.J;
  let j = i % p.J;
  let s = Scores[i];
  var rank = 0u;
  for (var j2 = 0u; j2 < p.J; j2++) {
    let c = b * p.J + j2;
    let s2 = Scores[c];
    if (Chosen[c] == 0u && (s2 > s || (s2 == s && j2 < j))) { rank++; }
  }
  if (rank < p.k) { Sel[b * p.k + rank] = i32(i); }
}

@group(0) @binding(0) var<storage, read> SelM: array<i32>;
@group(0) @binding(1) var<storage, read_write> ChosenM: array<u32>;
@group(0) @binding(2) var<uniform> pm: P;

@compute @workgroup_size(64)
fn mark(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= pm.B * pm.k) { return; }
  ChosenM[u32(SelM[i])] = 1u;
}
