// Top-k selection over accumulated attention scores, excluding earlier choices (IVT-LR's
// latent vision). Indices only: not differentiable; gather the rows with gatherRows.
import { empty, rt, Tensor } from '../tensor.js';

/**
 * For each batch row of `scores` (i32 [B, J], the fixed-point accumulator), the k best image
 * tokens not yet marked in `chosen` (u32 [B, J], updated in place). Returns i32 [B, k] of
 * flattened indices b * J + j (row order: best first; ties to the lower j).
 */
export function selectTopK(scores: Tensor, chosen: Tensor, k: number, alreadyChosen: number): Tensor {
  if (scores.dtype !== 'i32' || scores.rank !== 2) throw new Error(`selectTopK: scores must be i32 [B, J], got ${scores.dtype} [${scores.shape}]`);
  const [B, J] = scores.shape;
  if (chosen.dtype !== 'u32' || chosen.size !== B * J) throw new Error(`selectTopK: chosen must be u32 [${B}, ${J}]`);
  if (!Number.isInteger(k) || k < 1) throw new Error(`selectTopK: k must be a positive integer, got ${k}`);
  if (alreadyChosen + k > J) throw new Error(`selectTopK: cannot pick ${k} new tokens: ${alreadyChosen} of ${J} image tokens are already chosen`);
  const sel = empty([B, k], 'i32');
  const r = rt();
  const params = [B, J, k, 0];
  r.dispatch(r.kernel('topk', {}, 'select_topk'), [scores.binding(), chosen.binding(), sel.binding()], params, r.grid(Math.ceil((B * J) / 64)));
  r.dispatch(r.kernel('topk', {}, 'mark'), [sel.binding(), chosen.binding()], params, r.grid(Math.ceil((B * k) / 64)));
  return sel;
}
