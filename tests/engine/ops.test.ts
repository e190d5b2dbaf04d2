// Every op, forward and backward, against float64 references on odd-sized random inputs.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as E from '../../engine/index.js';
import { fromArray, type Tensor } from '../../engine/index.js';
import * as ref from '../ref.js';
import { setMatmulPath, setMatmulWide, takesWide } from '../../engine/ops/matmul_kernels.js';
import { rt } from '../../engine/tensor.js';
import { checkOp, close, gpu, randn, randu, randint, setup, skipWithout } from '../helpers.js';
import { Float16Array } from '@petamoriken/float16';

test.before(setup);

const map = (f: (x: number) => number) => (xs: ref.F64[]) => xs[0].map(f);
const S = [7, 13]; // odd, not a multiple of any tile

const gelu = (x: number) => 0.5 * x * (1 + Math.tanh(0.7978845608028654 * (x + 0.044715 * x ** 3)));
const sig = (x: number) => 1 / (1 + Math.exp(-x));
// Both signs, but no input within 0.05 of relu's kink: a central difference of step 0.01
// across it is not the derivative (TEST_SEED=957210 drew one within it and failed).
const signs = randn(91);
const awayFromZero = randu(91, 0.05, 3).map((v, i) => (signs[i]! < 0 ? -v : v));
const unary: [string, (t: Tensor) => Tensor, (x: number) => number, Float64Array?][] = [
  ['neg', E.neg, (x) => -x],
  ['exp', E.exp, Math.exp],
  ['log', E.log, Math.log, randu(91, 0.2, 3)],
  ['sqrt', E.sqrt, Math.sqrt, randu(91, 0.2, 3)],
  ['rsqrt', E.rsqrt, (x) => 1 / Math.sqrt(x), randu(91, 0.3, 3)],
  ['tanh', E.tanh, Math.tanh],
  ['gelu', E.gelu, gelu],
  ['silu', E.silu, (x) => x * sig(x)],
  ['relu', E.relu, (x) => Math.max(x, 0), awayFromZero],
];
for (const [name, fn, f, data] of unary) {
  test(`unary ${name}`, () => checkOp(name, { inputs: [{ shape: S, data }], gpu: ([x]) => fn(x), ref: map(f), rtol: 2e-5 }));
}

test('max at a tie sends the gradient to the first of the equal elements; softmax gives -Infinity probability 0, a row of them NaN', async () => {
  // Rows: [1, 3, 3, 2] (tie at 1 and 2), [5, 5, 5, 5], [-1, -4, -1, -9]; max over the last axis.
  const x = gpu([1, 3, 3, 2, 5, 5, 5, 5, -1, -4, -1, -9], [3, 4], true);
  E.tidy(() => E.backward(E.sumAll(E.mul(E.max(x, 1), gpu([10, 20, 30], [3])))));
  assert.equal(Array.from(await x.grad!.toArray()), [0, 10, 0, 0, 20, 0, 0, 0, 30, 0, 0, 0]);
  x.dispose();
  const inf = -Infinity;
  const l = gpu([0, inf, Math.log(3), inf, inf, inf], [2, 3], true);
  const p = E.tidy(() => E.softmax(l));
  const pv = Array.from(await p.toArray());
  close(pv.slice(0, 3), [0.25, 0, 0.75], 1e-6, 1e-7, 'softmax with a -Infinity logit');
  assert.ok(pv.slice(3).every(Number.isNaN), `a row of -Infinity: ${pv.slice(3)}`);
  E.tidy(() => E.backward(E.sumAll(E.mul(E.softmax(l), gpu([1, 2, 3, 0, 0, 0], [2, 3])))));
  const gv = Array.from(await l.grad!.toArray());
  // d/dl_i sum_j p_j r_j = p_i (r_i - sum_j p_j r_j): row 0 has p = [0.25, 0, 0.75], r.p = 2.5.
  close(gv.slice(0, 3), [0.25 * (1 - 2.5), 0, 0.75 * (3 - 2.5)], 1e-6, 1e-7, 'softmax gradient with a -Infinity logit');
  assert.ok(gv.slice(3).every(Number.isNaN), `gradient of a row of -Infinity: ${gv.slice(3)}`);
  p.dispose();
  l.dispose();
});

