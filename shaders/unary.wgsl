// Elementwise y = f(x) over a contiguous buffer. {{EXPR}} is a WGSL expression in x (f32) and
// the scalars p.alpha, p.beta; specialised per op by the runtime's template step.
struct P { n: u32, alpha: f32, beta: f32, _pad: u32 }
@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read_write> Y: array<f32>;
@group(0) @binding(2) var<uniform> p: P;

fn gelu_tanh(x: f32) -> f32 {
  let c = 0.7978845608028654;
  // Clamped as in gelu_grad: past +-15 tanh is +-1 in f32 anyway, and a backend may compute
  // tanh as a ratio of exponentials that is inf/inf = NaN for large |u| (x^3 overflows at 7e12).
  return 0.5 * x * (1.0 + tanh(clamp(c * (x + 0.044715 * x * x * x), -15.0, 15.0)));
}
fn sigmoid(x: f32) -> f32 { return 1.0 / (1.0 + exp(-x)); }
fn safe_tanh(x: f32) -> f32 { let c = clamp(x, -15.0, 15.0); let e = exp(2.0 * c); return (e - 1.0) / (e + 1.0); }

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (i >= p.n) { return; }
  let x = X[i];
  Y[i] = {{EXPR}};
}
