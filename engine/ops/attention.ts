// Fused multi-head attention (shaders/attention.wgsl): forward with an online softmax, no
// [T, T] matrix in memory; backward recomputes scores from the saved log-sum-exp.
//
// Operands are [B, T, D] row layouts (D = heads * headDim), either three tensors or one packed
// [B, T, 3D] projection. Keys and values may be a preallocated cache of capacity > kvLen
// (inference). Differentiable with respect to every operand, including keys and values that
// a KV cache concatenated from earlier passes of the same graph.
import { record } from '../autograd.js';
import { f32, BufferBinding } from '../runtime.js';
import { empty, keep, onEngineShutdown, rt, Tensor, view } from '../tensor.js';
import { cast } from './cast.js';
import { fillRaw } from './elementwise.js';
import { slice } from './shape.js';

export interface AttentionOptions {
  heads: number;
  causal: boolean;
  /** Absolute position of query 0 among the keys (causal masking). Default Tk - Tq. */
  qPos0?: number;
  /** i32 [B]: first visible key per batch row (left padding). Default: all keys visible. */
  keyStart?: Tensor | null;
  /** Number of valid key rows when k/v are a cache with more capacity. Default: all rows. */
  kvLen?: number;
  /** Softmax scale; default 1/sqrt(headDim). */
  scale?: number;
  /**
   * Latent-vision accumulator: add query row `row`'s probabilities onto keys imgStart[b]..+J into
   * acc[b, J]. `terms`: how many softmaxes (layers x heads) will add into acc in all, which sets
   * the fixed-point unit so that their sum cannot overflow i32 (default 64: units of 2^-24).
   */
  accumulate?: { acc: Tensor; row: number; imgStart: Tensor; terms?: number } | null;
}

interface Operand {
  t: Tensor;
  off: number;
  row: number;
  batch: number;
}

let zeroI32: Tensor | null = null;
/**
 * n zeros (the default key start of every row), as a view of a cached buffer: the view holds
 * its own reference, so a graph that saved it keeps its storage when a larger batch replaces
 * the cache.
 */
function zerosI32(n: number): Tensor {
  if (!zeroI32 || zeroI32.isDisposed || zeroI32.size < n) {
    zeroI32?.dispose();
    zeroI32 = keep(fillRaw(empty([Math.max(n, 64)], 'i32'), 0));
  }
  return view(zeroI32, [n]);
}
/** Fixed-point unit of the accumulator: 2^-24, coarser where more terms could overflow i32. */
const ACC_SCALE_MAX = 2 ** 24;
/**
 * Each term adds at most 1 (a probability) in units of 1/scale; `terms` of them stay below 2^30
 * (i32 holds 2^31) with scale = 2^(30 - ceil(log2 terms)), capped at 2^24. Up to 64 terms (every
 * preset) that is 2^24; a 28-layer, 28-head model gets 2^20.
 */
export function accumulatorScale(terms: number): number {
  if (!Number.isInteger(terms) || terms < 1) throw new Error(`attention: accumulator terms must be a positive integer, got ${terms}`);
  return Math.min(ACC_SCALE_MAX, 2 ** (30 - Math.ceil(Math.log2(terms))));
}

let dummyAcc: Tensor | null = null;
// Both belong to the engine's device: a new engine makes its own.
onEngineShutdown(() => {
  zeroI32 = null;
  dummyAcc = null;
});
function dummyAccumulator(): Tensor {
  if (!dummyAcc || dummyAcc.isDisposed) dummyAcc = keep(fillRaw(empty([4], 'i32'), 0));
  return dummyAcc;
}

function checkHeadDim(D: number, heads: number): number {
  if (D % heads !== 0) throw new Error(`attention: width ${D} is not divisible by ${heads} heads`);
  const hd = D / heads;
  if (hd % 4 !== 0 || hd < 4 || hd > 256) throw new Error(`attention: head dim ${hd} must be a multiple of 4 in [4, 256]`);
  return hd;
}