test('the op check catches a kernel that writes past its output (the bucket slack keeps the poison)', async () => {
  let caught: unknown = null;
  try {
    await checkOp('overrun', {
      inputs: [{ shape: [3], grad: false }],
      // A 3-element output whose buffer gets 4 values, as a kernel with a missing bounds check would write.
      gpu: () => { const t = E.empty([3]); rt().flush(); rt().upload(t.storage.buffer, 0, new Float32Array([1, 2, 3, 4])); return t; },
      ref: () => Float64Array.of(1, 2, 3),
    });
  } catch (e) {
    caught = e;
  }
  assert.match(String((caught as Error | null)?.message), /overrun: the kernel wrote past the 12 bytes its output's allocation asked for \(byte 12 /);
});

test('gelu, tanh and their gradients stay finite and exact far from zero (x^3 overflows f32 past 7e12)', async () => {
  const xs = [-1e13, -1e4, -100, -20, -8, 8, 20, 100, 1e4, 1e13];
  const x = gpu(xs, [xs.length], true);
  const y = E.tidy(() => E.gelu(x));
  const yv = Array.from(await y.toArray());
  E.tidy(() => E.backward(E.sumAll(E.gelu(x))));
  const gv = Array.from(await x.grad!.toArray());
  // In f32 GELU is 0 below about -8 (or a tiny negative value) and x above about 8; its slope 0 or 1.
  xs.forEach((v, i) => {
    assert.ok(Number.isFinite(yv[i]) && Number.isFinite(gv[i]), `gelu(${v}) = ${yv[i]}, slope ${gv[i]}`);
    assert.ok(Math.abs(yv[i]! - gelu(v)) <= 1e-6 * Math.max(1, Math.abs(v)), `gelu(${v}) = ${yv[i]}, expected ${gelu(v)}`);
    assert.ok(Math.abs(gv[i]! - (v > 0 ? 1 : 0)) < 1e-5, `gelu'(${v}) = ${gv[i]}`);
  });
  const t = Array.from(await E.tidy(() => E.tanh(gpu(xs, [xs.length]))).toArray());
  xs.forEach((v, i) => assert.ok(Math.abs(t[i]! - Math.tanh(v)) < 1e-6, `tanh(${v}) = ${t[i]}`));
  y.dispose();
  x.dispose();
});

test('clone (gradients by finite differences): against float64', async () => {
  await checkOp('clone', { inputs: [{ shape: [7, 13] }], gpu: ([x]) => E.clone(x), ref: map((x) => x) });
});

test('a cast through f16 and back (gradient: the incoming one, cast): against float64', async () => {
  if (skipWithout(rt().dev.hasF16, 'casts to f16 need shader-f16')) return;
  const f16 = (v: number) => Float16Array.from([v])[0]!;
  // A cast passes the gradient through, itself cast on the way back (f16 here); f16 rounding is
  // a step function, so finite differences say nothing about it.
  // No finite differences: rounding to f16 is a step function (derivative 0 between steps), and
  // the cast's gradient is the pass-through that mixed precision defines, checked against refGrad.
  await checkOp('cast f32 -> f16 -> f32', { inputs: [{ shape: [7, 13] }], gpu: ([x]) => E.cast(E.cast(x, 'f16'), 'f32'), ref: map((x) => f16(x)), rtol: 1e-3, refGrad: (_, R) => [R.map(f16)], gradRtol: 1e-3, noFd: true });
});

test('scalar forms', async () => {
  await checkOp('addScalar', { inputs: [{ shape: S }], gpu: ([x]) => E.addScalar(x, 0.37), ref: map((x) => x + 0.37) });
  await checkOp('mulScalar', { inputs: [{ shape: S }], gpu: ([x]) => E.mulScalar(x, -1.7), ref: map((x) => x * -1.7) });
  await checkOp('powScalar 3', { inputs: [{ shape: S }], gpu: ([x]) => E.powScalar(x, 3), ref: map((x) => x ** 3), rtol: 1e-4 });
  await checkOp('powScalar 1.5', { inputs: [{ shape: S, data: randu(91, 0.3, 2) }], gpu: ([x]) => E.powScalar(x, 1.5), ref: map((x) => x ** 1.5), rtol: 1e-4 });
});

test('powScalar at x = 0 and the exponents 0, 1, 2, -1, 0.5: values and gradients as JavaScript gives them', async () => {
  const xs = [0, 0.5, -0.5, 2, -2, 0];
  for (const s of [0, 1, 2, -1, 0.5]) {
    const { y, g } = await E.tidyAsync(async () => {
      const x = E.fromArray(Float32Array.from(xs), [xs.length]);
      x.requiresGrad = true;
      const out = E.powScalar(x, s);
      E.backward(E.sumAll(out));
      return { y: Array.from(await out.toArray()), g: Array.from(await x.grad!.toArray()) };
    });
    xs.forEach((x, i) => {
      const wantY = x ** s, wantG = s === 0 ? 0 : s * x ** (s - 1);
      const close = (a: number, b: number) => (Number.isNaN(b) ? Number.isNaN(a) : !Number.isFinite(b) ? a === b : Math.abs(a - b) <= 1e-6 * Math.max(1, Math.abs(b)));
      assert.ok(close(y[i]!, wantY), `${x} ** ${s}: got ${y[i]}, expected ${wantY}`);
      assert.ok(close(g[i]!, wantG), `d/dx ${x} ** ${s}: got ${g[i]}, expected ${wantG}`);
    });
  }
});

test('max over a row of -Infinity is -Infinity', async () => {
  const y = await E.tidyAsync(async () => Array.from(await E.max(E.fromArray(Float32Array.from([-Infinity, -Infinity, -Infinity, 1, -Infinity, 2]), [2, 3]), 1).toArray()));
  assert.equal(y, [-Infinity, 2]);
});

test('empty axes: sum 0, mean NaN, max and normalisation refused by name', async () => {
  const x = E.fromArray(new Float32Array(0), [3, 0]);
  assert.equal(Array.from(await E.tidy(() => E.sum(x, 1)).toArray()), [0, 0, 0]);
  assert.ok(Array.from(await E.tidy(() => E.mean(x, 1)).toArray()).every(Number.isNaN));
  assert.throws(() => E.max(x, 1), /max: axis 1 of shape \[3,0\] is empty/);
  const g = E.fromArray(new Float32Array(0), [0]);
  assert.throws(() => E.layerNorm(x, g, g), /layerNorm: rows of shape \[3,0\] have no elements/);
  assert.throws(() => E.rmsNorm(x, g), /rmsNorm: rows of shape \[3,0\] have no elements/);
  x.dispose();
  g.dispose();
});

const binary: [string, (a: Tensor, b: Tensor) => Tensor, (a: number, b: number) => number][] = [
  ['add', E.add, (a, b) => a + b],
  ['sub', E.sub, (a, b) => a - b],
  ['mul', E.mul, (a, b) => a * b],
  ['div', E.div, (a, b) => a / b],
];
const shapePairs: [number[], number[]][] = [
  [[5, 7, 3], [5, 7, 3]],
  [[5, 7, 3], [3]],
  [[5, 1, 3], [1, 7, 1]],
  [[7, 3], [5, 1, 3]],
  // A row vector over rows, width a multiple of 4 (the vec4 row path), both operand orders.
  [[9, 12], [12]],
  [[12], [3, 5, 12]],
  [[1, 8], [7, 8]],
];
for (const [name, fn, f] of binary) {
  test(`binary ${name} with broadcasting`, async () => {
    for (const [sa, sb] of shapePairs) {
      const nb = ref.numel(sb);
      const bData = name === 'div' ? randu(nb, 0.5, 2).map((v, i) => (i % 2 ? v : -v)) : undefined;
      await checkOp(`${name} [${sa}] [${sb}]`, {
        inputs: [{ shape: sa }, { shape: sb, data: bData }],
        gpu: ([a, b]) => fn(a, b),
        ref: ([a, b]) => ref.broadcast2(a, sa, b, sb, f).out,
        rtol: 1e-5,
      });
    }
  });
}

test('linear (matmul with the bias fused into its store): every kernel path, odd and aligned sizes, gradients', async () => {
  // x [B, T, K] @ w^T + bias as a float64 reference: the matmul reference plus the bias per row.
  const linRef = (x: ref.F64, w: ref.F64, b: ref.F64, rows: number, n: number, k: number) => {
    const y = ref.matmul(x, w, rows, n, k, 1, false, true, false, true);
    return y.map((v, i) => v + b[i % n]!);
  };
  const cases: [number, number, number, number][] = [[3, 5, 7, 11], [2, 9, 28, 20], [1, 1, 1, 1]];
  for (const path of ['auto', 'simple', 'tiled'] as const) {
    setMatmulPath(path);
    try {
      for (const [B, T, K, N] of cases) {
        await checkOp(`linear ${path} [${B},${T},${K}] -> ${N}`, {
          inputs: [{ shape: [B, T, K] }, { shape: [N, K] }, { shape: [N] }],
          gpu: ([x, w, b]) => E.linear(x, w, b),
          ref: ([x, w, b]) => linRef(x, w, b, B * T, N, K),
          rtol: 1e-4, noFd: path !== 'auto' || K > 20,
        });
      }
    } finally {
      setMatmulPath('auto');
    }
  }
});

/** n distinct values `gap` apart, centred on 0, in random order. */
function spreadValues(n: number, gap: number): Float64Array {
  const v = Float64Array.from({ length: n }, (_, i) => (i - n / 2) * gap);
  const r = randu(n, 0, 1);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(r[i]! * (i + 1));
    [v[i], v[j]] = [v[j]!, v[i]!];
  }
  return v;
}

