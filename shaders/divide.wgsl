// Division of indices without an integer division instruction, included by kernels whose
// index arithmetic divides by sizes known only at run time ({{>divide}}). A CPU adapter
// (lavapipe) runs a u32 division by a runtime value as scalar code, lane by lane; these
// f32 steps run on every lane at once.
// divSmall(n, d, inv) = floor(n / d) for n < 2^24 (f32 holds n exactly), with inv = f32(1 / d):
// an f32 estimate (off by at most a few), a second estimate from the remainder (off by at
// most one), then a +-1 fix. Callers fall back to n / d when n may reach 2^24 (FASTDIV false).
fn divSmall(n: u32, d: u32, inv: f32) -> u32 {
  var q = i32(f32(n) * inv);
  q += i32(floor(f32(i32(n) - q * i32(d)) * inv));
  let r = i32(n) - q * i32(d);
  return u32(q + select(0, -1, r < 0) + select(0, 1, r >= i32(d)));
}
