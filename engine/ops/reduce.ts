// Reductions along one axis (sum, mean, max) and sumToShape, the adjoint of broadcasting.
import { record } from '../autograd.js';
import { f32 } from '../runtime.js';
import { empty, rt, Shape, Tensor, view } from '../tensor.js';
import { assertF32, launch1d, normAxis, pack8, sameShape } from './util.js';

type Kind = 'sum' | 'mean' | 'max';

function outShapeOf(shape: Shape, axis: number, keepDim: boolean): number[] {
  return keepDim ? shape.map((d, i) => (i === axis ? 1 : d)) : shape.filter((_, i) => i !== axis);
}

/** [outer, R, inner] view sizes for reducing `axis`. */
function split(shape: Shape, axis: number): [number, number, number] {
  let outer = 1, inner = 1;
  for (let i = 0; i < axis; i++) outer *= shape[i];
  for (let i = axis + 1; i < shape.length; i++) inner *= shape[i];
  return [outer, shape[axis], inner];
}

function reduceRaw(x: Tensor, axis: number, kind: Kind, keepDim: boolean): Tensor {
  const [outer, r, inner] = split(x.shape, axis);
  const out = empty(outShapeOf(x.shape, axis, keepDim));
  const defines = { IS_MAX: kind === 'max' ? 1 : 0 };
  const params = [outer, r, inner, f32(kind === 'mean' ? 1 / r : 1)];
  const outputs = outer * inner;
  // Few outputs over a long axis: a workgroup per output (parallel over R); otherwise one
  // invocation per output, adjacent invocations reading adjacent memory.
  if (outputs < 32 && r >= 256) {
    const rr = rt();
    const [gx, gy] = rr.grid(outputs);
    rr.dispatch(rr.kernel('reduce', defines, 'wide'), [x.binding(), out.binding()], params, [gx, gy]);
  } else {
    launch1d('reduce', defines, 'main', [x.binding(), out.binding()], params, outputs);
  }
  return out;
}

export function sum(x: Tensor, axis: number, keepDim = false): Tensor {
  return reduceOp(x, axis, 'sum', keepDim);
}
export function mean(x: Tensor, axis: number, keepDim = false): Tensor {
  return reduceOp(x, axis, 'mean', keepDim);
}
export function max(x: Tensor, axis: number, keepDim = false): Tensor {
  return reduceOp(x, axis, 'max', keepDim);
}

/** Sum of every element, as a one-element tensor of shape []. */
export function sumAll(x: Tensor): Tensor {
  assertF32('sumAll', x);
  const flat = view(x, [x.size]);
  const s = reduceRaw(flat, 0, 'sum', false);
  flat.dispose();
  return record(s, 'sumAll', [x], (g) => [expandRaw(g, x.shape)]);
}

function reduceOp(x: Tensor, axisIn: number, kind: Kind, keepDim: boolean): Tensor {
  assertF32(kind, x);
  const axis = normAxis(axisIn, x.rank, kind);
  // Over no elements a sum is 0 and a mean NaN (0/0), as in NumPy; a max has no value at all.
  if (kind === 'max' && x.shape[axis] === 0) throw new Error(`max: axis ${axis} of shape [${x.shape}] is empty`);
  const out = reduceRaw(x, axis, kind, keepDim);
  return record(out, kind, [x], (g) => {
    const kept = view(g, outShapeOf(x.shape, axis, true));
    try {
      if (kind === 'max') {
        const [outer, r, inner] = split(x.shape, axis);
        const dx = empty(x.shape);
        rt().clear(dx.binding(), dx.byteLength);
        launch1d('reduce', { IS_MAX: 1 }, 'max_backward', [x.binding(), kept.binding(), dx.binding()], [outer, r, inner, f32(1)], outer * inner);
        return [dx];
      }
      const e = expandRaw(kept, x.shape);
      if (kind === 'sum') return [e];
      const scaled = empty(x.shape);
      launch1d('unary', { EXPR: 'x * p.alpha' }, 'main', [e.binding(), scaled.binding()], [e.size, f32(1 / x.shape[axis]), f32(0), 0], e.size);
      e.dispose();
      return [scaled];
    } finally {
      kept.dispose();
    }
  });
}

/** Broadcasts g (same rank, size-1 dims, or fewer leading dims) up to `shape` (a copy). */
export function expandRaw(g: Tensor, shape: Shape): Tensor {
  const out = empty(shape);
  // binary kernel with b = g broadcast, a = g too (ignored): out = b
  const outShape = [...shape];
  const strides = broadcastStridesOf(g.shape, outShape);
  launch1d('binary', { EXPR: 'b', BROADCAST: 1, RANK: outShape.length }, 'main', [g.binding(), g.binding(), out.binding()],
    [out.size, outShape.length, 0, 0, ...pack8(outShape), ...pack8(strides), ...pack8(strides)], out.size);
  return out;
}

function broadcastStridesOf(shape: Shape, outShape: Shape): number[] {
  const off = outShape.length - shape.length;
  const own: number[] = [];
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    own[i] = acc;
    acc *= shape[i];
  }
  return outShape.map((_, i) => (i < off || shape[i - off] === 1 ? 0 : own[i - off]));
}

/**
 * Sums g over the dimensions that broadcasting expanded, giving a tensor of `shape`
 * (the gradient of a broadcast operand). Returns a view when nothing was broadcast.
 */
export function sumToShape(g: Tensor, shape: Shape): Tensor {
  if (sameShape(g.shape, shape)) return view(g, shape);
  let cur = g;
  const off = g.rank - shape.length;
  // Leading dims that the operand lacked: collapse them into one and reduce once.
  if (off > 0) {
    let lead = 1;
    for (let i = 0; i < off; i++) lead *= g.shape[i];
    const flat = view(g, [lead, ...g.shape.slice(off)]);
    cur = reduceRaw(flat, 0, 'sum', false);
    flat.dispose();
  }
  for (let i = 0; i < shape.length; i++) {
    if (shape[i] === 1 && cur.shape[i] !== 1) {
      const next = reduceRaw(cur, i, 'sum', true);
      if (cur !== g) cur.dispose();
      cur = next;
    }
  }
  if (cur === g) return view(g, shape);
  if (!sameShape(cur.shape, shape)) {
    const v = view(cur, shape);
    cur.dispose();
    return v;
  }
  return cur;
}
