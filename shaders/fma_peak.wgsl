// Register-only FMA microkernel: measures the adapter's peak f32 FMA rate in the same run as
// the kernels it is compared with (the denominator for "% of peak").
//
// Each invocation runs 8 independent vec4 FMA chains, the loop body unrolled 4x (32 vec4 FMAs
// per iteration = 256 flops). The trip count comes from a uniform so nothing constant-folds,
// and the chains are summed into out[] so nothing is eliminated.
// On lavapipe (llvmpipe 256-bit, 2 cores) this was the best of a sweep over workgroup size
// {8,64,256} x chains {2,3,4,6,8} x unroll {1,4,8,16} (bench/experiments/fma_sweep.mjs):
// WG=256, 8 chains, unroll 4 -> ~58-66 GFLOP/s. Fewer chains or no unroll gives 20-30.
//
// Template keys: {{WG}} workgroup size (256 recommended).
// Bindings: 0 = out: array<f32> (read_write, >= invocations floats), 1 = uniform P.
// flops = invocations * iters * 256, invocations = dispatch_x * WG.
struct P { iters: u32, _p0: u32, _p1: u32, _p2: u32 }
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<uniform> p: P;

@compute @workgroup_size({{WG}})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let seed = f32(gid.x) * 1e-7;
  let x = vec4<f32>(0.9999, 0.9998, 0.9997, 0.9996) + vec4<f32>(seed);
  let y = vec4<f32>(1e-6, 2e-6, 3e-6, 4e-6);
  var a0 = vec4<f32>(0.00 + seed);
  var a1 = vec4<f32>(0.01 + seed);
  var a2 = vec4<f32>(0.02 + seed);
  var a3 = vec4<f32>(0.03 + seed);
  var a4 = vec4<f32>(0.04 + seed);
  var a5 = vec4<f32>(0.05 + seed);
  var a6 = vec4<f32>(0.06 + seed);
  var a7 = vec4<f32>(0.07 + seed);
  for (var i = 0u; i < p.iters; i++) {
    a0 = fma(a0, x, y); a1 = fma(a1, x, y); a2 = fma(a2, x, y); a3 = fma(a3, x, y);
    a4 = fma(a4, x, y); a5 = fma(a5, x, y); a6 = fma(a6, x, y); a7 = fma(a7, x, y);
    a0 = fma(a0, x, y); a1 = fma(a1, x, y); a2 = fma(a2, x, y); a3 = fma(a3, x, y);
    a4 = fma(a4, x, y); a5 = fma(a5, x, y); a6 = fma(a6, x, y); a7 = fma(a7, x, y);
    a0 = fma(a0, x, y); a1 = fma(a1, x, y); a2 = fma(a2, x, y); a3 = fma(a3, x, y);
    a4 = fma(a4, x, y); a5 = fma(a5, x, y); a6 = fma(a6, x, y); a7 = fma(a7, x, y);
    a0 = fma(a0, x, y); a1 = fma(a1, x, y); a2 = fma(a2, x, y); a3 = fma(a3, x, y);
    a4 = fma(a4, x, y); a5 = fma(a5, x, y); a6 = fma(a6, x, y); a7 = fma(a7, x, y);
  }
  let r = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7));
  out[gid.x] = r.x + r.y + r.z + r.w;
}
