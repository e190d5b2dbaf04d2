// The engine's public surface: import everything from here.
export { initEngine, shutdownEngine, rt, Tensor, empty, fromArray, scalar, view, tidy, tidyAsync, keep, startScope, endScope, liveTensorCount } from './tensor.js';
export type { DType, Shape } from './tensor.js';
export { backward, noGrad, isGradEnabled } from './autograd.js';
export * from './ops/elementwise.js';
export { sum, mean, max, sumAll, sumToShape } from './ops/reduce.js';
export { matmul } from './ops/matmul.js';
export { softmax, logSoftmax } from './ops/softmax.js';
export { layerNorm, rmsNorm } from './ops/norm.js';
export { embedding, gatherRows } from './ops/gather.js';
export { crossEntropy } from './ops/loss.js';
export { reshape, permute, transpose, slice, concat } from './ops/shape.js';
export { dropout } from './ops/dropout.js';
export { cast } from './ops/cast.js';
export { AdamW } from './optim.js';
export type { AdamWOptions } from './optim.js';
export { getDevice, device, Device } from './device.js';
export { UserError, GpuError } from './errors.js';
