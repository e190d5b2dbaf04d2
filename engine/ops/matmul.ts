// Batched matrix multiply with optionally transposed operands, and its gradient.
//   C = op(A) @ op(B), op(X) = X or X^T (given by transA/transB, no copy is made).
// A is [...batch, M, K] (transA: [...batch, K, M]); B is [...batch, K, N] (transB: [..., N, K]).
// Batch dims must be equal, or one operand may be a plain matrix shared by every batch entry.
import { record } from '../autograd.js';
import { empty, Tensor, view } from '../tensor.js';
import { matmulKernel, matmulKernelF16 } from './matmul_kernels.js';
import { cast } from './cast.js';
import { assertF32 } from './util.js';
import { sumToShape } from './reduce.js';

export interface MatmulOptions {
  transA?: boolean;
  transB?: boolean;
}

interface Plan {
  M: number; N: number; K: number; batch: number;
  batchShape: number[];
  strideA: number; strideB: number;
}

function plan(a: Tensor, b: Tensor, transA: boolean, transB: boolean): Plan {
  if (a.rank < 2 || b.rank < 2) throw new Error(`matmul: operands need rank >= 2, got [${a.shape}] and [${b.shape}]`);
  const [ar, ac] = a.shape.slice(-2);
  const [br, bc] = b.shape.slice(-2);
  const M = transA ? ac : ar, K = transA ? ar : ac;
  const Kb = transB ? bc : br, N = transB ? br : bc;
  if (K !== Kb) {
    throw new Error(`matmul: inner dimensions differ: [${a.shape}]${transA ? '^T' : ''} @ [${b.shape}]${transB ? '^T' : ''} (${K} vs ${Kb})`);
  }
  const ab = a.shape.slice(0, -2), bb = b.shape.slice(0, -2);
  let batchShape: number[];
  if (ab.length && bb.length) {
    if (ab.length !== bb.length || ab.some((d, i) => d !== bb[i])) {
      throw new Error(`matmul: batch dimensions [${ab}] and [${bb}] differ (only equal batches or a shared 2-D operand are supported)`);
    }
    batchShape = ab;
  } else batchShape = ab.length ? ab : bb;
  const batch = batchShape.reduce((x, y) => x * y, 1);
  return { M, N, K, batch, batchShape, strideA: ab.length ? M * K : 0, strideB: bb.length ? K * N : 0 };
}

/** The raw product (no autograd), optionally accumulated into `into`. */
export function matmulRaw(a: Tensor, b: Tensor, transA = false, transB = false, into?: Tensor): Tensor {
  const p = plan(a, b, transA, transB);
  const outShape = [...p.batchShape, p.M, p.N];
  if (into && (into.rank !== outShape.length || into.shape.some((d, i) => d !== outShape[i]))) {
    throw new Error(`matmul: accumulator [${into.shape}] does not match the product's shape [${outShape}]`);
  }
  const out = into ?? empty(outShape);
  // A batch of row-major A against a shared B is one big matrix: fold the batch into M
  // (same memory layout, one larger GEMM instead of many small ones).
  const k = { ...p, transA, transB, accumulate: !!into };
  if (p.strideB === 0 && p.batch > 1 && !transA) Object.assign(k, { M: p.M * p.batch, batch: 1, strideA: 0 });
  matmulKernel(a, b, out, k);
  return out;
}

