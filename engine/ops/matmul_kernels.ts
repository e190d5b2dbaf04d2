// Chooses and launches the matmul kernel for a planned product.
//
// - shaders/matmul.wgsl: subgroup-broadcast register tiling, 32x16 per 8-lane workgroup, tuned
//   for CPU rasterisers (lavapipe), where a workgroup of 8 invocations is one subgroup; its vec4
//   entry points need 4-aligned sizes along the vec4 loads and 4-aligned batch strides.
//   shaders/matmul_f16.wgsl is its f16-storage twin, 64x16 (f16 ran faster with 8 rows per lane).
//   shaders/matmul_wide.wgsl is its vec4 entry points with a 32x32 block, for large products
//   (fewer loads per FMA: 1.13-1.25x at 1024^3 on lavapipe, bit-identical outputs, but about
//   4 s to compile per variant there, which only a large product repays).
// - shaders/matmul_tiled.wgsl: workgroup-memory tiling, 64x64 per 256-invocation workgroup,
//   for GPUs.
// - shaders/matmul_simple.wgsl: one 4x4 block per invocation, the reference the others are
//   tested against.
// All three take the same bindings and parameters and are correct for any shape.
import { rt, Tensor } from '../tensor.js';
import type { BufferBinding, Kernel } from '../runtime.js';

// The C block one workgroup computes: the tile each generated shader's header names
// (bench/experiments/gen_matmul.mjs: 8 x TM rows, TN columns; the shaders are generated with
// TM = 4 for f32 and TM = 8 for f16, TN = 16, and TM = 4, TN = 32 for the wide block, from the
// sweeps in bench/RESULTS.md).
const F32_BLOCK = { rows: 32, cols: 16 };
const F16_BLOCK = { rows: 64, cols: 16 };
const WIDE_BLOCK = { rows: 32, cols: 32 };

/**
 * Whether a vec4-eligible product takes the wide block. 'auto': when it is large (at least 2^25
 * multiply-adds: above that every measured shape ran as fast or faster wide on lavapipe, below
 * it some ran slower, and each variant's compile must pay for itself; bench/RESULTS.md, "which
 * products the wide block pays on"; the tiny model's products stay below it), K is 4-aligned
 * (the wide kernel has no k tail) and the 32-column blocks waste at most about an eighth of
 * their columns (N a multiple of 32, or N >= 256). 'always' / 'never' force it (tests).
 */
export type MatmulWide = 'auto' | 'always' | 'never';
let wideMode: MatmulWide = 'auto';
export function setMatmulWide(mode: MatmulWide): void {
  wideMode = mode;
}
export function takesWide(l: MatmulLaunch): boolean {
  if (l.K % 4 !== 0 || wideMode === 'never') return false;
  if (wideMode === 'always') return true;
  const fewWasted = l.N % WIDE_BLOCK.cols === 0 || l.N >= 256;
  return fewWasted && l.M * l.N * l.K * l.batch >= 2 ** 25;
}

export interface MatmulLaunch {
  M: number; N: number; K: number; batch: number;
  strideA: number; strideB: number;
  transA: boolean; transB: boolean; accumulate: boolean;
}

export type MatmulPath = 'auto' | 'subgroup' | 'tiled' | 'simple';
let forced: MatmulPath = 'auto';
let resolved: 'subgroup' | 'tiled' | 'simple' | null = null;

/**
 * 'auto': the subgroup kernel on CPU adapters that can run it, the tiled kernel elsewhere;
 * the other values force one kernel (tests cover each; IVT_MATMUL does the same from outside).
 */
export function setMatmulPath(path: MatmulPath): void {
  forced = path;
  resolved = null;
}
// Resolved once per setting: it runs on every matmul dispatch.
function chosenPath(): 'subgroup' | 'tiled' | 'simple' {
  if (resolved) return resolved;
  const want = forced !== 'auto' ? forced : ((process.env.IVT_MATMUL as MatmulPath | undefined) ?? 'auto');
  const dev = rt().dev;
  if (!['auto', 'subgroup', 'tiled', 'simple'].includes(want)) throw new Error(`IVT_MATMUL=${want}: expected auto, subgroup, tiled or simple`);
  if (want === 'subgroup' && !dev.hasEightLaneSubgroups) throw new Error('matmul: the subgroup kernel needs 8-lane subgroups, which this adapter lacks');
  resolved = want !== 'auto' ? want : dev.subgroupBroadcastKernels ? 'subgroup' : 'tiled';
  return resolved;
}

/** Template values for the optional fused bias (added to every row of C). */
// The bias is the fourth buffer, so the parameters (bound after the buffers) move to binding 4.
function biasDefines(bias: boolean): { BIAS_DECL: string; BIAS_AT: string; P_BINDING: number } {
  return bias
    ? { BIAS_DECL: '@group(0) @binding(3) var<storage, read> Bias: array<f32>;', BIAS_AT: 'return Bias[n];', P_BINDING: 4 }
    : { BIAS_DECL: '', BIAS_AT: 'return 0.0;', P_BINDING: 3 };
}

