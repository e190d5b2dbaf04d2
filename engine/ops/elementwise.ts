// Elementwise ops: unary maps, binary ops with broadcasting, scalar forms, fills and copies.
// Each op's backward is written in terms of these same ops (tinygrad's habit: few kernels).
import { record, setGradKernels } from '../autograd.js';
import { f32 } from '../runtime.js';
import { empty, rt, Shape, Tensor, view } from '../tensor.js';
import { assertF32, broadcastShapes, broadcastStrides, FASTDIV_LIMIT, launch1d, pack8, sameShape } from './util.js';
import { sumToShape } from './reduce.js';
import { castRaw } from './cast.js';

// ---- raw kernels (no autograd) -----------------------------------------------------------

function mapRaw(x: Tensor, expr: string, alpha = 0, beta = 0): Tensor {
  assertF32(`unary ${expr}`, x); // the kernel reads and writes f32
  const y = empty(x.shape);
  launch1d('unary', { EXPR: expr }, 'main', [x.binding(), y.binding()], [x.size, f32(alpha), f32(beta), 0], x.size);
  return y;
}

/** Expressions that mean the same on vec4 as on f32 (plain arithmetic on a and b). */
const VEC4_SAFE = /^[ab\s+\-*\/()]+$/;

function zipRaw(a: Tensor, b: Tensor, expr: string, op: string): Tensor {
  assertF32(op, a, b); // the kernels read and write f32
  const outShape = broadcastShapes(a.shape, b.shape, op);
  const out = empty(outShape);
  const n = out.size;
  if (sameShape(a.shape, outShape) && sameShape(b.shape, outShape) && n % 4 === 0 && VEC4_SAFE.test(expr)) {
    launch1d('binary_vec4', { EXPR: expr, FASTDIV: true }, 'main', [a.binding(), b.binding(), out.binding()], [n / 4, 0, 0, 0], n / 4);
  } else if (VEC4_SAFE.test(expr) && n % 4 === 0 && rowOf(b.shape, outShape) && sameShape(a.shape, outShape)) {
    // A row vector (a bias) over every row: one index modulo per element (in f32, divide.wgsl).
    const c = outShape[outShape.length - 1];
    launch1d('binary_vec4', { EXPR: expr, FASTDIV: n / 4 < FASTDIV_LIMIT }, 'rows_b', [a.binding(), b.binding(), out.binding()], [n / 4, c / 4, f32(4 / c), 0], n / 4);
  } else if (VEC4_SAFE.test(expr) && n % 4 === 0 && rowOf(a.shape, outShape) && sameShape(b.shape, outShape)) {
    const c = outShape[outShape.length - 1];
    launch1d('binary_vec4', { EXPR: expr, FASTDIV: n / 4 < FASTDIV_LIMIT }, 'rows_a', [a.binding(), b.binding(), out.binding()], [n / 4, c / 4, f32(4 / c), 0], n / 4);
  } else if (sameShape(a.shape, outShape) && sameShape(b.shape, outShape)) {
    launch1d('binary', { EXPR: expr, BROADCAST: 0, RANK: 1 }, 'main', [a.binding(), b.binding(), out.binding()], [n, 0, 0, 0, ...pack8([]), ...pack8([]), ...pack8([])], n);
  } else {
    const c = collapseBroadcast(outShape, broadcastStrides(a.shape, outShape), broadcastStrides(b.shape, outShape));
    launch1d('binary', { EXPR: expr, BROADCAST: 1, RANK: c.shape.length }, 'main', [a.binding(), b.binding(), out.binding()],
      [n, c.shape.length, 0, 0, ...pack8(c.shape), ...pack8(c.sa), ...pack8(c.sb)], n);
  }
  return out;
}