test('reductions: sum, mean, max along every axis; sumAll', async () => {
  const shape = [5, 9, 7];
  for (let axis = 0; axis < 3; axis++) {
    for (const kind of ['sum', 'mean', 'max'] as const) {
      const fn = kind === 'sum' ? E.sum : kind === 'mean' ? E.mean : E.max;
      // Max: distinct values 0.05 apart, so the finite differences' +-0.01 never changes which
      // element is the largest (max is not differentiable at ties).
      const data = kind === 'max' ? spreadValues(5 * 9 * 7, 0.05) : undefined;
      await checkOp(`${kind} axis ${axis}`, { inputs: [{ shape, data }], gpu: ([x]) => fn(x, axis), ref: ([x]) => ref.reduceAxis(x, shape, axis, kind) });
    }
  }
  await checkOp('sum keepDim', { inputs: [{ shape }], gpu: ([x]) => E.sum(x, -1, true), ref: ([x]) => ref.reduceAxis(x, shape, 2, 'sum') });
  // Long axis, few outputs: the workgroup-per-output path.
  await checkOp('sum wide', { inputs: [{ shape: [3, 1037] }], gpu: ([x]) => E.sum(x, 1), ref: ([x]) => ref.reduceAxis(x, [3, 1037], 1, 'sum'), noFd: true });
  await checkOp('max wide', { inputs: [{ shape: [3, 1037] }], gpu: ([x]) => E.max(x, 1), ref: ([x]) => ref.reduceAxis(x, [3, 1037], 1, 'max'), noFd: true });
  // The same path with an inner stride (a bias gradient of a narrow layer over many rows: its
  // outputs are columns, each read with a stride).
  for (const [shape, axis] of [[[300, 7], 0], [[2, 517, 5], 1]] as [number[], number][]) {
    for (const kind of ['sum', 'mean', 'max'] as const) {
      const fn = kind === 'sum' ? E.sum : kind === 'mean' ? E.mean : E.max;
      await checkOp(`${kind} wide [${shape}] axis ${axis}`, { inputs: [{ shape }], gpu: ([x]) => fn(x, axis), ref: ([x]) => ref.reduceAxis(x, shape, axis, kind), noFd: true });
    }
  }
  await checkOp('sumAll', { inputs: [{ shape: [3, 1037] }], gpu: ([x]) => E.sumAll(x), ref: ([x]) => Float64Array.of(x.reduce((a, b) => a + b, 0)), noFd: true });
});