/** Attention over separate q [B, Tq, D], k and v [B, Tcap, D]. Returns [B, Tq, D]. */
export function attention(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions): Tensor {
  const dtype = storageType('attention', q);
  for (const [n, t] of [['q', q], ['k', k], ['v', v]] as const) {
    if (t.dtype !== dtype || t.rank !== 3) throw new Error(`attention: ${n} must be ${dtype} [B, T, D] like q, got ${t.dtype} [${t.shape}]`);
  }
  const [B, Tq, D] = q.shape;
  const Tcap = k.shape[1];
  if (k.shape[0] !== B || v.shape[0] !== B || k.shape[2] !== D || v.shape[2] !== D || v.shape[1] !== Tcap) {
    throw new Error(`attention: q [${q.shape}], k [${k.shape}], v [${v.shape}] do not agree`);
  }
  const Tk = opts.kvLen ?? Tcap;
  if (Tk > Tcap) throw new Error(`attention: kvLen ${Tk} exceeds the cache capacity ${Tcap}`);
  const op = (t: Tensor): Operand => ({ t, off: 0, row: D, batch: t.shape[1] * D });
  return run(op(q), op(k), op(v), { B, Tq, Tk, D }, opts, (g, saved) => {
    if (Tk !== Tcap && (k.requiresGrad || v.requiresGrad)) throw new Error('attention: gradients through a partially filled cache buffer are not supported; use a graph cache');
    const dq = empty([B, Tq, D], dtype);
    const dkv = empty([B, Tk, 2 * D], dtype);
    backwardKernels(saved, g, { t: dq, off: 0, row: D, batch: Tq * D }, { t: dkv, kOff: 0, vOff: D, row: 2 * D, batch: Tk * 2 * D });
    const dk = k.requiresGrad ? slice(dkv, 2, 0, D) : null;
    const dv = v.requiresGrad ? slice(dkv, 2, D, 2 * D) : null;
    dkv.dispose();
    return [dq, dk, dv];
  }, [q, k, v]);
}

/** Self-attention over a packed projection qkv [B, T, 3D] (q, k, v side by side). Returns [B, T, D]. */
export function attentionPacked(qkv: Tensor, opts: AttentionOptions): Tensor {
  const dtype = storageType('attentionPacked', qkv);
  if (qkv.rank !== 3 || qkv.shape[2] % 3 !== 0) throw new Error(`attentionPacked: qkv must be [B, T, 3D], got [${qkv.shape}]`);
  const [B, T, D3] = qkv.shape;
  const D = D3 / 3;
  const at = (off: number): Operand => ({ t: qkv, off, row: D3, batch: T * D3 });
  return run(at(0), at(D), at(2 * D), { B, Tq: T, Tk: T, D }, opts, (g, saved) => {
    const dqkv = empty([B, T, D3], dtype);
    backwardKernels(saved, g, { t: dqkv, off: 0, row: D3, batch: T * D3 }, { t: dqkv, kOff: D, vOff: 2 * D, row: D3, batch: T * D3 });
    return [dqkv];
  }, [qkv]);
}

/**
 * f32, or f16 where the adapter has shader-f16: f16 storage (half the memory traffic and KV
 * cache) with every score, softmax and sum computed in f32 inside the kernel.
 */
function storageType(op: string, t: Tensor): 'f32' | 'f16' {
  if (t.dtype === 'f32') return 'f32';
  if (t.dtype === 'f16') {
    if (!rt().dev.hasF16) throw new Error(`${op}: f16 operands need an adapter with shader-f16 (this one has none); use f32`);
    return 'f16';
  }
  throw new Error(`${op}: operands must be f32 or f16, got ${t.dtype}`);
}

interface Saved {
  q: Operand;
  k: Operand;
  v: Operand;
  o: Tensor;
  lse: Tensor;
  keyStart: Tensor;
  dims: { B: number; Tq: number; Tk: number; D: number; H: number; hd: number; qPos0: number; causal: boolean; scale: number };
}

const WG = 64;

