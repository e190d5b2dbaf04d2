// Test helpers: seeded random inputs (a fresh seed per run, printed on failure), comparison
// against float64 references with relative tolerances, and finite-difference gradient checks.
import * as assert from 'uvu/assert';
import { backward, fromArray, initEngine, sumAll, mul, Tensor, tidyAsync, noGrad } from '../engine/index.js';
import { rt, setPoison } from '../engine/tensor.js';

export const SEED = Number(process.env.TEST_SEED ?? (Date.now() % 1_000_000));

/** mulberry32: small, fast, seedable. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

let stream = rng(SEED);
export function randn(n: number, scale = 1): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const u = Math.max(stream(), 1e-12), v = stream();
    out[i] = scale * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
  return out;
}
export function randu(n: number, lo: number, hi: number): Float64Array {
  return Float64Array.from({ length: n }, () => lo + (hi - lo) * stream());
}
export function randint(n: number, hi: number): Int32Array {
  return Int32Array.from({ length: n }, () => Math.floor(stream() * hi));
}

export async function setup(): Promise<void> {
  await initEngine();
  setPoison(true);
}

/**
 * For a test that needs an adapter feature: true (and a line the test runner counts as a skip,
 * not a pass) where the adapter lacks it, so a run on another adapter does not report checks
 * it never made as passed.
 */
export function skipWithout(has: boolean, what: string): boolean {
  if (has) return false;
  // On a line of its own: uvu's progress dots have no newline after them.
  console.log(`\n  SKIPPED (adapter): ${what}`);
  return true;
}

export function gpu(data: ArrayLike<number>, shape: number[], requiresGrad = false): Tensor {
  const t = fromArray(Float32Array.from(data), shape);
  t.requiresGrad = requiresGrad;
  return t;
}

/** Asserts |got - want| <= atol + rtol * |want| elementwise; the message names the worst element. */
export function close(got: ArrayLike<number>, want: ArrayLike<number>, rtol = 1e-5, atol = 1e-6, what = ''): void {
  assert.is(got.length, want.length, `${what}: length`);
  let worst = -1, worstErr = 0;
  for (let i = 0; i < want.length; i++) {
    const g = got[i], w = want[i];
    const err = Math.abs(g - w) - (atol + rtol * Math.abs(w));
    if (!(err <= 0) && (worst < 0 || !(err <= worstErr))) {
      worst = i;
      worstErr = err;
      if (Number.isNaN(g)) break;
    }
  }
  if (worst >= 0) {
    assert.unreachable(`${what}: element ${worst} is ${got[worst]}, expected ${want[worst]} (rtol ${rtol}, atol ${atol}; TEST_SEED=${SEED})`);
  }
}

/**
 * Finite-difference check of d(sum(f(inputs) * R))/d(input) against autograd, for a few
 * random coordinates of each input. Runs in f32 on the GPU, so eps and tolerance are loose;
 * the tight check is against the float64 reference gradients.
 */
export async function gradcheck(
  f: (xs: Tensor[]) => Tensor,
  inputs: { data: Float64Array; shape: number[] }[],
  opts: { eps?: number; rtol?: number; atol?: number; coords?: number } = {},
): Promise<void> {
  const eps = opts.eps ?? 1e-2, rtol = opts.rtol ?? 3e-2, atol = opts.atol ?? 2e-3, coords = opts.coords ?? 5;
  const probeShape = await tidyAsync(async () => {
    const out = noGrad(() => f(inputs.map((i) => gpu(i.data, i.shape))));
    return [...out.shape];
  });
  const R = randn(probeShape.reduce((a, b) => a * b, 1));
  const lossOf = (xs: Tensor[]) => sumAll(mul(f(xs), gpu(R, probeShape)));
  const analytic = await tidyAsync(async () => {
    const xs = inputs.map((i) => gpu(i.data, i.shape, true));
    backward(lossOf(xs));
    return Promise.all(xs.map(async (x) => (x.grad ? Float64Array.from(await x.grad.toArray()) : null)));
  });
  const evalAt = (k: number, idx: number, delta: number) =>
    tidyAsync(async () => {
      const xs = inputs.map((inp, j) => {
        const d = Float64Array.from(inp.data);
        if (j === k) d[idx] += delta;
        return gpu(d, inp.shape);
      });
      return noGrad(() => lossOf(xs)).item();
    });
  for (let k = 0; k < inputs.length; k++) {
    const a = analytic[k];
    if (!a) continue;
    for (let c = 0; c < coords; c++) {
      const idx = Math.floor(stream() * inputs[k].data.length);
      const num = ((await evalAt(k, idx, eps)) - (await evalAt(k, idx, -eps))) / (2 * eps);
      const err = Math.abs(num - a[idx]);
      assert.ok(err <= atol + rtol * Math.max(Math.abs(num), Math.abs(a[idx])),
        `gradcheck input ${k} coord ${idx}: autograd ${a[idx]}, finite difference ${num} (TEST_SEED=${SEED})`);
    }
  }
}