/**
 * Analytic float64 gradients of sum(C * R) for C[b] = op(A[b]) @ op(B) with B shared by the
 * batch (central differences over every input would take minutes at the tiled kernel's sizes).
 */
function matmulSharedBGrads(a: ref.F64, b: ref.F64, R: ref.F64, batch: number, m: number, n: number, k: number, tA: boolean, tB: boolean): ref.F64[] {
  const ga = new Float64Array(a.length), gb = new Float64Array(b.length);
  const ai = (z: number, i: number, l: number) => (tA ? z * k * m + l * m + i : z * m * k + i * k + l);
  const bi = (l: number, j: number) => (tB ? j * k + l : l * n + j);
  for (let z = 0; z < batch; z++) for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
    const r = R[(z * m + i) * n + j]!;
    for (let l = 0; l < k; l++) {
      ga[ai(z, i, l)] += r * b[bi(l, j)]!;
      gb[bi(l, j)] += r * a[ai(z, i, l)]!;
    }
  }
  return [ga, gb];
}

test('matmul: transposes, batches, shared operands, odd sizes', async () => {
  const M = 37, N = 19, K = 29, B = 3;
  for (const tA of [false, true]) for (const tB of [false, true]) {
    const sa = tA ? [B, K, M] : [B, M, K], sb = tB ? [B, N, K] : [B, K, N];
    await checkOp(`matmul batched tA=${tA} tB=${tB}`, {
      inputs: [{ shape: sa }, { shape: sb }],
      gpu: ([a, b]) => E.matmul(a, b, { transA: tA, transB: tB }),
      ref: ([a, b]) => ref.matmul(a, b, M, N, K, B, tA, tB),
      // The probe loss is linear in each input, so a central difference is exact at any step;
      // a large one keeps the f32 rounding of the 2109-term loss (about 1e-4) from dominating
      // (at the default 0.01 it reached 4e-3 on a gradient of 0.03).
      rtol: 1e-4, noFd: tA !== tB, fdEps: 0.5,
    });
    const sb2 = tB ? [N, K] : [K, N];
    await checkOp(`matmul shared B tA=${tA} tB=${tB}`, {
      inputs: [{ shape: sa }, { shape: sb2 }],
      gpu: ([a, b]) => E.matmul(a, b, { transA: tA, transB: tB }),
      ref: ([a, b]) => ref.matmul(a, b, M, N, K, B, tA, tB, false, true),
      rtol: 1e-4, noFd: true,
    });
    const sa2 = tA ? [K, M] : [M, K];
    await checkOp(`matmul shared A tA=${tA} tB=${tB}`, {
      inputs: [{ shape: sa2 }, { shape: sb }],
      gpu: ([a, b]) => E.matmul(a, b, { transA: tA, transB: tB }),
      ref: ([a, b]) => ref.matmul(a, b, M, N, K, B, tA, tB, true, false),
      rtol: 1e-4, noFd: true,
    });
  }
  // 4-aligned K and N take the vectorised entry point where the fast kernel is in use.
  for (const tB of [false, true]) {
    const [m, n, k] = [37, 20, 28];
    await checkOp(`matmul aligned tB=${tB}`, {
      inputs: [{ shape: [2, m, k] }, { shape: tB ? [n, k] : [k, n] }],
      gpu: ([a, b]) => E.matmul(a, b, { transB: tB }),
      ref: ([a, b]) => ref.matmul(a, b, m, n, k, 2, false, tB, false, true),
      rtol: 1e-4, noFd: true,
    });
  }
  // A stored transposed with 4-aligned M (weight gradients X^T dY) takes its own vectorised
  // entry point (32-row blocks, 4 consecutive rows per lane): 36 rows leave all but one lane
  // of the second block past M; 76 rows span three blocks; k = 29 and 37 end on a partial
  // 4-step, which the masked tail finishes (k = 28 where B^T needs 4-aligned k).
  for (const [m, n, k, tB] of [[36, 20, 29, false], [76, 20, 37, false], [36, 19, 28, true]] as const) {
    await checkOp(`matmul aligned tA ${m}x${n}x${k} tB=${tB}`, {
      inputs: [{ shape: [2, k, m] }, { shape: tB ? [n, k] : [k, n] }],
      gpu: ([a, b]) => E.matmul(a, b, { transA: true, transB: tB }),
      ref: ([a, b]) => ref.matmul(a, b, m, n, k, 2, true, tB, false, true),
      refGrad: ([a, b], R) => matmulSharedBGrads(a, b, R, 2, m, n, k, true, tB),
      rtol: 1e-4, noFd: true,
    });
  }
  // The other kernels, whichever this adapter picks by default: the reference kernel and the
  // GPU tiled kernel (64x64 blocks, 16-deep slabs: the second shape spans two blocks each way
  // and ends k on a partial slab).
  for (const path of ['simple', 'tiled'] as const) {
    setMatmulPath(path);
    try {
      for (const [m, n, k] of [[M, N, K], [70, 67, 37]]) {
        for (const tA of [false, true]) for (const tB of [false, true]) {
          await checkOp(`matmul ${path} ${m}x${n}x${k} tA=${tA} tB=${tB}`, {
            inputs: [{ shape: tA ? [B, k, m] : [B, m, k] }, { shape: tB ? [n, k] : [k, n] }],
            gpu: ([a, b]) => E.matmul(a, b, { transA: tA, transB: tB }),
            ref: ([a, b]) => ref.matmul(a, b, m, n, k, B, tA, tB, false, true),
            refGrad: ([a, b], R) => matmulSharedBGrads(a, b, R, B, m, n, k, tA, tB),
            rtol: 1e-4, noFd: true,
          });
        }
      }
    } finally {
      setMatmulPath('auto');
    }
  }
  await checkOp('matmul 1x1x1', { inputs: [{ shape: [1, 1] }, { shape: [1, 1] }], gpu: ([a, b]) => E.matmul(a, b), ref: ([a, b]) => Float64Array.of(a[0] * b[0]) });
});