/** Whether `shape` is one row of `out`'s last dimension (all leading dims 1 or absent), of a multiple of 4. */
function rowOf(shape: readonly number[], out: readonly number[]): boolean {
  const c = out[out.length - 1];
  if (out.length < 2 || c % 4 !== 0 || shape.length === 0 || shape[shape.length - 1] !== c) return false;
  return shape.slice(0, -1).every((d) => d === 1);
}

/** Merges adjacent output dimensions along which both operands are laid out contiguously (or both broadcast). */
function collapseBroadcast(shape: number[], sa: number[], sb: number[]): { shape: number[]; sa: number[]; sb: number[] } {
  const out = { shape: [] as number[], sa: [] as number[], sb: [] as number[] };
  for (let i = 0; i < shape.length; i++) {
    if (shape[i] === 1) continue;
    const k = out.shape.length - 1;
    if (k >= 0 && out.sa[k] === sa[i] * shape[i] && out.sb[k] === sb[i] * shape[i]) {
      out.shape[k] *= shape[i];
      out.sa[k] = sa[i];
      out.sb[k] = sb[i];
    } else {
      out.shape.push(shape[i]);
      out.sa.push(sa[i]);
      out.sb.push(sb[i]);
    }
  }
  if (!out.shape.length) return { shape: [1], sa: [0], sb: [0] };
  return out;
}

/** Fills a 32-bit tensor with a value (as f32 bits for f32 tensors, integer bits otherwise). */
export function fillRaw(t: Tensor, value: number): Tensor {
  let bits: number;
  if (t.dtype === 'f32') bits = new Uint32Array(new Float32Array([value]).buffer)[0];
  else if (t.dtype === 'i32') bits = value >>> 0;
  else if (t.dtype === 'u32') bits = value >>> 0;
  else throw new Error(`fill: unsupported dtype ${t.dtype}`);
  launch1d('fill', {}, 'main', [t.binding()], [t.size, bits, 0, 0], t.size);
  // An index tensor's host copy would now say something else than the GPU holds.
  if (t.dtype !== 'f32') t.hostData = null;
  return t;
}

export function full(shape: Shape, value: number, dtype: 'f32' | 'i32' | 'u32' = 'f32'): Tensor {
  return fillRaw(empty(shape, dtype), value);
}
export const zeros = (shape: Shape): Tensor => full(shape, 0);
export const ones = (shape: Shape): Tensor => full(shape, 1);
export const zerosLike = (t: Tensor): Tensor => zeros(t.shape);
export const onesLike = (t: Tensor): Tensor => ones(t.shape);

/** A new tensor with the same values (a real copy, not a view). */
export function clone(t: Tensor): Tensor {
  const out = empty(t.shape, t.dtype);
  rt().copy(t.binding(), out.binding(), Math.ceil(t.byteLength / 4) * 4);
  return record(out, 'clone', [t], (g) => [view(g, g.shape)]);
}

/** into += add (same shapes); used for gradient accumulation into parameters. */
export function addInPlace(into: Tensor, add: Tensor): void {
  assertF32('addInPlace', into, add);
  if (!sameShape(into.shape, add.shape)) throw new Error(`addInPlace: shapes [${into.shape}] and [${add.shape}] differ`);
  const v4 = into.size % 4 === 0;
  const n = v4 ? into.size / 4 : into.size;
  launch1d('axpy', { VT: v4 ? 'vec4f' : 'f32' }, 'main', [add.binding(), into.binding()], [n, f32(1), 0, 0], n);
}

// ---- unary ops with gradients ------------------------------------------------------------

