// Chooses and launches the matmul kernel for a planned product.
//
// shaders/matmul.wgsl (subgroup-broadcast register tiling, 64x16 per 8-lane workgroup) is the
// fast kernel where a workgroup of 8 invocations is one subgroup (subgroupMinSize >= 8, as on
// lavapipe); its vec4 entry point needs 4-aligned K, N and batch strides. Everything else
// runs shaders/matmul_simple.wgsl, correct for any shape.
import { rt, Tensor } from '../tensor.js';

export interface MatmulLaunch {
  M: number; N: number; K: number; batch: number;
  strideA: number; strideB: number;
  transA: boolean; transB: boolean; accumulate: boolean;
}

let fastOk: boolean | null = null;

/** 'auto': the subgroup kernel where usable; 'simple': always matmul_simple (tests cover both). */
export function setMatmulPath(path: 'auto' | 'simple'): void {
  fastOk = path === 'simple' ? false : null;
}
function subgroupKernelUsable(): boolean {
  fastOk ??= rt().dev.hasEightLaneSubgroups && process.env.IVT_MATMUL !== 'simple';
  return fastOk;
}

/** Template values for the optional fused bias (added to every row of C). */
// The bias is the fourth buffer, so the parameters (bound after the buffers) move to binding 4.
function biasDefines(bias: boolean): { BIAS_DECL: string; BIAS_AT: string; P_BINDING: number } {
  return bias
    ? { BIAS_DECL: '@group(0) @binding(3) var<storage, read> Bias: array<f32>;', BIAS_AT: 'return Bias[n];', P_BINDING: 4 }
    : { BIAS_DECL: '', BIAS_AT: 'return 0.0;', P_BINDING: 3 };
}

/** C (+)= op(A) @ op(B), plus `bias` [N] on every row when given. */
export function matmulKernel(a: Tensor, b: Tensor, c: Tensor, l: MatmulLaunch, bias?: Tensor): void {
  const r = rt();
  const params = [l.M, l.N, l.K, l.batch, l.strideA, l.strideB, l.M * l.N, +l.accumulate];
  const buffers = [a.binding(), b.binding(), c.binding()];
  if (bias) buffers.push(bias.binding());
  const defines = { TRANS_A: +l.transA, TRANS_B: +l.transB, ...biasDefines(!!bias) };
  if (subgroupKernelUsable()) {
    const vec4 = !l.transA && l.K % 4 === 0 && (l.transB || l.N % 4 === 0) && l.strideA % 4 === 0 && l.strideB % 4 === 0;
    r.dispatch(r.kernel('matmul', defines, vec4 ? 'main_vec4' : 'main'), buffers, params, [Math.ceil(l.N / 16), Math.ceil(l.M / 64), l.batch]);
    return;
  }
  r.dispatch(r.kernel('matmul_simple', defines), buffers, params, [Math.ceil(l.N / 32), Math.ceil(l.M / 32), l.batch]);
}

/** The f16-storage kernel (shaders/matmul_f16.wgsl, vec4 path only); false if its rules do not hold here. */
export function matmulKernelF16(a: Tensor, b: Tensor, c: Tensor, l: MatmulLaunch): boolean {
  const r = rt();
  const ok = subgroupKernelUsable() && r.dev.hasF16 && !l.transA && l.K % 4 === 0 && (l.transB || l.N % 4 === 0) && l.strideA % 4 === 0 && l.strideB % 4 === 0;
  if (!ok) return false;
  r.dispatch(r.kernel('matmul_f16', { TRANS_B: +l.transB, ...biasDefines(false) }, 'main'), [a.binding(), b.binding(), c.binding()],
    [l.M, l.N, l.K, l.batch, l.strideA, l.strideB, l.M * l.N, +l.accumulate], [Math.ceil(l.N / 16), Math.ceil(l.M / 64), l.batch]);
  return true;
}