test('matmul, the wide block (32x32, no k tail): odd shapes, transposes, bias, gradients; bit-identical to the 32x16 block', async () => {
  if (skipWithout(rt().dev.subgroupBroadcastKernels, 'this adapter runs the tiled kernel: the wide block is not used here')) return;
  // 37 rows end mid-block; 76 columns span three 32-column blocks, the last mostly past N;
  // 28 = 7 steps of 4 in k. TRANS_A needs 4-aligned M (36, 76). Batches of 2 with B shared.
  const cases: [number, number, number, boolean, boolean][] = [
    [37, 76, 28, false, false], [37, 76, 28, false, true], [36, 76, 28, true, false], [76, 20, 36, true, true], [70, 132, 44, false, false],
  ];
  setMatmulWide('always');
  try {
    for (const [m, n, k, tA, tB] of cases) {
      await checkOp(`matmul wide ${m}x${n}x${k} tA=${tA} tB=${tB}`, {
        inputs: [{ shape: tA ? [2, k, m] : [2, m, k] }, { shape: tB ? [n, k] : [k, n] }],
        gpu: ([a, b]) => E.matmul(a, b, { transA: tA, transB: tB }),
        ref: ([a, b]) => ref.matmul(a, b, m, n, k, 2, tA, tB, false, true),
        refGrad: ([a, b], R) => matmulSharedBGrads(a, b, R, 2, m, n, k, tA, tB),
        rtol: 1e-4, noFd: true,
      });
    }
    // The fused bias of Linear layers (x @ w^T + bias), with finite differences.
    const [rows, n, k] = [13, 68, 12];
    await checkOp(`linear wide [${rows},${k}] -> ${n}`, {
      inputs: [{ shape: [rows, k] }, { shape: [n, k] }, { shape: [n] }],
      gpu: ([x, w, b]) => E.linear(x, w, b),
      ref: ([x, w, b]) => ref.matmul(x, w, rows, n, k, 1, false, true, false, true).map((v, i) => v + b[i % n]!),
      rtol: 1e-4,
    });
  } finally {
    setMatmulWide('auto');
  }
  // Same sums in the same order as the 32x16 kernel: identical bits, not just close.
  for (const [m, n, k, tA, tB] of cases) {
    const a = E.fromArray(Float32Array.from(randn(2 * m * k)), tA ? [2, k, m] : [2, m, k]);
    const b = E.fromArray(Float32Array.from(randn(k * n)), tB ? [n, k] : [k, n]);
    const bits = async (mode: 'always' | 'never') => {
      setMatmulWide(mode);
      try {
        const c = E.noGrad(() => E.matmul(a, b, { transA: tA, transB: tB }));
        const out = new Uint32Array((await c.toArray()).buffer);
        c.dispose();
        return out;
      } finally {
        setMatmulWide('auto');
      }
    };
    const [wide, narrow] = [await bits('always'), await bits('never')];
    const differing = wide.filter((w, i) => w !== narrow[i]).length;
    assert.is(differing, 0, `wide vs 32x16 ${m}x${n}x${k} tA=${tA} tB=${tB}: ${differing} elements differ`);
    a.dispose();
    b.dispose();
  }
});

test('matmul: which products take the wide block', () => {
  const l = (M: number, N: number, K: number, batch = 1) => ({ M, N, K, batch, strideA: 0, strideB: 0, transA: false, transB: false, accumulate: false });
  assert.ok(takesWide(l(1024, 1024, 1024)), '1024^3');
  assert.ok(takesWide(l(2048, 384, 128)), 'a base-preset projection');
  assert.ok(takesWide(l(512, 64, 512, 16)), 'batched attention-sized products count the batch');
  assert.ok(takesWide(l(4096, 300, 64)), 'N >= 256 wastes few columns');
  assert.not.ok(takesWide(l(1024, 1024, 1022)), 'K not 4-aligned (no k tail)');
  assert.not.ok(takesWide(l(4096, 200, 64)), 'N = 200 would waste a sixth of the last block');
  // The small preset's largest products (the demo: 32 x 160 tokens, width 32, MLP 64, vocabulary < 64).
  assert.not.ok(takesWide(l(5120, 64, 32)), 'small MLP');
  assert.not.ok(takesWide(l(5120, 32, 64)), 'small MLP back');
  assert.not.ok(takesWide(l(5120, 60, 32)), 'small LM head');
  setMatmulWide('always');
  assert.ok(takesWide(l(8, 8, 8)), "'always'");
  assert.not.ok(takesWide(l(8, 8, 7)), "'always' still needs 4-aligned K");
  setMatmulWide('never');
  assert.not.ok(takesWide(l(1024, 1024, 1024)), "'never'");
  setMatmulWide('auto');
});

