// Batch collation on the CPU: variable-length token sequences -> dense typed arrays [B, T].
// Right padding (tokens first, pads after) is the usual layout for training; LEFT padding
// (pads first) lines up every row's last token at column T-1, which batched decoding needs:
// the next token of every row is then read from, and appended at, the same column.
// Labels use IGNORE_INDEX (-1) wherever no loss is taken (pads, prompt, latent slots).

import { UserError } from '../../engine/errors.js';

export const IGNORE_INDEX = -1;

export type PadSide = 'left' | 'right';

export interface CollateOptions {
  padId: number;
  side: PadSide;
  /** Pad every row to at least this length (e.g. a fixed T); default: the longest row. */
  minLength?: number;
  /** Round T up to a multiple of this (kernels that like aligned sizes); default 1. */
  multipleOf?: number;
  /** Refuse rows longer than this (the model's context); default no limit. */
  maxLength?: number;
}

export interface Batch {
  batchSize: number;
  seqLen: number;
  side: PadSide;
  /** [B, T] token ids, padId at pad positions. */
  ids: Int32Array;
  /** [B, T] 1 where a real token is, 0 at pads. */
  mask: Uint8Array;
  /** [B, T] position of each token within its row (0 for the first real token), 0 at pads. */
  positions: Int32Array;
  /** [B] real tokens per row. */
  lengths: Int32Array;
  /** [B] column of each row's first real token (0 with right padding). */
  offsets: Int32Array;
  /** [B, T] labels aligned with ids, IGNORE_INDEX at pads; null if none were given. */
  labels: Int32Array | null;
}

type Row = ArrayLike<number>;

export function collate(seqs: readonly Row[], opts: CollateOptions, labels?: readonly Row[]): Batch {
  const B = seqs.length;
  if (B === 0) throw new Error('collate: empty batch');
  if (labels && labels.length !== B) throw new Error(`collate: ${B} sequences but ${labels.length} label rows`);
  const multiple = opts.multipleOf ?? 1;
  if (!Number.isInteger(multiple) || multiple < 1) throw new Error(`collate: multipleOf must be a positive integer, got ${multiple}`);
  let T = opts.minLength ?? 0;
  seqs.forEach((s, b) => {
    if (opts.maxLength !== undefined && s.length > opts.maxLength) {
      throw new UserError(`a sequence of ${s.length} tokens (batch row ${b}) is longer than the model's context of ${opts.maxLength}`);
    }
    if (labels && labels[b]!.length !== s.length) throw new Error(`collate: row ${b} has ${s.length} tokens but ${labels[b]!.length} labels`);
    T = Math.max(T, s.length);
  });
  T = Math.max(1, Math.ceil(T / multiple) * multiple);
  // Rounding up (or minLength) must not pass the context limit; every row already fits.
  if (opts.maxLength !== undefined && T > opts.maxLength) T = opts.maxLength;

  const ids = new Int32Array(B * T).fill(opts.padId);
  const mask = new Uint8Array(B * T);
  const positions = new Int32Array(B * T);
  const lengths = new Int32Array(B);
  const offsets = new Int32Array(B);
  const lab = labels ? new Int32Array(B * T).fill(IGNORE_INDEX) : null;
  for (let b = 0; b < B; b++) {
    const s = seqs[b]!;
    const n = s.length;
    const start = opts.side === 'left' ? T - n : 0;
    lengths[b] = n;
    offsets[b] = start;
    const row = b * T + start;
    for (let t = 0; t < n; t++) {
      ids[row + t] = s[t]!;
      mask[row + t] = 1;
      positions[row + t] = t;
      if (lab) lab[row + t] = labels![b]![t]!;
    }
  }
  return { batchSize: B, seqLen: T, side: opts.side, ids, mask, positions, lengths, offsets, labels: lab };
}

/**
 * Next-token labels for a causal LM: labels[t] = ids[t + 1] when token t + 1 is supervised,
 * else IGNORE_INDEX; the last position has no next token. `supervised[t]` says whether the
 * loss should make the model produce ids[t] (true for target steps, answer and EOS).
 */
export function nextTokenLabels(ids: ArrayLike<number>, supervised: ArrayLike<boolean>): Int32Array {
  if (supervised.length !== ids.length) throw new Error(`nextTokenLabels: ${ids.length} ids but ${supervised.length} flags`);
  const out = new Int32Array(ids.length).fill(IGNORE_INDEX);
  for (let t = 0; t + 1 < ids.length; t++) if (supervised[t + 1]) out[t] = ids[t + 1]!;
  return out;
}
