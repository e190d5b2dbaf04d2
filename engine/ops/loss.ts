// Cross-entropy over the last axis, fused with log-softmax, with an ignore mask: targets
// < 0 (conventionally -1) contribute nothing and are not counted in the mean.
import { record } from '../autograd.js';
import { empty, rt, Tensor, view } from '../tensor.js';
import { assertF32, launch1d, launchRows } from './util.js';

/** Rows up to this long are reduced by one invocation each (see cross_entropy.wgsl). */
export const SERIAL_MAX_COLS = 1024;

/** Mean cross-entropy of `logits` [..., C] against integer `targets` [...]; returns shape []. */
export function crossEntropy(logits: Tensor, targets: Tensor): Tensor {
  assertF32('crossEntropy', logits);
  if (targets.dtype !== 'i32') throw new Error(`crossEntropy: targets must be i32, got ${targets.dtype}`);
  const cols = logits.shape[logits.rank - 1];
  const rows = logits.size / cols;
  if (targets.size !== rows) throw new Error(`crossEntropy: ${targets.size} targets for logits [${logits.shape}] (${rows} rows)`);
  if (targets.hostData) {
    for (let i = 0; i < targets.hostData.length; i++) {
      const t = targets.hostData[i];
      if (t >= cols) throw new Error(`crossEntropy: target ${t} at row ${i} is outside [0, ${cols})`);
    }
  }
  const stats = empty([rows, 2]);
  const res = empty([2]); // mean loss, count of supervised rows
  const p = [rows, cols, 0, 0];
  // Short rows (a word-level vocabulary): one invocation per row; long rows: a workgroup each.
  if (cols <= SERIAL_MAX_COLS) launch1d('cross_entropy', {}, 'rows_serial', [logits.binding(), targets.binding(), stats.binding()], p, rows, 64);
  else launchRows('cross_entropy', {}, 'rows', [logits.binding(), targets.binding(), stats.binding()], p, rows);
  rt().dispatch(rt().kernel('cross_entropy', {}, 'finalize'), [stats.binding(), targets.binding(), res.binding()], p, [1]);
  const loss = view(res, []);
  const out = record(loss, 'crossEntropy', [logits], (g) => {
    const dl = empty(logits.shape);
    launchRows('cross_entropy', {}, 'backward', [logits.binding(), targets.binding(), stats.binding(), res.binding(), g.binding(), dl.binding()], p, rows);
    return [dl];
  });
  // The row statistics serve only the backward pass: without one they go now (and so does this
  // handle on the result's buffer: the loss is a view of it and keeps the buffer alive).
  if (!out.node) {
    stats.dispose();
    res.dispose();
  }
  return out;
}
