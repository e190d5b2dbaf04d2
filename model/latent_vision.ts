// Choosing latent vision's image tokens: the k the model attends to most, not chosen at an
// earlier step (the method), or a control that draws them at random. The random draw is fixed
// per problem (a hash of its prompt and picture seeds a permutation of the image tokens, and
// step i takes the permutation's i-th block of k), so training and every evaluation insert the
// same tokens for the same problem, and no token is inserted twice, as with attention's choice.
import * as E from '../engine/index.js';
import { fromArray, type Tensor } from '../engine/tensor.js';
import type { Sample } from './ivt.js';
import { InitRng } from './nn.js';

/** FNV-1a over the prompt's token ids and the bits of the picture's patch values. */
function problemHash(s: Sample): number {
  let h = 0x811c9dc5;
  const mix = (x: number) => { h = Math.imul(h ^ (x >>> 0), 0x01000193) >>> 0; };
  for (const t of s.prompt) mix(t);
  for (const x of new Uint32Array(s.patches.buffer, s.patches.byteOffset, s.patches.length)) mix(x);
  return h;
}

// A problem's order, drawn once: every latent step of every pass reads it again.
const orders = new WeakMap<Sample, number[]>();

/** The image tokens (0..J-1) a problem's latent steps insert, in order: step i's are [i * k, (i + 1) * k). */
export function randomVisionOrder(s: Sample, J: number): number[] {
  const known = orders.get(s);
  if (known && known.length === J) return known;
  const order = Array.from({ length: J }, (_, j) => j);
  const rng = new InitRng(problemHash(s));
  for (let i = J - 1; i > 0; i--) {
    const j = Math.floor(rng.uniform() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  orders.set(s, order);
  return order;
}

/** Step `step`'s k random image tokens per problem, as flattened indices b * J + j (i32 [B * k], the layout selectTopK returns). */
export function randomVisionIndices(samples: Sample[], J: number, k: number, step: number): Int32Array {
  if ((step + 1) * k > J) throw new Error(`random latent vision: step ${step + 1} of top-${k} needs more than the ${J} image tokens`);
  const out = new Int32Array(samples.length * k);
  samples.forEach((s, b) => randomVisionOrder(s, J).slice(step * k, (step + 1) * k).forEach((j, r) => { out[b * k + r] = b * J + j; }));
  return out;
}

/**
 * Latent step `step`'s image tokens (i32 [B, k] of flattened indices b * J + j): the k best
 * `scores` not chosen at earlier steps (the method), or with `random` this problem's random
 * ones. Shared by the latent prefix on the KV cache and the recomputing one.
 */
export function selectLatentVision(samples: Sample[], J: number, k: number, step: number, random: boolean, scores: Tensor | null, chosen: Tensor | null): Tensor {
  if (random) return fromArray(randomVisionIndices(samples, J, k, step), [samples.length, k], 'i32');
  if (!scores || !chosen) throw new Error('latent vision: selecting by attention needs the accumulated scores');
  return E.selectTopK(scores, chosen, k, step * k);
}