/**
 * Rows per lane of the subgroup kernels: query rows for forward_sg and backward_q_sg, key rows
 * for backward_kv_sg (a workgroup covers 8 lanes x that many rows).
 *
 * More rows per lane share each loaded K/V (or Q/dO) tile among more FMAs, but rows past n are
 * computed and thrown away, so short passes take fewer. The backward kernels are compiled with
 * their loops unrolled in the source (engine/unroll.ts): their bodies are too large for NIR to
 * unroll, and with more than one row per lane the rolled loops index private arrays by a loop
 * variable, which llvmpipe turns into per-lane scalar loops. Measured on lavapipe at B=4, H=4,
 * hd=64, T=512 causal (per-kernel GPU time, least of 7, bench/experiments/attn_prof.mjs):
 * - forward: 4 rows 27-34 ms, 2 rows 44-49, 1 row 68-83 (rolled; unrolled it is no faster);
 * - backward_q: rolled 1 row 56-60 ms (2 rows 66-76, 4 rows 74-87); unrolled 2 rows 36-44,
 *   4 rows 32-35;
 * - backward_kv: rolled 1 row 60-62 ms (2 rows 70); unrolled 2 rows 42-51, 4 rows 44.
 * The backward kernels take 2 rows up to LONG_PASS rows and 4 beyond: at hd=64 the unrolled
 * 4-row variants cost about a minute more of cold compile time (Mesa caches them on disk
 * afterwards), which pays only on long passes. Whole backward (both kernels) at T=512:
 * 2 rows 81.2 ms, 4 rows 73.8 ms; at T=256 equal; at T=128 4 rows is slower.
 * IVT_ATTN_R / IVT_ATTN_RK force a count (experiments and tests).
 */
const LONG_PASS = 384;
function rowsPerLane(entry: 'forward' | 'backward_q' | 'backward_kv', n: number): number {
  const forced = entry === 'backward_kv' ? process.env.IVT_ATTN_RK : process.env.IVT_ATTN_R;
  if (forced) return Number(forced);
  if (entry !== 'forward') return n <= 8 ? 1 : n < LONG_PASS ? 2 : 4;
  return n <= 8 ? 1 : n <= 16 ? 2 : 4;
}

let sgOk: boolean | null = null;
/**
 * Chooses the kernels: 'auto' (the subgroup-broadcast kernels where the device has 8-lane
 * subgroups, unless IVT_ATTN=simple) or 'simple' (one invocation per row). Tests use it to
 * cover both paths in one process; the subgroup kernels are heavily unrolled and slow to
 * compile on lavapipe, so tests compile them for a few head dims only.
 */
export function setAttentionPath(path: 'auto' | 'simple'): void {
  sgOk = path === 'simple' ? false : null;
}

function subgroupKernelsUsable(): boolean {
  sgOk ??= rt().dev.subgroupBroadcastKernels && process.env.IVT_ATTN !== 'simple';
  return sgOk;
}

/** Kernel and its grid x for one of 'forward', 'backward_q' (over n = Tq rows) or 'backward_kv' (n = Tk). */
function attnKernel(hd: number, entry: 'forward' | 'backward_q' | 'backward_kv', n: number, dtype: 'f32' | 'f16') {
  const r = rt();
  const storage = dtype === 'f16' ? { ST: 'f16', ENABLE_F16: 'enable f16;' } : { ST: 'f32', ENABLE_F16: '' };
  // f16 runs on the one-row kernels: the subgroup kernels' unrolled bodies take minutes to
  // compile on lavapipe per variant, and f16 buys nothing there (loads, not bytes, bound them).
  if (dtype === 'f32' && subgroupKernelsUsable()) {
    // Each entry point gets its own count (R for the query-row kernels, RK for backward_kv);
    // the other key is fixed so that variants differ only where the entry point reads them.
    const rows = rowsPerLane(entry, n);
    const R = entry === 'backward_kv' ? 1 : rows, RK = entry === 'backward_kv' ? rows : 1;
    const defines = { HD: hd, WG, R, RK, ...storage, ENABLE: 'enable subgroups;', LANE: '@builtin(subgroup_invocation_id)', BCAST4: 'subgroupBroadcast', BCAST1: 'subgroupBroadcast' };
    const kernel = r.kernel('attention', defines, `${entry}_sg`, { unroll: entry !== 'forward' });
    return { kernel, x: Math.ceil(n / (8 * rows)) };
  }
  const defines = { HD: hd, WG, R: 1, RK: 1, ...storage, ENABLE: '', LANE: '@builtin(local_invocation_index)', BCAST4: 'no_bcast4', BCAST1: 'no_bcast1' };
  return { kernel: r.kernel('attention', defines, entry), x: Math.ceil(n / WG) };
}

