// Small helpers shared by the op families: shape arithmetic and 1-D launches.
import { Param, BufferBinding, Defines } from '../runtime.js';
import { rt, Shape, Tensor } from '../tensor.js';

export const MAX_RANK = 8;

export function contiguousStrides(shape: Shape): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

/** numpy broadcasting of two shapes; throws naming both shapes when incompatible. */
export function broadcastShapes(a: Shape, b: Shape, op: string): number[] {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) throw new Error(`${op}: shapes [${a}] and [${b}] do not broadcast`);
    out.push(da === 1 ? db : da);
  }
  return out;
}

/** Strides for reading a tensor of `shape` as if it had `outShape` (0 on broadcast dims). */
export function broadcastStrides(shape: Shape, outShape: Shape): number[] {
  const own = contiguousStrides(shape);
  const off = outShape.length - shape.length;
  return outShape.map((_, i) => (i < off || shape[i - off] === 1 ? 0 : own[i - off]));
}

export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Kernels index with f32 divisions (shaders/divide.wgsl) below this many items. */
export const FASTDIV_LIMIT = 2 ** 24;

/** Packs up to 8 values into two vec4<u32> (the layout the strided kernels' uniforms use). */
export function pack8(v: readonly number[]): number[] {
  if (v.length > MAX_RANK) throw new Error(`rank ${v.length} exceeds the supported ${MAX_RANK}`);
  const out = new Array<number>(8).fill(0);
  v.forEach((x, i) => (out[i] = x));
  return out;
}

/** Dispatches a kernel whose invocations cover `n` items, `wg` per workgroup, spread over x/y. */
export function launch1d(shader: string, defines: Defines, entry: string, buffers: BufferBinding[], params: Param[], n: number, wg = 256): void {
  const r = rt();
  const [x, y] = r.grid(Math.ceil(n / wg));
  r.dispatch(r.kernel(shader, defines, entry), buffers, params, [x, y]);
}

/** Dispatches one workgroup per row (rows spread over x/y). */
export function launchRows(shader: string, defines: Defines, entry: string, buffers: BufferBinding[], params: Param[], rows: number): void {
  const r = rt();
  const [x, y] = r.grid(rows);
  r.dispatch(r.kernel(shader, defines, entry), buffers, params, [x, y]);
}

export function assertF32(op: string, ...ts: Tensor[]): void {
  for (const t of ts) {
    t.assertAlive();
    if (t.dtype !== 'f32') throw new Error(`${op}: expected an f32 tensor, got ${t.dtype} [${t.shape}]`);
  }
}

export function normAxis(axis: number, rank: number, op: string): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw new Error(`${op}: axis ${axis} out of range for rank ${rank}`);
  return a;
}

/**
 * Row kernels come in two shapes: a workgroup per row (long rows: the row is split across
 * invocations and reduced in workgroup memory) and an invocation per row (many short rows:
 * no barriers, which are expensive on CPU-backed adapters and needless when there are enough
 * rows to fill the device). Returns true for the second. Rows of at most 64 columns always
 * take it: a 64-invocation workgroup would hold at most one element per invocation, all
 * barriers and no work (measured on lavapipe: a latent step's layernorms, 160 rows of 32,
 * forward and backward 4x faster).
 */
export function rowPerInvocation(rows: number, cols: number): boolean {
  return cols <= 64 || (rows >= 512 && cols <= 512);
}
