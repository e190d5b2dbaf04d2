// Shape ops: reshape (a view, no copy), permute/transpose, slice, concat. The copying ones
// all use one strided-copy kernel; their gradients are the same kernel run the other way.
import { record } from '../autograd.js';
import { DType, empty, rt, Shape, Tensor, view } from '../tensor.js';
import { f32 } from '../runtime.js';
import { contiguousStrides, FASTDIV_LIMIT, launch1d, normAxis, pack8 } from './util.js';

/**
 * Merges dimensions that are contiguous in both layouts and drops size-1 dimensions, so the
 * kernel does as little index arithmetic as possible.
 */
export function collapseDims(shape: readonly number[], ss: readonly number[], ds: readonly number[]): { shape: number[]; ss: number[]; ds: number[] } {
  const out = { shape: [] as number[], ss: [] as number[], ds: [] as number[] };
  for (let i = 0; i < shape.length; i++) {
    if (shape[i] === 1) continue;
    const k = out.shape.length - 1;
    if (k >= 0 && out.ss[k] === ss[i] * shape[i] && out.ds[k] === ds[i] * shape[i]) {
      out.shape[k] *= shape[i];
      out.ss[k] = ss[i];
      out.ds[k] = ds[i];
    } else {
      out.shape.push(shape[i]);
      out.ss.push(ss[i]);
      out.ds.push(ds[i]);
    }
  }
  if (out.shape.length === 0) return { shape: [1], ss: [1], ds: [1] };
  return out;
}

/** Raw strided copy (no autograd): dst[dstOffset + c.dstStrides] = src[srcOffset + c.srcStrides] over `shape`. */
export function stridedCopy(src: Tensor, dst: Tensor, shape: Shape, srcStrides: number[], dstStrides: number[], srcOffset: number, dstOffset: number): void {
  let n = shape.reduce((a, b) => a * b, 1);
  if (n === 0) return;
  const c = collapseDims(shape, srcStrides, dstStrides);
  const r = c.shape.length;
  const inner = c.shape[r - 1];
  // vec4 when the innermost run is contiguous on both sides and everything is 4-aligned.
  const vec4 = src.dtype !== 'f16' && c.ss[r - 1] === 1 && c.ds[r - 1] === 1 && inner % 4 === 0 && srcOffset % 4 === 0 && dstOffset % 4 === 0 &&
    c.ss.slice(0, -1).every((x) => x % 4 === 0) && c.ds.slice(0, -1).every((x) => x % 4 === 0);
  let ss = c.ss, ds = c.ds, sh = c.shape, so = srcOffset, doff = dstOffset;
  if (vec4) {
    sh = [...sh.slice(0, -1), inner / 4];
    ss = [...ss.slice(0, -1).map((x) => x / 4), 1];
    ds = [...ds.slice(0, -1).map((x) => x / 4), 1];
    so /= 4;
    doff /= 4;
    n /= 4;
  }
  const et = elementType(src.dtype);
  const defines = { ...et, RANK: r, VT: vec4 ? `vec4<${et.T}>` : et.T, FASTDIV: n < FASTDIV_LIMIT };
  launch1d('copy_strided', defines, 'main', [src.binding(), dst.binding()],
    [n, r, so, doff, ...pack8(sh), ...pack8(ss), ...pack8(ds), ...pack8(sh).map((d) => f32(d > 0 ? 1 / d : 0))], n);
}

function elementType(dtype: DType): { T: string; ENABLE: string } {
  return dtype === 'f16' ? { T: 'f16', ENABLE: 'enable f16;' } : { T: dtype, ENABLE: '' };
}

export function reshape(x: Tensor, shape: Shape): Tensor {
  const resolved = [...shape];
  const inferred = resolved.indexOf(-1);
  if (inferred >= 0) {
    const known = resolved.reduce((a, d, i) => (i === inferred ? a : a * d), 1);
    resolved[inferred] = known === 0 ? 0 : x.size / known;
  }
  const n = resolved.reduce((a, b) => a * b, 1);
  if (n !== x.size || !resolved.every((d) => Number.isInteger(d) && d >= 0)) {
    throw new Error(`reshape: cannot view [${x.shape}] (${x.size} elements) as [${shape}]`);
  }
  const out = view(x, resolved);
  return record(out, 'reshape', [x], (g) => [view(g, x.shape)]);
}

