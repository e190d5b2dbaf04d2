// f32 <-> f16 conversion (f16 storage needs the adapter's shader-f16 feature).
import { record } from '../autograd.js';
import { rt, empty, Tensor } from '../tensor.js';
import { launch1d } from './util.js';

/** The conversion alone, recorded on no tape (gradient accumulation uses it). */
export function castRaw(src: Tensor, to: 'f32' | 'f16'): Tensor {
  const out = empty(src.shape, to);
  launch1d('cast', { SRC: src.dtype, DST: to }, 'main', [src.binding(), out.binding()], [src.size, 0, 0, 0], src.size);
  return out;
}

export function cast(x: Tensor, dtype: 'f32' | 'f16'): Tensor {
  x.assertAlive();
  if (x.dtype === dtype) throw new Error(`cast: tensor is already ${dtype}`);
  if (!((x.dtype === 'f32' || x.dtype === 'f16'))) throw new Error(`cast: only f32 <-> f16, got ${x.dtype}`);
  if (!rt().dev.hasF16) throw new Error('cast: this adapter has no shader-f16 feature; f16 tensors are unavailable');
  return record(castRaw(x, dtype), 'cast', [x], (g) => [castRaw(g, x.dtype as 'f32' | 'f16')]);
}