export function neg(x: Tensor): Tensor {
  assertF32('neg', x);
  return record(mapRaw(x, '-x'), 'neg', [x], (g) => [mapRaw(g, '-x')]);
}
export function exp(x: Tensor): Tensor {
  assertF32('exp', x);
  const y = mapRaw(x, 'exp(x)');
  return record(y, 'exp', [x], (g) => [zipRaw(g, y, 'a * b', 'exp backward')]);
}
export function log(x: Tensor): Tensor {
  assertF32('log', x);
  return record(mapRaw(x, 'log(x)'), 'log', [x], (g) => [zipRaw(g, x, 'a / b', 'log backward')]);
}
export function sqrt(x: Tensor): Tensor {
  assertF32('sqrt', x);
  const y = mapRaw(x, 'sqrt(x)');
  return record(y, 'sqrt', [x], (g) => [zipRaw(g, y, '0.5 * a / b', 'sqrt backward')]);
}
export function rsqrt(x: Tensor): Tensor {
  assertF32('rsqrt', x);
  const y = mapRaw(x, 'inverseSqrt(x)');
  // d/dx x^-1/2 = -1/2 x^-3/2 = -1/2 y^3
  return record(y, 'rsqrt', [x], (g) => [zipRaw(g, y, '-0.5 * a * b * b * b', 'rsqrt backward')]);
}
export function tanh(x: Tensor): Tensor {
  assertF32('tanh', x);
  const y = mapRaw(x, 'safe_tanh(x)');
  return record(y, 'tanh', [x], (g) => [zipRaw(g, y, 'a * (1.0 - b * b)', 'tanh backward')]);
}
/** GELU, tanh approximation (as GPT-2 and most small LMs use). */
export function gelu(x: Tensor): Tensor {
  assertF32('gelu', x);
  return record(mapRaw(x, 'gelu_tanh(x)'), 'gelu', [x], (g) => [zipRaw(g, x, 'a * gelu_grad(b)', 'gelu backward')]);
}
export function silu(x: Tensor): Tensor {
  assertF32('silu', x);
  return record(mapRaw(x, 'x * sigmoid(x)'), 'silu', [x], (g) => [
    zipRaw(g, x, 'a * (sigmoid(b) * (1.0 + b * (1.0 - sigmoid(b))))', 'silu backward'),
  ]);
}
export function relu(x: Tensor): Tensor {
  assertF32('relu', x);
  return record(mapRaw(x, 'max(x, 0.0)'), 'relu', [x], (g) => [zipRaw(g, x, 'select(0.0, a, b > 0.0)', 'relu backward')]);
}

// ---- scalar forms ----------------------------------------------------------------------------

export function addScalar(x: Tensor, s: number): Tensor {
  assertF32('addScalar', x);
  return record(mapRaw(x, 'x + p.alpha', s), 'addScalar', [x], (g) => [view(g, g.shape)]);
}
export function mulScalar(x: Tensor, s: number): Tensor {
  assertF32('mulScalar', x);
  return record(mapRaw(x, 'x * p.alpha', s), 'mulScalar', [x], (g) => [mapRaw(g, 'x * p.alpha', s)]);
}
/** x ** s for a constant exponent. */
export function powScalar(x: Tensor, s: number): Tensor {
  assertF32('powScalar', x);
  // pow() in WGSL is undefined for negative bases; integer exponents are common, so use
  // sign-aware |x|^s for them.
  const isInt = Number.isInteger(s);
  // pow(0, e) is undefined in WGSL too: at x = 0 the result is 1 for e = 0, 0 for e > 0 and
  // +Inf for e < 0 (the derivative s * x^(s - 1) goes through the same expression).
  const atZero = 'select(select(0.0, 1.0 / abs(x), p.alpha < 0.0), 1.0, p.alpha == 0.0)';
  const body = isInt ? 'select(1.0, -1.0, x < 0.0 && (i32(p.alpha) % 2) != 0) * pow(abs(x), p.alpha)' : 'pow(x, p.alpha)';
  const expr = `select(${body}, ${atZero}, x == 0.0)`;
  return record(mapRaw(x, expr, s), 'powScalar', [x], (g) => {
    // x^0 is constant: its gradient is 0 everywhere (0 * x^-1 would be NaN at x = 0).
    if (s === 0) return [mapRaw(g, '0.0', 0)];
    const d = mapRaw(x, expr.replaceAll('p.alpha', 'p.beta'), s, s - 1);
    const out = zipRaw(g, d, 'a * b', 'pow backward');
    d.dispose();
    const scaled = mapRaw(out, 'x * p.alpha', s);
    out.dispose();
    return [scaled];
  });
}