function run(
  q: Operand, k: Operand, v: Operand,
  d: { B: number; Tq: number; Tk: number; D: number },
  opts: AttentionOptions,
  bwd: (g: Tensor, s: Saved) => (Tensor | null)[],
  inputs: Tensor[],
): Tensor {
  const H = opts.heads;
  const hd = checkHeadDim(d.D, H);
  const qPos0 = opts.qPos0 ?? (opts.causal ? d.Tk - d.Tq : 0);
  if (opts.causal && (qPos0 < 0 || qPos0 + d.Tq > d.Tk + d.Tq)) throw new Error(`attention: query offset ${qPos0} is invalid for ${d.Tk} keys`);
  const scale = opts.scale ?? 1 / Math.sqrt(hd);
  const keyStart = opts.keyStart ?? zerosI32(d.B);
  if (keyStart.dtype !== 'i32' || keyStart.size < d.B) throw new Error(`attention: keyStart must be i32 [${d.B}], got ${keyStart.dtype} [${keyStart.shape}]`);
  const acc = opts.accumulate ?? null;
  let J = 0, accRow = 0xffffffff, accScale = ACC_SCALE_MAX;
  if (acc) {
    accScale = accumulatorScale(acc.terms ?? 64);
    if (acc.acc.dtype !== 'i32' || acc.acc.rank !== 2 || acc.acc.shape[0] !== d.B) throw new Error(`attention: accumulator must be i32 [B, J], got [${acc.acc.shape}]`);
    if (acc.row < 0 || acc.row >= d.Tq) throw new Error(`attention: accumulator row ${acc.row} is outside the ${d.Tq} queries`);
    J = acc.acc.shape[1];
    accRow = acc.row;
  }
  const dtype = q.t.dtype as 'f32' | 'f16';
  const o = empty([d.B, d.Tq, d.D], dtype);
  const lse = empty([d.B, H, d.Tq]);
  const r = rt();
  const fk = attnKernel(hd, 'forward', d.Tq, dtype);
  const bind = (x: Operand): BufferBinding => x.t.binding();
  r.dispatch(fk.kernel,
    [bind(q), bind(k), bind(v), o.binding(), lse.binding(), keyStart.binding(), (acc?.imgStart ?? keyStart).binding(), (acc?.acc ?? dummyAccumulator()).binding()],
    [d.B, H, d.Tq, d.Tk, q.off, q.row, q.batch, +opts.causal, k.off, k.row, k.batch, qPos0, v.off, v.row, v.batch, f32(scale), accRow, J, f32(accScale), 0],
    [fk.x, ...r.grid(d.B * H)]);
  const saved: Saved = { q, k, v, o, lse, keyStart, dims: { ...d, H, hd, qPos0, causal: opts.causal, scale } };
  const out = record(o, 'attention', inputs, (g) => bwd(g, saved));
  // The log-sum-exps (and a default key start's view) serve only the backward pass: without one they go now.
  if (!out.node) {
    lse.dispose();
    if (!opts.keyStart) keyStart.dispose();
  }
  return out;
}

function backwardKernels(
  s: Saved, g: Tensor,
  gq: { t: Tensor; off: number; row: number; batch: number },
  gkv: { t: Tensor; kOff: number; vOff: number; row: number; batch: number },
): void {
  const { B, Tq, Tk, H, hd, qPos0, causal, scale } = s.dims;
  const r = rt();
  const dtype = s.o.dtype as 'f32' | 'f16';
  // The incoming gradient in the operands' storage type (a consumer may hand back f32).
  const gs = g.dtype === dtype ? g : cast(g, dtype);
  const dlt = empty([B, H, Tq]);
  const common = [B, H, Tq, Tk, s.q.off, s.q.row, s.q.batch, +causal, s.k.off, s.k.row, s.k.batch, qPos0, s.v.off, s.v.row, s.v.batch, f32(scale)];
  const params = [...common, gq.off, gq.row, gq.batch, 0, gkv.kOff, gkv.vOff, gkv.row, gkv.batch];
  const kq = attnKernel(hd, 'backward_q', Tq, dtype);
  const kkv = attnKernel(hd, 'backward_kv', Tk, dtype);
  r.dispatch(kq.kernel,
    [s.q.t.binding(), s.k.t.binding(), s.v.t.binding(), s.o.binding(), gs.binding(), s.lse.binding(), s.keyStart.binding(), dlt.binding(), gq.t.binding()],
    params, [kq.x, ...r.grid(B * H)]);
  r.dispatch(kkv.kernel,
    [s.q.t.binding(), s.k.t.binding(), s.v.t.binding(), gs.binding(), s.lse.binding(), s.keyStart.binding(), dlt.binding(), gkv.t.binding()],
    params, [kkv.x, ...r.grid(B * H)]);
  dlt.dispose();
  if (gs !== g) gs.dispose();
}