test('softmax and log-softmax', async () => {
  for (const cols of [1, 13, 301]) {
    const shape = [3, 5, cols];
    await checkOp(`softmax cols=${cols}`, { inputs: [{ shape }], gpu: ([x]) => E.softmax(x), ref: ([x]) => ref.softmaxRows(x, cols, false), noFd: cols > 13 });
    await checkOp(`logSoftmax cols=${cols}`, { inputs: [{ shape }], gpu: ([x]) => E.logSoftmax(x), ref: ([x]) => ref.softmaxRows(x, cols, true), noFd: cols > 13 });
  }
  // Large logits must not overflow.
  const big = randn(3 * 13, 40);
  await checkOp('softmax large logits', { inputs: [{ shape: [3, 13], data: big }], gpu: ([x]) => E.softmax(x), ref: ([x]) => ref.softmaxRows(x, 13, false), noFd: true, gradRtol: 1e-3 });
});

test('layerNorm and rmsNorm', async () => {
  // 13: a row per invocation (<= 64 columns); 67 and 131: a workgroup per row; 16 and 68:
  // the same two with vec4 kernels (columns a multiple of 4).
  for (const cols of [13, 67, 131, 16, 68]) {
    const shape = [2, 7, cols];
    await checkOp(`layerNorm cols=${cols}`, {
      inputs: [{ shape }, { shape: [cols] }, { shape: [cols] }],
      gpu: ([x, g, b]) => E.layerNorm(x, g, b, 1e-5),
      ref: ([x, g, b]) => ref.norm(x, cols, g, b, 1e-5, false),
      rtol: 2e-5, atol: 1e-5, gradRtol: 5e-5, gradAtol: 5e-5, noFd: cols > 67,
    });
    await checkOp(`rmsNorm cols=${cols}`, {
      inputs: [{ shape }, { shape: [cols] }],
      gpu: ([x, g]) => E.rmsNorm(x, g, 1e-6),
      ref: ([x, g]) => ref.norm(x, cols, g, null, 1e-6, true),
      rtol: 2e-5, atol: 1e-5, gradRtol: 5e-5, gradAtol: 5e-5, noFd: cols > 13,
    });
  }
});

test('layerNorm and rmsNorm: the vec4 kernels give bit-identical results to the f32 ones', async () => {
  // 515 rows of 12 and 2 x 7 rows of 16: the invocation-per-row kernels; 9 rows of 68: a
  // workgroup per row forward, the vec4 parameter-gradient kernel backward.
  for (const [rows, cols] of [[515, 12], [14, 16], [9, 68]] as const) {
    for (const rms of [false, true]) {
      const x = randn(rows * cols), gm = randn(cols), bt = randn(cols), g = randn(rows * cols);
      const run = async (vec4: boolean) => {
        process.env.IVT_NORM_VEC4 = vec4 ? '1' : '0';
        try {
          const X = fromArray(x, [rows, cols]), G = fromArray(gm, [cols]), Bt = fromArray(bt, [cols]);
          for (const t of [X, G, Bt]) t.requiresGrad = true;
          const y = rms ? E.rmsNorm(X, G) : E.layerNorm(X, G, Bt);
          E.backward(y, fromArray(g, [rows, cols]));
          const out = [await y.toArray(), await X.grad!.toArray(), await G.grad!.toArray(), ...(rms ? [] : [await Bt.grad!.toArray()])] as Float32Array[];
          for (const t of [X, G, Bt, y]) { t.grad?.dispose(); t.dispose(); }
          return out;
        } finally {
          delete process.env.IVT_NORM_VEC4;
        }
      };
      const [plain, vec] = [await run(false), await run(true)];
      plain.forEach((p, i) => {
        const v = vec[i]!;
        for (let j = 0; j < p.length; j++) {
          if (!Object.is(p[j], v[j])) throw new Error(`${rms ? 'rmsNorm' : 'layerNorm'} ${rows}x${cols} output ${i} element ${j}: f32 kernel ${p[j]}, vec4 kernel ${v[j]}`);
        }
      });
    }
  }
});

test('embedding (host ids, CSR backward) and gatherRows (GPU ids, scan backward)', async () => {
  const V = 23, D = 11, N = 41;
  const ids = randint(N, V);
  ids[0] = ids[1] = ids[2] = 5; // repeated ids must sum, not race
  await checkOp('embedding', {
    inputs: [{ shape: [V, D] }],
    gpu: ([w]) => E.embedding(w, fromArray(ids, [N], 'i32')),
    ref: ([w]) => ref.gatherRows(w, D, ids),
  });
  await checkOp('gatherRows', {
    inputs: [{ shape: [V, D] }],
    gpu: ([w]) => {
      const t = fromArray(ids, [N], 'i32');
      t.hostData = null; // as if the indices had been computed on the GPU
      return E.gatherRows(w, t);
    },
    ref: ([w]) => ref.gatherRows(w, D, ids),
  });
});

