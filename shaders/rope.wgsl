// Rotary position embedding on a packed projection X [rows, 3D] (q, k, v side by side):
// within each head of q and of k, dimension j < hd/2 pairs with j + hd/2 (the "rotate half"
// layout) and the pair is rotated by angle pos[row] * base^(-2i/hd), i = j mod hd/2; v is
// copied unchanged. p.sign = -1 rotates by minus the angle: the transpose, i.e. the backward.
// cos and sin come from a table Tab [tabLen, hd/2, 2] (positions below tabLen; the angles are
// computed in float64 on the host), else are computed here.
//
// D and HD are compile-time constants: every index below is a division by a constant, which
// compiles to a multiply and shift. With divisors read from a uniform, a CPU adapter
// (lavapipe) runs each division as scalar code per lane, and the kernel cost 13x a plain copy.
// One invocation per work item of a row: items [0, D) rotate one (j, j + hd/2) pair of q or k
// (D/2 pairs each), items [D, 2D) copy one element of v.
const D: u32 = {{D}}u;
const HD: u32 = {{HD}}u;
const HALF: u32 = HD / 2u;
const ITEMS: u32 = 2u * D;
struct P { n: u32, sign: f32, lnBase: f32, tabLen: u32 }
@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read> Pos: array<i32>;
@group(0) @binding(2) var<storage, read> Tab: array<vec2f>;
@group(0) @binding(3) var<storage, read_write> Y: array<f32>;
@group(0) @binding(4) var<uniform> p: P;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let e = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (e >= p.n) { return; }
  let row = e / ITEMS;
  let item = e - row * ITEMS;
  let base = row * 3u * D;
  if (item >= D) {
    let o = base + D + item;
    Y[o] = X[o];
    return;
  }
  // item -> (q or k, head, i): pairs are numbered head by head, D/2 per projection.
  let head = item / HALF;          // 0 .. 2 * heads - 1 (q heads, then k heads)
  let i = item - head * HALF;
  let lo = base + head * HD + i;
  let pos = Pos[row];
  var cs: vec2f;
  if (pos >= 0 && u32(pos) < p.tabLen) {
    cs = Tab[u32(pos) * HALF + i];
  } else {
    let angle = f32(pos) * exp(-2.0 * f32(i) / f32(HD) * p.lnBase);
    cs = vec2f(cos(angle), sin(angle));
  }
  let s = p.sign * cs.y;
  let a = X[lo];
  let b = X[lo + HALF];
  Y[lo] = a * cs.x - b * s;
  Y[lo + HALF] = b * cs.x + a * s;
}

// The same rotation four pairs at a time, with vec4 loads and stores (a CPU adapter pays per
// load instruction, and the scalar kernel's six per pair made it the slowest elementwise pass of
// a training step). Needs HALF % 4 == 0 (head dims a multiple of 8): then 4 consecutive i of a
// head are one aligned vec4 of X, and their (cos, sin) pairs two vec4s of the table. Items per
// row: [0, D/4) rotate pairs 4g .. 4g + 3 (numbered as above), [D/4, D/2) copy one vec4 of v.
// X4, Y4, Tab4 alias X, Y, Tab (one of each pair is used per entry point).
const ITEMS4: u32 = D / 2u;
@group(0) @binding(0) var<storage, read> X4: array<vec4f>;
@group(0) @binding(2) var<storage, read> Tab4: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> Y4: array<vec4f>;

@compute @workgroup_size(256)
fn main_vec4(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let e = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (e >= p.n) { return; }
  let row = e / ITEMS4;
  let item = e - row * ITEMS4;
  let base4 = row * (3u * D / 4u);
  if (item >= D / 4u) {
    let o = base4 + D / 4u + item;
    Y4[o] = X4[o];
    return;
  }
  let pair = item * 4u;
  let head = pair / HALF;
  let i = pair - head * HALF;
  let lo = base4 + (head * HD + i) / 4u;
  let pos = Pos[row];
  var c: vec4f;
  var s: vec4f;
  if (pos >= 0 && u32(pos) < p.tabLen) {
    let t = (u32(pos) * HALF + i) / 2u;
    let t0 = Tab4[t];
    let t1 = Tab4[t + 1u];
    c = vec4f(t0.x, t0.z, t1.x, t1.z);
    s = vec4f(t0.y, t0.w, t1.y, t1.w);
  } else {
    let angle = f32(pos) * exp(-2.0 * (vec4f(f32(i)) + vec4f(0.0, 1.0, 2.0, 3.0)) / f32(HD) * p.lnBase);
    c = cos(angle);
    s = sin(angle);
  }
  s = p.sign * s;
  let a = X4[lo];
  let b = X4[lo + HALF / 4u];
  Y4[lo] = a * c - b * s;
  Y4[lo + HALF / 4u] = b * c + a * s;
}