/** Reorders dimensions: out.shape[i] = x.shape[perm[i]]. */
export function permute(x: Tensor, perm: readonly number[]): Tensor {
  if (perm.length !== x.rank || [...perm].sort((a, b) => a - b).some((p, i) => p !== i)) {
    throw new Error(`permute: [${perm}] is not a permutation of ${x.rank} dimensions (shape [${x.shape}])`);
  }
  const outShape = perm.map((p) => x.shape[p]);
  const out = empty(outShape, x.dtype);
  const xs = contiguousStrides(x.shape);
  stridedCopy(x, out, outShape, perm.map((p) => xs[p]), contiguousStrides(outShape), 0, 0);
  return record(out, 'permute', [x], (g) => {
    const inv = new Array<number>(perm.length);
    perm.forEach((p, i) => (inv[p] = i));
    return [permuteRaw(g, inv)];
  });
}

function permuteRaw(x: Tensor, perm: readonly number[]): Tensor {
  const outShape = perm.map((p) => x.shape[p]);
  const out = empty(outShape, x.dtype);
  const xs = contiguousStrides(x.shape);
  stridedCopy(x, out, outShape, perm.map((p) => xs[p]), contiguousStrides(outShape), 0, 0);
  return out;
}

/** Swaps two dimensions (default: the last two). */
export function transpose(x: Tensor, a = -2, b = -1): Tensor {
  const ia = normAxis(a, x.rank, 'transpose');
  const ib = normAxis(b, x.rank, 'transpose');
  const perm = [...Array(x.rank).keys()];
  [perm[ia], perm[ib]] = [perm[ib], perm[ia]];
  return permute(x, perm);
}

/** x[..., start:end, ...] along `axis`. */
export function slice(x: Tensor, axisIn: number, start: number, end: number): Tensor {
  const axis = normAxis(axisIn, x.rank, 'slice');
  const len = x.shape[axis];
  if (!(Number.isInteger(start) && Number.isInteger(end) && 0 <= start && start <= end && end <= len)) {
    throw new Error(`slice: range [${start}, ${end}) is outside dimension ${axis} of size ${len} (shape [${x.shape}])`);
  }
  const outShape = x.shape.map((d, i) => (i === axis ? end - start : d));
  const out = empty(outShape, x.dtype);
  const xs = contiguousStrides(x.shape);
  stridedCopy(x, out, outShape, xs, contiguousStrides(outShape), start * xs[axis], 0);
  return record(out, 'slice', [x], (g) => {
    const dx = empty(x.shape, g.dtype);
    rt().clear(dx.binding(), Math.ceil(dx.byteLength / 4) * 4);
    stridedCopy(g, dx, outShape, contiguousStrides(outShape), xs, 0, start * xs[axis]);
    return [dx];
  });
}

/** Joins tensors along `axis`; all other dimensions must match. */
export function concat(xs: Tensor[], axisIn: number): Tensor {
  if (xs.length === 0) throw new Error('concat: no tensors');
  const rank = xs[0].rank;
  const axis = normAxis(axisIn, rank, 'concat');
  for (const t of xs) {
    if (t.rank !== rank || t.dtype !== xs[0].dtype || t.shape.some((d, i) => i !== axis && d !== xs[0].shape[i])) {
      throw new Error(`concat: shape [${t.shape}] ${t.dtype} does not match [${xs[0].shape}] ${xs[0].dtype} outside axis ${axis}`);
    }
  }
  const outShape = xs[0].shape.map((d, i) => (i === axis ? xs.reduce((a, t) => a + t.shape[axis], 0) : d));
  const out = empty(outShape, xs[0].dtype);
  const os = contiguousStrides(outShape);
  const offsets: number[] = [];
  let at = 0;
  for (const t of xs) {
    offsets.push(at);
    stridedCopy(t, out, t.shape, contiguousStrides(t.shape), os, 0, at * os[axis]);
    at += t.shape[axis];
  }
  return record(out, 'concat', xs, (g) =>
    xs.map((t, i) => {
      if (!t.requiresGrad) return null;
      const gi = empty(t.shape, g.dtype);
      stridedCopy(g, gi, t.shape, os, contiguousStrides(t.shape), offsets[i] * os[axis], 0);
      return gi;
    }),
  );
}
