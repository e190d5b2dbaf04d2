// Rotary position embedding on a packed projection X [rows, 3D] (q, k, v side by side):
// within each head of q and of k, dimension j < hd/2 pairs with j + hd/2 (the "rotate half"
// layout) and the pair is rotated by angle pos[row] * base^(-2i/hd), i = j mod hd/2; v is
// copied unchanged. p.sign = -1 rotates by minus the angle: the transpose, i.e. the backward.
// cos and sin come from a table Tab [tabLen, hd/2, 2] (positions below tabLen; the angles are
// computed in float64 on the host), else are computed here. One invocation per output element.
struct P { n: u32, D: u32, hd: u32, sign: f32, lnBase: f32, tabLen: u32, _p1: u32, _p2: u32 }
@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read> Pos: array<i32>;
@group(0) @binding(2) var<storage, read> Tab: array<vec2f>;
@group(0) @binding(3) var<storage, read_write> Y: array<f32>;
@group(0) @binding(4) var<uniform> p: P;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let e = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (e >= p.n) { return; }
  let width = 3u * p.D;
  let row = e / width;
  let d = e % width;
  if (d >= 2u * p.D) { Y[e] = X[e]; return; }
  let j = (d % p.D) % p.hd;
  let half = p.hd / 2u;
  let i = j % half;
  let pos = Pos[row];
  var cs: vec2f;
  if (pos >= 0 && u32(pos) < p.tabLen) {
    cs = Tab[u32(pos) * half + i];
  } else {
    let angle = f32(pos) * exp(-2.0 * f32(i) / f32(p.hd) * p.lnBase);
    cs = vec2f(cos(angle), sin(angle));
  }
  let c = cs.x;
  let s = p.sign * cs.y;
  if (j < half) {
    Y[e] = X[e] * c - X[e + half] * s;
  } else {
    Y[e] = X[e] * c + X[e - half] * s;
  }
}