export function matmul(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  const transA = !!opts.transA, transB = !!opts.transB;
  if (a.dtype === 'f16' || b.dtype === 'f16') return matmulF16(a, b, transA, transB);
  assertF32('matmul', a, b);
  const out = matmulRaw(a, b, transA, transB);
  return record(out, 'matmul', [a, b], (g) => {
    let ga: Tensor | null = null, gb: Tensor | null = null;
    if (a.requiresGrad) {
      ga = transA ? matmulRaw(b, g, transB, true) : matmulRaw(g, b, false, !transB);
      ga = reduceBatch(ga, a);
    }
    if (b.requiresGrad) {
      if (b.rank === 2 && a.rank > 2 && !transA) {
        // Shared weight: fold the batch so the gradient is one GEMM, already summed.
        const rows = a.size / a.shape[a.rank - 1];
        const a2 = view(a, [rows, a.shape[a.rank - 1]]);
        const g2 = view(g, [rows, g.shape[g.rank - 1]]);
        gb = transB ? matmulRaw(g2, a2, true, false) : matmulRaw(a2, g2, true, false);
        a2.dispose();
        g2.dispose();
      } else {
        gb = transB ? matmulRaw(g, a, true, transA) : matmulRaw(a, g, !transA, false);
        gb = reduceBatch(gb, b);
      }
    }
    return [ga, gb];
  });
}

/**
 * f16 storage, f32 accumulation, f32 result (inference: weights and activations stored in
 * half precision). Uses the f16 kernel where its layout rules hold; otherwise widens the
 * operands to f32 first.
 */
function matmulF16(a: Tensor, b: Tensor, transA: boolean, transB: boolean): Tensor {
  if (a.dtype !== 'f16' || b.dtype !== 'f16') throw new Error(`matmul: mixed dtypes ${a.dtype} and ${b.dtype}; cast one side`);
  if (a.requiresGrad || b.requiresGrad) throw new Error('matmul: f16 operands are for inference; train with f32 master weights');
  const p = plan(a, b, transA, transB);
  const out = empty([...p.batchShape, p.M, p.N]);
  const k = { ...p, transA, transB, accumulate: false };
  if (p.strideB === 0 && p.batch > 1 && !transA) Object.assign(k, { M: p.M * p.batch, batch: 1, strideA: 0 });
  if (!matmulKernelF16(a, b, out, k)) {
    const a32 = cast(a, 'f32'), b32 = cast(b, 'f32');
    matmulKernel(a32, b32, out, k);
    a32.dispose();
    b32.dispose();
  }
  return out;
}

/** If the operand was shared across the batch, sum its per-batch gradients. */
function reduceBatch(g: Tensor, like: Tensor): Tensor {
  if (g.rank === like.rank) return g;
  const r = sumToShape(g, like.shape);
  g.dispose();
  return r;
}


/**
 * A linear layer: x [..., K] @ w^T + bias, w [N, K], bias [N]. The bias is added by the
 * matmul kernel as it stores C, saving a pass over the output (and its dispatch) per layer.
 */
export function linear(x: Tensor, w: Tensor, bias: Tensor): Tensor {
  assertF32('linear', x, w, bias);
  const K = x.shape[x.rank - 1]!;
  if (w.rank !== 2 || w.shape[1] !== K) throw new Error(`linear: weight [${w.shape}] does not fit input [${x.shape}] (expected [N, ${K}])`);
  const N = w.shape[0]!;
  if (bias.rank !== 1 || bias.shape[0] !== N) throw new Error(`linear: bias [${bias.shape}] must be [${N}]`);
  const rows = x.size / K;
  const out = empty([...x.shape.slice(0, -1), N]);
  const x2 = view(x, [rows, K]);
  matmulKernel(x2, w, out, { M: rows, N, K, batch: 1, strideA: 0, strideB: 0, transA: false, transB: true, accumulate: false }, bias);
  x2.dispose();
  return record(out, 'linear', [x, w, bias], (g) => {
    const g2 = view(g, [rows, N]);
    let gx: Tensor | null = null, gw: Tensor | null = null, gb: Tensor | null = null;
    if (x.requiresGrad) {
      const d = matmulRaw(g2, w);
      gx = view(d, x.shape);
      d.dispose();
    }
    if (w.requiresGrad) {
      const xs = view(x, [rows, K]);
      gw = matmulRaw(g2, xs, true, false);
      xs.dispose();
    }
    if (bias.requiresGrad) gb = sumToShape(g2, [N]);
    g2.dispose();
    return [gx, gw, gb];
  });
}
