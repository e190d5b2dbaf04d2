// Chooses and launches the matmul kernel for a planned product.
import { rt, Tensor } from '../tensor.js';

export interface MatmulLaunch {
  M: number; N: number; K: number; batch: number;
  strideA: number; strideB: number;
  transA: boolean; transB: boolean; accumulate: boolean;
}

export function matmulKernel(a: Tensor, b: Tensor, c: Tensor, l: MatmulLaunch): void {
  const r = rt();
  const k = r.kernel('matmul_simple', { TRANS_A: +l.transA, TRANS_B: +l.transB });
  r.dispatch(k, [a.binding(), b.binding(), c.binding()],
    [l.M, l.N, l.K, l.batch, l.strideA, l.strideB, l.M * l.N, +l.accumulate],
    [Math.ceil(l.N / 32), Math.ceil(l.M / 32), l.batch]);
}
