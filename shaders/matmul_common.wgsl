// Bindings and parameters shared by the matmul kernels that include this file
// (matmul_simple.wgsl, matmul_tiled.wgsl; matmul.wgsl is generated with the same layout):
// A and B read, C written, P the uniform, and the optional fused bias ({{BIAS_DECL}} binds
// Bias at 3 and moves P to binding 4; {{BIAS_AT}} reads it).
struct P { M: u32, N: u32, K: u32, batch: u32, sa: u32, sb: u32, sc: u32, accumulate: u32 }
@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read> B: array<f32>;
@group(0) @binding(2) var<storage, read_write> C: array<f32>;
@group(0) @binding({{P_BINDING}}) var<uniform> p: P;
{{BIAS_DECL}}
fn bias_at(n: u32) -> f32 { {{BIAS_AT}} }
