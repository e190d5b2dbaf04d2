// Seeded dropout: keep element i when hash(seed, i) >= p * 2^32, scaling kept values by
// 1/(1-p). The mask is a pure function of (seed, i), so backward recomputes it instead of
// storing it, and a run with the same seed drops the same elements.
struct P { n: u32, seed: u32, threshold: u32, scale: f32 }
@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read_write> Y: array<f32>;
@group(0) @binding(2) var<uniform> p: P;

// PCG-style integer hash (one round of the PCG output permutation on a mixed state).
fn hash(v: u32) -> u32 {
  let state = v * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (i >= p.n) { return; }
  let keep = hash(i ^ hash(p.seed)) >= p.threshold;
  Y[i] = select(0.0, X[i] * p.scale, keep);
}