// ---- binary ops with broadcasting ----------------------------------------------------------

export function add(a: Tensor, b: Tensor): Tensor {
  assertF32('add', a, b);
  const out = zipRaw(a, b, 'a + b', 'add');
  return record(out, 'add', [a, b], (g) => [a.requiresGrad ? sumToShape(g, a.shape) : null, b.requiresGrad ? sumToShape(g, b.shape) : null]);
}
export function sub(a: Tensor, b: Tensor): Tensor {
  assertF32('sub', a, b);
  const out = zipRaw(a, b, 'a - b', 'sub');
  return record(out, 'sub', [a, b], (g) => {
    let r: Tensor | null = null;
    if (b.requiresGrad) {
      const gb = mapRaw(g, '-x');
      r = sumToShape(gb, b.shape);
      gb.dispose();
    }
    return [a.requiresGrad ? sumToShape(g, a.shape) : null, r];
  });
}
export function mul(a: Tensor, b: Tensor): Tensor {
  assertF32('mul', a, b);
  const out = zipRaw(a, b, 'a * b', 'mul');
  return record(out, 'mul', [a, b], (g) => [
    a.requiresGrad ? reduceProduct(g, b, a.shape, 'a * b') : null,
    b.requiresGrad ? reduceProduct(g, a, b.shape, 'a * b') : null,
  ]);
}
export function div(a: Tensor, b: Tensor): Tensor {
  assertF32('div', a, b);
  const out = zipRaw(a, b, 'a / b', 'div');
  return record(out, 'div', [a, b], (g) => {
    const ga = a.requiresGrad ? reduceProduct(g, b, a.shape, 'a / b') : null;
    let gb: Tensor | null = null;
    if (b.requiresGrad) {
      // d(a/b)/db = -a/b^2 = -out/b
      const t = zipRaw(g, out, '-a * b', 'div backward');
      gb = reduceProduct(t, b, b.shape, 'a / b');
      t.dispose();
    }
    return [ga, gb];
  });
}

/** sumToShape(expr(g, other), shape), freeing the temporary. */
function reduceProduct(g: Tensor, other: Tensor, shape: Shape, expr: string): Tensor {
  const t = zipRaw(g, other, expr, 'backward');
  if (sameShape(t.shape, shape)) return t;
  const r = sumToShape(t, shape);
  t.dispose();
  return r;
}

setGradKernels({
  add: (a, b) => {
    if (a.dtype === 'f32' && b.dtype === 'f32') return zipRaw(a, b, 'a + b', 'grad accumulate');
    if (a.dtype !== 'f16' || b.dtype !== 'f16') throw new Error(`grad accumulate: ${a.dtype} and ${b.dtype} gradients`);
    // f16 gradients (a tensor used twice in an f16 graph): summed in f32, stored back as f16.
    const a32 = castRaw(a, 'f32'), b32 = castRaw(b, 'f32');
    const sum = zipRaw(a32, b32, 'a + b', 'grad accumulate');
    const out = castRaw(sum, 'f16');
    a32.dispose(); b32.dispose(); sum.dispose();
    return out;
  },
  addInPlace,
  copyInto: (into, from) => {
    if (!sameShape(into.shape, from.shape) || into.dtype !== from.dtype) throw new Error(`copyInto: [${from.shape}] ${from.dtype} into [${into.shape}] ${into.dtype}`);
    rt().copy(from.binding(), into.binding(), Math.ceil(from.byteLength / 4) * 4);
  },
  copy: (t) => {
    const out = empty(t.shape, t.dtype);
    rt().copy(t.binding(), out.binding(), Math.ceil(t.byteLength / 4) * 4);
    return out;
  },
  ones: (like) => ones(like.shape),
});