export { setPoison };

import type { F64 } from './ref.js';
import { refGrads } from './ref.js';

export interface OpSpec {
  inputs: { shape: number[]; data?: Float64Array; grad?: boolean }[];
  gpu: (xs: Tensor[]) => Tensor;
  ref: (xs: F64[]) => F64;
  /** Analytic float64 gradients of sum(ref(xs) * R), where central differences would be too slow. */
  refGrad?: (xs: F64[], R: F64) => (F64 | null)[];
  rtol?: number;
  atol?: number;
  gradRtol?: number;
  /** Absolute gradient tolerance, relative to the largest reference gradient (default 1e-4). */
  gradAtol?: number;
  /** Skip the GPU finite-difference check (kinks, or already covered). */
  noFd?: boolean;
  fdEps?: number;
}

/**
 * Poisoning catches elements a kernel never writes; this catches writes past the end. The pool
 * rounds buffers up to a bucket and the poison fills the whole buffer, so the bytes after what
 * the output's allocation asked for must still hold it. (A write there clobbers a neighbour
 * wherever a tensor is a view inside a shared buffer: a KV cache row, an optimizer arena slot.)
 * Outputs that share an input's storage (views, reshapes) were uploaded, not poisoned: not checked.
 */
async function checkSlack(out: Tensor, inputs: Tensor[], name: string): Promise<void> {
  if (inputs.some((x) => x.storage === out.storage)) return;
  const end = Math.ceil(out.storage.requestedBytes / 4) * 4, size = out.storage.bytes;
  if (size <= end) return;
  const words = new Uint32Array(await rt().read({ buffer: out.storage.buffer, offset: 0 }, size));
  const poison = out.dtype === 'f16' ? 0x7e007e00 : 0x7fc00000;
  for (let i = end / 4; i < words.length; i++) {
    if (words[i] !== poison) assert.unreachable(`${name}: the kernel wrote past the ${out.storage.requestedBytes} bytes its output's allocation asked for (byte ${4 * i} of the ${size}-byte buffer holds 0x${words[i]!.toString(16)})`);
  }
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

/**
 * The standard op check: forward against the float64 reference; autograd gradients of
 * sum(op(x) * R) against float64 central differences of the reference; and a GPU
 * finite-difference check of a few coordinates.
 */
export async function checkOp(name: string, spec: OpSpec): Promise<void> {
  const data = spec.inputs.map((i) => i.data ?? randn(i.shape.reduce((a, b) => a * b, 1)));
  const want = spec.ref(data);
  const got = await tidyAsync(async () => {
    const xs = data.map((d, k) => gpu(d, spec.inputs[k].shape));
    const out = spec.gpu(xs);
    await checkSlack(out, xs, name);
    return Float64Array.from(await out.toArray());
  });
  const rtol = spec.rtol ?? 1e-5;
  close(got, want, rtol, (spec.atol ?? 1e-5) * Math.max(1, maxAbs(want)), `${name} forward`);
  const which = spec.inputs.map((i) => i.grad !== false);
  if (!which.some(Boolean)) return;
  const R = randn(want.length);
  const grads = await tidyAsync(async () => {
    const xs = data.map((d, k) => gpu(d, spec.inputs[k].shape, which[k]));
    const out = spec.gpu(xs);
    backward(sumAll(mul(out, gpu(R, [...out.shape]))));
    for (const [k, x] of xs.entries()) if (x.grad) await checkSlack(x.grad, xs, `${name} grad of input ${k}`);
    return Promise.all(xs.map(async (x) => (x.grad ? Float64Array.from(await x.grad.toArray()) : null)));
  });
  const refs = spec.refGrad ? spec.refGrad(data, R) : refGrads(spec.ref, data, R, which);
  refs.forEach((r, k) => {
    if (!r) return;
    const g = grads[k];
    assert.ok(g, `${name}: no gradient for input ${k}`);
    close(g!, r, spec.gradRtol ?? 1e-4, (spec.gradAtol ?? 1e-4) * Math.max(1, maxAbs(r)), `${name} grad of input ${k}`);
  });
  if (!spec.noFd) {
    await gradcheck(spec.gpu, data.map((d, k) => ({ data: d, shape: spec.inputs[k].shape })), { coords: 3, eps: spec.fdEps });
  }
}
