// Softmax and log-softmax over the last axis. Elements at -Infinity get probability 0; a row
// that is -Infinity throughout has no distribution and gives NaN (0/0), in the output and its
// gradient, as PyTorch does. (Attention masks rows itself and never produces such a row.)
import { record } from '../autograd.js';
import { empty, Tensor } from '../tensor.js';
import { assertF32, launch1d, launchRows, rowPerInvocation } from './util.js';

function run(x: Tensor, log: boolean): Tensor {
  assertF32(log ? 'logSoftmax' : 'softmax', x);
  if (x.rank < 1) throw new Error('softmax: needs rank >= 1');
  const cols = x.shape[x.rank - 1];
  const rows = x.size / Math.max(cols, 1);
  const y = empty(x.shape);
  const perRow = rowPerInvocation(rows, cols);
  if (perRow) launch1d('softmax', { LOG: +log }, 'forward_rows', [x.binding(), y.binding()], [rows, cols, 0, 0], rows, 64);
  else launchRows('softmax', { LOG: +log }, 'forward', [x.binding(), y.binding()], [rows, cols, 0, 0], rows);
  return record(y, log ? 'logSoftmax' : 'softmax', [x], (g) => {
    const dx = empty(x.shape);
    const bufs = [y.binding(), g.binding(), dx.binding()];
    if (perRow) launch1d('softmax', { LOG: +log }, 'backward_rows', bufs, [rows, cols, 0, 0], rows, 64);
    else launchRows('softmax', { LOG: +log }, 'backward', bufs, [rows, cols, 0, 0], rows);
    return [dx];
  });
}

export const softmax = (x: Tensor): Tensor => run(x, false);
export const logSoftmax = (x: Tensor): Tensor => run(x, true);
