// Elementwise out = f(a, b) with numpy broadcasting. The output is contiguous; each operand
// is read through per-dimension strides where a broadcast dimension has stride 0.
// {{EXPR}} is a WGSL expression in a and b (f32). BROADCAST=0 skips the index arithmetic
// when both operands already have the output's shape.
struct P {
  n: u32, rank: u32, _p0: u32, _p1: u32,
  shape: array<vec4u, 2>,
  sa: array<vec4u, 2>,
  sb: array<vec4u, 2>,
}
@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read> B: array<f32>;
@group(0) @binding(2) var<storage, read_write> O: array<f32>;
@group(0) @binding(3) var<uniform> p: P;

fn gelu_grad(x: f32) -> f32 {
  let c = 0.7978845608028654;
  let u = c * (x + 0.044715 * x * x * x);
  let t = tanh(clamp(u, -15.0, 15.0));
  return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * c * (1.0 + 3.0 * 0.044715 * x * x);
}
fn sigmoid(x: f32) -> f32 { return 1.0 / (1.0 + exp(-x)); }

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (i >= p.n) { return; }
  var ia = i;
  var ib = i;
  if ({{BROADCAST}} != 0) {
    // Dimensions were collapsed on the host; RANK is a compile-time constant so this unrolls.
    ia = 0u; ib = 0u;
    var rem = i;
    for (var d = {{RANK}} - 1; d >= 1; d--) {
      let dim = p.shape[d / 4][d % 4];
      let c = rem % dim;
      rem = rem / dim;
      ia += c * p.sa[d / 4][d % 4];
      ib += c * p.sb[d / 4][d % 4];
    }
    ia += rem * p.sa[0][0];
    ib += rem * p.sb[0][0];
  }
  let a = A[ia];
  let b = B[ib];
  O[i] = {{EXPR}};
}

