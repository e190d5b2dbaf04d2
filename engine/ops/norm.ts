// LayerNorm and RMSNorm over the last axis, with learned gain (and bias for LayerNorm).
import { record } from '../autograd.js';
import { f32 } from '../runtime.js';
import { empty, Tensor } from '../tensor.js';
import { assertF32, launch1d, launchRows, rowPerInvocation } from './util.js';

function run(x: Tensor, gamma: Tensor, beta: Tensor | null, eps: number, rms: boolean): Tensor {
  const op = rms ? 'rmsNorm' : 'layerNorm';
  assertF32(op, x, gamma, ...(beta ? [beta] : []));
  const cols = x.shape[x.rank - 1];
  if (!cols) throw new Error(`${rms ? 'rmsNorm' : 'layerNorm'}: rows of shape [${x.shape}] have no elements to normalise`);
  if (gamma.size !== cols || (beta && beta.size !== cols)) {
    throw new Error(`${op}: gain/bias of size ${gamma.size}${beta ? `/${beta.size}` : ''} do not match the last dimension of [${x.shape}]`);
  }
  const rows = x.size / cols;
  const y = empty(x.shape);
  const stats = empty([rows, 2]);
  const params = [rows, cols, f32(eps), 0];
  const D = { RMS: +rms };
  // RMSNorm has no bias; its kernel never reads the slot, so gamma fills it.
  const perRow = rowPerInvocation(rows, cols);
  // The vec4 kernels (bit-identical results, a quarter of the loads) need rows of whole vec4s
  // at 16-byte aligned offsets; IVT_NORM_VEC4=0 keeps the f32 kernels (tests compare the two).
  // LayerNorm forward+backward at 2048x256 on lavapipe, alternating runs: 4.7-8.7 ms against
  // 6.1-12.8 ms with the f32 kernels.
  const vec4 = cols % 4 === 0 && process.env.IVT_NORM_VEC4 !== '0' && [x, gamma, ...(beta ? [beta] : [])].every((t) => t.byteOffset % 16 === 0);
  const fwdBuffers = [x.binding(), gamma.binding(), (beta ?? gamma).binding(), y.binding(), stats.binding()];
  if (perRow) launch1d('layernorm', D, vec4 ? 'forward_rows4' : 'forward_rows', fwdBuffers, params, rows, 64);
  else launchRows('layernorm', D, 'forward', fwdBuffers, params, rows);
  const inputs = beta ? [x, gamma, beta] : [x, gamma];
  const out = record(y, op, inputs, (g) => {
    const vec4Back = vec4 && g.byteOffset % 16 === 0; // the incoming gradient is read as vec4 too
    let dx: Tensor | null = null;
    if (x.requiresGrad) {
      dx = empty(x.shape);
      const bufs = [x.binding(), gamma.binding(), stats.binding(), g.binding(), dx.binding()];
      if (perRow) launch1d('layernorm', D, vec4Back ? 'backward_x_rows4' : 'backward_x_rows', bufs, params, rows, 64);
      else launchRows('layernorm', D, 'backward_x', bufs, params, rows);
    }
    let dgamma: Tensor | null = null, dbeta: Tensor | null = null;
    if (gamma.requiresGrad || beta?.requiresGrad) {
      dgamma = empty(gamma.shape);
      dbeta = empty(gamma.shape); // scratch for RMSNorm, which writes no bias gradient
      launch1d('layernorm', D, vec4Back ? 'backward_params4' : 'backward_params', [x.binding(), stats.binding(), g.binding(), dgamma.binding(), dbeta.binding()], params, vec4Back ? cols / 4 : cols, 64);
      if (!beta) {
        dbeta.dispose();
        dbeta = null;
      }
    }
    return beta ? [dx, dgamma, dbeta] : [dx, dgamma];
  });
  // The row statistics are kept only for a backward pass; without one they go now, not at the
  // end of an enclosing scope (or never, outside any).
  if (!out.node) stats.dispose();
  return out;
}

export function layerNorm(x: Tensor, gamma: Tensor, beta: Tensor, eps = 1e-5): Tensor {
  return run(x, gamma, beta, eps, false);
}
export function rmsNorm(x: Tensor, gamma: Tensor, eps = 1e-6): Tensor {
  return run(x, gamma, null, eps, true);
}
