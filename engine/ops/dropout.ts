// Seeded dropout: the keep-mask is a hash of (seed, element index), recomputed in backward.
import { record } from '../autograd.js';
import { f32 } from '../runtime.js';
import { empty, Tensor, view } from '../tensor.js';
import { assertF32, launch1d } from './util.js';

export function dropout(x: Tensor, p: number, seed: number, training = true): Tensor {
  assertF32('dropout', x);
  if (!(p >= 0 && p < 1)) throw new Error(`dropout: probability must be in [0, 1), got ${p}`);
  // Identity when off; still a new tensor object so the caller owns what it gets back.
  if (!training || p === 0) return record(view(x, x.shape), 'dropout', [x], (g) => [view(g, g.shape)]);
  const threshold = Math.min(Math.round(p * 2 ** 32), 2 ** 32 - 1);
  const params = [x.size, seed >>> 0, threshold, f32(1 / (1 - p))];
  const apply = (src: Tensor): Tensor => {
    const y = empty(src.shape);
    launch1d('dropout', {}, 'main', [src.binding(), y.binding()], params, src.size);
    return y;
  };
  return record(apply(x), 'dropout', [x], (g) => [apply(g)]);
}