/**
 * The batch entries one dispatch can cover, as [first, count] ranges: all of them, or (past the
 * adapter's per-dimension workgroup limit, which z = batch must respect) consecutive ranges whose
 * first entries each operand can be bound at: a range starts at a multiple of `step` entries, so
 * that every operand's offset (entries x stride x element bytes) is a multiple of the adapter's
 * storage offset alignment.
 */
function batchRanges(l: MatmulLaunch, elementBytes: number): [number, number][] {
  const r = rt();
  const lim = r.maxWorkgroupsPerDim;
  if (l.batch <= lim) return [[0, l.batch]];
  const align = r.dev.limits.minStorageBufferOffsetAlignment;
  const gcd = (x: number, y: number): number => (y === 0 ? x : gcd(y, x % y));
  let step = 1;
  // Bytes from one batch entry to the next: A and B in the operands' type, C always f32.
  for (const strideBytes of [l.strideA * elementBytes, l.strideB * elementBytes, l.M * l.N * 4]) {
    const need = align / gcd(align, strideBytes);
    step = (step * need) / gcd(step, need);
  }
  const per = Math.floor(lim / step) * step;
  if (per === 0) throw new Error(`matmul: a batch of ${l.batch} needs ranges of ${step} entries to bind at aligned offsets, past the adapter's ${lim} workgroups per dimension`);
  const ranges: [number, number][] = [];
  for (let first = 0; first < l.batch; first += per) ranges.push([first, Math.min(per, l.batch - first)]);
  return ranges;
}

/** A binding moved on by `bytes` (a later batch range's first entry). */
function advanced(b: BufferBinding, bytes: number): BufferBinding {
  // A binding without a size runs to the buffer's end, wherever it starts.
  return bytes === 0 ? b : { buffer: b.buffer, offset: (b.offset ?? 0) + bytes, size: b.size === undefined ? undefined : b.size - bytes };
}

/** One dispatch per batch range (usually one), operands bound at the range's first entry. */
function dispatchBatched(kernel: Kernel, l: MatmulLaunch, operands: BufferBinding[], extra: BufferBinding[], elementBytes: number, groups: [number, number]): void {
  const r = rt();
  const [a, b, c] = operands;
  for (const [first, count] of batchRanges(l, elementBytes)) {
    const bound = [advanced(a!, first * l.strideA * elementBytes), advanced(b!, first * l.strideB * elementBytes), advanced(c!, first * l.M * l.N * 4)];
    r.dispatch(kernel, [...bound, ...extra], [l.M, l.N, l.K, count, l.strideA, l.strideB, l.M * l.N, +l.accumulate], [...groups, count]);
  }
}

/** C (+)= op(A) @ op(B), plus `bias` [N] on every row when given. */
export function matmulKernel(a: Tensor, b: Tensor, c: Tensor, l: MatmulLaunch, bias?: Tensor): void {
  const r = rt();
  const operands = [a.binding(), b.binding(), c.binding()];
  const extra = bias ? [bias.binding()] : [];
  const defines = { TRANS_A: +l.transA, TRANS_B: +l.transB, ...biasDefines(!!bias) };
  const path = chosenPath();
  if (path === 'subgroup') {
    // The vec4 entry points' alignment rules (shaders/matmul.wgsl header).
    const strides = l.strideA % 4 === 0 && l.strideB % 4 === 0;
    const vec4 = !l.transA && l.K % 4 === 0 && (l.transB || l.N % 4 === 0) && strides;
    const vec4ta = l.transA && l.M % 4 === 0 && (l.transB ? l.K % 4 === 0 : l.N % 4 === 0) && strides;
    const entry = vec4 ? 'main_vec4' : vec4ta ? 'main_vec4_ta' : 'main';
    const block = entry !== 'main' && takesWide(l) ? WIDE_BLOCK : F32_BLOCK;
    const shader = block === WIDE_BLOCK ? 'matmul_wide' : 'matmul';
    dispatchBatched(r.kernel(shader, defines, entry), l, operands, extra, 4, [Math.ceil(l.N / block.cols), Math.ceil(l.M / block.rows)]);
  } else if (path === 'tiled') {
    dispatchBatched(r.kernel('matmul_tiled', defines), l, operands, extra, 4, [Math.ceil(l.N / 64), Math.ceil(l.M / 64)]);
  } else {
    dispatchBatched(r.kernel('matmul_simple', defines), l, operands, extra, 4, [Math.ceil(l.N / 32), Math.ceil(l.M / 32)]);
  }
}

/** The f16-storage kernel (shaders/matmul_f16.wgsl, vec4 path only); false if its rules do not hold here. */
export function matmulKernelF16(a: Tensor, b: Tensor, c: Tensor, l: MatmulLaunch): boolean {
  const r = rt();
  const ok = chosenPath() === 'subgroup' && r.dev.hasF16 && !l.transA && l.K % 4 === 0 && (l.transB || l.N % 4 === 0) && l.strideA % 4 === 0 && l.strideB % 4 === 0;
  if (!ok) return false;
  dispatchBatched(r.kernel('matmul_f16', { TRANS_B: +l.transB, ...biasDefines(false) }, 'main'), l, [a.binding(), b.binding(), c.binding()], [], 2,
    [Math.ceil(l.N / F16_BLOCK.cols), Math.ceil(l.M / F16_BLOCK.rows)]);
  return true;
}
