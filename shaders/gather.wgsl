// Row gather and its race-free backward.
//   gather:      out[n, :] = table[idx[n], :]           (embedding lookup, gather rows)
//   scatter_csr: dtable[v, :] += sum over n in rows(v) of g[n, :], where rows(v) is given as
//                CSR (offsets[v]..offsets[v+1] into `order`), built on the host from the ids.
//                One invocation per (v, column): no two invocations write the same element,
//                so no atomics, and the summation order is fixed (deterministic).
//   scatter_scan: same result without a host-side index: each (v, column) scans all n.
//                For small index counts (latent-vision selections).
struct P { n: u32, cols: u32, rows: u32, _p: u32 }
@group(0) @binding(0) var<storage, read> Table: array<f32>;
@group(0) @binding(1) var<storage, read> Idx: array<i32>;
@group(0) @binding(2) var<storage, read_write> Out: array<f32>;
@group(0) @binding(3) var<uniform> p: P;

@compute @workgroup_size(256)
fn gather(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (i >= p.n * p.cols) { return; }
  let n = i / p.cols;
  let c = i % p.cols;
  let r = Idx[n];
  // Out-of-range ids are rejected on the host where they have a host copy; an id computed on
  // the GPU that is out of range reads as NaN, which the loss then shows, never another row.
  if (r < 0 || r >= i32(p.rows)) {
    var nanBits = 0x7fc00000u; // a variable: a NaN constant expression is not valid WGSL
    Out[i] = bitcast<f32>(nanBits);
    return;
  }
  Out[i] = Table[u32(r) * p.cols + c];
}

@group(0) @binding(0) var<storage, read> G: array<f32>;
@group(0) @binding(1) var<storage, read> Offsets: array<u32>;
@group(0) @binding(2) var<storage, read> Order: array<u32>;
@group(0) @binding(3) var<storage, read_write> DT: array<f32>;
@group(0) @binding(4) var<uniform> pc: P;

@compute @workgroup_size(256)
fn scatter_csr(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (i >= pc.rows * pc.cols) { return; }
  let v = i / pc.cols;
  let c = i % pc.cols;
  var acc = 0.0;
  for (var k = Offsets[v]; k < Offsets[v + 1u]; k++) {
    acc += G[Order[k] * pc.cols + c];
  }
  DT[i] = acc;
}

@group(0) @binding(0) var<storage, read> GS: array<f32>;
@group(0) @binding(1) var<storage, read> IdxS: array<i32>;
@group(0) @binding(2) var<storage, read_write> DTS: array<f32>;
@group(0) @binding(3) var<uniform> ps: P;

@compute @workgroup_size(256)
fn scatter_scan(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (i >= ps.rows * ps.cols) { return; }
  let v = i32(i / ps.cols);
  let c = i % ps.cols;
  var acc = 0.0;
  for (var n = 0u; n < ps.n; n++) {
    if (IdxS[n] == v) { acc += GS[n * ps.cols + c]; }
  }
  DTS[i] = acc;
}