test('GPU-computed indices out of range read as NaN, never another row', async () => {
  const gpuOnly = (v: number[]) => {
    const t = fromArray(Int32Array.from(v), [v.length], 'i32');
    t.hostData = null; // no host copy to check, as if computed on the GPU
    return t;
  };
  const W = fromArray([1, 2, 3, 4], [2, 2]);
  const rows = await E.tidy(() => E.gatherRows(W, gpuOnly([1, 2, -1, 0]))).toArray();
  assert.equal(Array.from(rows.slice(0, 2)), [3, 4]);
  assert.ok(Array.from(rows.slice(2, 6)).every(Number.isNaN), `ids 2 and -1 of 2 rows: ${Array.from(rows)}`);
  assert.equal(Array.from(rows.slice(6)), [1, 2]);
  for (const serial of [true, false]) {
    const C = serial ? 3 : E.SERIAL_MAX_COLS + 3;
    const L = fromArray(new Float32Array(2 * C).fill(0).map((_, i) => (i < C ? 0 : 100)), [2, C]);
    // Target C is one past the last class; row 1 is ignored.
    assert.ok(Number.isNaN(await E.tidy(() => E.crossEntropy(L, gpuOnly([C, -1]))).item()), `crossEntropy target ${C} of ${C} classes`);
    assert.ok(Math.abs(await E.tidy(() => E.crossEntropy(L, gpuOnly([C - 1, -1]))).item() - Math.log(C)) < 1e-6, 'an in-range target still scores');
    L.dispose();
  }
  W.dispose();
});

// Rows up to SERIAL_MAX_COLS long take the one-invocation-per-row kernel, longer ones the
// workgroup reduction: both are checked, the first also over more rows than one workgroup takes
// (131: several workgroups' partial sums, and the final sum's loop over them).
for (const [rows, C] of [[37, 29], [131, 29], [6, E.SERIAL_MAX_COLS + 7]]) test(`crossEntropy with ignore mask (${rows} rows of ${C})`, async () => {
  const t = randint(rows, C);
  for (let i = 0; i < rows; i += 5) t[i] = -1;
  await checkOp('crossEntropy', {
    inputs: [{ shape: [rows, C], data: randn(rows * C, 4) }],
    gpu: ([l]) => E.crossEntropy(l, fromArray(t, [rows], 'i32')),
    ref: ([l]) => Float64Array.of(ref.crossEntropy(l, C, t)),
    noFd: C > 100 || rows > 100,
  });
  const allIgnored = new Int32Array(rows).fill(-1);
  await checkOp('crossEntropy all ignored', {
    inputs: [{ shape: [rows, C] }],
    gpu: ([l]) => E.crossEntropy(l, fromArray(allIgnored, [rows], 'i32')),
    ref: () => Float64Array.of(0),
    noFd: true,
  });
});

test('a row kernel over more rows than one grid dimension holds (crossEntropy on 70001 rows: the grid splits over x and y)', async () => {
  const rows = 70001, C = 3;
  assert.ok(rows > rt().dev.limits.maxComputeWorkgroupsPerDimension, 'more rows than workgroups per dimension');
  const t = randint(rows, C);
  for (let i = 0; i < rows; i += 7) t[i] = -1;
  let valid = 0;
  for (const x of t) if (x >= 0) valid++;
  await checkOp('crossEntropy 70001 rows', {
    inputs: [{ shape: [rows, C], data: randn(rows * C, 2) }],
    gpu: ([l]) => E.crossEntropy(l, fromArray(t, [rows], 'i32')),
    ref: ([l]) => Float64Array.of(ref.crossEntropy(l, C, t)),
    // d(mean CE)/dl = (softmax - onehot) / valid rows, on the valid rows; by hand, since central
    // differences over 210003 inputs would take minutes.
    refGrad: ([l], R) => {
      const g = new Float64Array(rows * C);
      for (let i = 0; i < rows; i++) {
        if (t[i]! < 0) continue;
        let m = -Infinity, z = 0;
        for (let j = 0; j < C; j++) m = Math.max(m, l![i * C + j]!);
        for (let j = 0; j < C; j++) z += Math.exp(l![i * C + j]! - m);
        for (let j = 0; j < C; j++) g[i * C + j] = (R[0]! * (Math.exp(l![i * C + j]! - m) / z - (j === t[i] ? 1 : 0))) / valid;
      }
      return [g];
    },
    noFd: true,
  });
});

test('reshape, permute, transpose, slice, concat', async () => {
  const shape = [3, 5, 7];
  await checkOp('reshape', { inputs: [{ shape }], gpu: ([x]) => E.mulScalar(E.reshape(x, [15, -1]), 1), ref: ([x]) => x });
  for (const perm of [[2, 0, 1], [1, 0, 2], [0, 2, 1]]) {
    await checkOp(`permute ${perm}`, { inputs: [{ shape }], gpu: ([x]) => E.permute(x, perm), ref: ([x]) => ref.permute(x, shape, perm) });
  }
  await checkOp('transpose', { inputs: [{ shape }], gpu: ([x]) => E.transpose(x), ref: ([x]) => ref.permute(x, shape, [0, 2, 1]) });
  await checkOp('slice axis 1', { inputs: [{ shape }], gpu: ([x]) => E.slice(x, 1, 1, 4), ref: ([x]) => ref.sliceAxis(x, shape, 1, 1, 4) });
  await checkOp('slice axis 2', { inputs: [{ shape }], gpu: ([x]) => E.slice(x, -1, 6, 7), ref: ([x]) => ref.sliceAxis(x, shape, 2, 6, 7) });
  const s2 = [3, 2, 7], s3 = [3, 4, 7];
  await checkOp('concat axis 1', {
    inputs: [{ shape }, { shape: s2 }, { shape: s3 }],
    gpu: (xs) => E.concat(xs, 1),
    ref: (xs) => ref.concatAxis(xs, [shape, s2, s3], 1),
  });
});

test('row kernels with an invocation per row (many short rows) and vec4 strided copies', async () => {
  // >= 512 rows of <= 512 columns take the invocation-per-row kernels.
  const rows = 515, cols = 12;
  await checkOp('layerNorm per-row', {
    inputs: [{ shape: [rows, cols] }, { shape: [cols] }, { shape: [cols] }],
    gpu: ([x, g, b]) => E.layerNorm(x, g, b, 1e-5),
    ref: ([x, g, b]) => ref.norm(x, cols, g, b, 1e-5, false),
    rtol: 2e-5, atol: 1e-5, gradRtol: 5e-5, gradAtol: 5e-5, noFd: true,
  });
  await checkOp('rmsNorm per-row', {
    inputs: [{ shape: [rows, cols] }, { shape: [cols] }],
    gpu: ([x, g]) => E.rmsNorm(x, g, 1e-6),
    ref: ([x, g]) => ref.norm(x, cols, g, null, 1e-6, true),
    rtol: 2e-5, atol: 1e-5, gradRtol: 5e-5, gradAtol: 5e-5, noFd: true,
  });
  await checkOp('softmax per-row', { inputs: [{ shape: [rows, 9] }], gpu: ([x]) => E.softmax(x), ref: ([x]) => ref.softmaxRows(x, 9, false), noFd: true });
  await checkOp('logSoftmax per-row', { inputs: [{ shape: [rows, 9] }], gpu: ([x]) => E.logSoftmax(x), ref: ([x]) => ref.softmaxRows(x, 9, true), noFd: true });
  // Innermost runs contiguous and 4-aligned: the vec4 copy path.
  const shape = [3, 5, 16];
  await checkOp('slice vec4', { inputs: [{ shape }], gpu: ([x]) => E.slice(x, 2, 4, 12), ref: ([x]) => ref.sliceAxis(x, shape, 2, 4, 12) });
  await checkOp('concat vec4', {
    inputs: [{ shape }, { shape: [3, 5, 8] }],
    gpu: (xs) => E.concat(xs, 2),
    ref: (xs) => ref.concatAxis(xs, [shape, [3, 5, 8]], 2),
  });
  await checkOp('permute vec4 inner', { inputs: [{ shape: [4, 3, 8] }], gpu: ([x]) => E.permute(x, [1, 0, 2]), ref: ([x]) => ref.permute(x, [4, 3, 8], [1, 0, 2]) });
});

test('dropout: seeded mask, scaling, gradient uses the same mask', async () => {
  const n = 4099, p = 0.3;
  const x = new Float64Array(n).fill(1);
  const run = async (seed: number) => Float64Array.from(await E.tidy(() => E.dropout(E.fromArray(Float32Array.from(x), [n]), p, seed)).toArray());
  const a = await run(7), b = await run(7), c = await run(8);
  const kept = a.filter((v) => v !== 0).length / n;
  if (Math.abs(kept - (1 - p)) > 0.04) throw new Error(`dropout kept ${kept}, expected about ${1 - p}`);
  for (const v of a) if (v !== 0 && Math.abs(v - 1 / (1 - p)) > 1e-6) throw new Error(`kept value ${v} is not 1/(1-p)`);
  if (a.some((v, i) => v !== b[i])) throw new Error('same seed gave different masks');
  if (!a.some((v, i) => v !== c[i])) throw new Error('different seeds gave the same mask');
  const mask = a.map((v) => (v === 0 ? 0 : 1 / (1 - p)));
  // The mask is a function of the seed alone, so finite differences see the same mask.
  await checkOp('dropout', { inputs: [{ shape: [n] }], gpu: ([t]) => E.dropout(t, p, 7), ref: ([t]) => t.map((v, i) => v * mask[i]) });
});

test('ops outside any scope leave nothing behind but their outputs: the tensors kept for backward go when no backward is recorded', async () => {
  const x = E.fromArray(randn(5 * 12, 3), [5, 12]);
  const g = E.fromArray(randn(12, 4), [12]);
  const b = E.fromArray(randn(12, 5), [12]);
  const t = E.fromArray(Int32Array.from([1, 0, 11, -1, 3]), [5], 'i32');
  const q = E.fromArray(randn(2 * 7 * 8, 6), [2, 7, 8]);
  const ops: [string, () => E.Tensor][] = [
    ['layerNorm', () => E.noGrad(() => E.layerNorm(x, g, b))],
    ['rmsNorm', () => E.noGrad(() => E.rmsNorm(x, g))],
    ['crossEntropy', () => E.noGrad(() => E.crossEntropy(x, t))],
    ['attention', () => E.noGrad(() => E.attention(q, q, q, { heads: 2, causal: true }))],
  ];
  for (const [name, op] of ops) {
    op().dispose(); // warm-up: any cached helper tensors made once
    const before = E.liveTensorCount();
    for (let i = 0; i < 20; i++) op().dispose();
    assert.is(E.liveTensorCount(), before, `${name}: live tensors after 20 calls`);
  }
  for (const u of [x, g, b, t, q]) u.dispose();
});

test('a tensor larger than the adapter lets one binding hold is refused with its shape and the limit', async () => {
  const limit = rt().dev.maxBindingBytes;
  if (rt().dev.limits.maxBufferSize < limit + 16) return; // the buffer itself could not be made
  const big = E.empty([limit / 4 + 4]);
  try {
    assert.throws(() => E.noGrad(() => E.exp(big)), (e: Error) => e.message.includes(`[${limit / 4 + 4}]`) && e.message.includes(`limit of ${limit} bytes`));
  } finally {
    big.dispose();
  }
});

test.run();
