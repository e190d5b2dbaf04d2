// Per-layer key/value cache, batched, append-only.
//
// Two storage modes, one interface:
//  - graph: each pass's keys/values are kept as tensors and concatenated, so gradients flow
//    through them to the pass that produced them (training runs latent steps incrementally
//    and backpropagates through the whole chain);
//  - buffer: preallocated [B, capacity, D] per layer, rows written in place (inference:
//    decoding appends one position per pass without copying the past).
import * as E from '../engine/index.js';
import { empty, keep, Tensor } from '../engine/tensor.js';
import { stridedCopy } from '../engine/ops/shape.js';

export class KvCache {
  private keys: (Tensor | null)[];
  private values: (Tensor | null)[];
  private bufK: Tensor[] = [];
  private bufV: Tensor[] = [];
  /** Positions cached so far (same for every row: rows are left-padded). */
  length = 0;

  constructor(readonly layers: number, readonly mode: 'graph' | 'buffer', readonly batch: number, readonly dim: number, readonly capacity = 0) {
    this.keys = new Array(layers).fill(null);
    this.values = new Array(layers).fill(null);
    if (mode === 'buffer') {
      if (capacity < 1) throw new Error('KvCache: buffer mode needs a capacity');
      for (let l = 0; l < layers; l++) {
        this.bufK.push(keep(empty([batch, capacity, dim])));
        this.bufV.push(keep(empty([batch, capacity, dim])));
      }
    }
  }

  /**
   * Adds this pass's keys and values ([B, T, D]) for `layer`; returns what attention should
   * read: all keys and values so far and how many rows of them are valid.
   */
  append(layer: number, k: Tensor, v: Tensor): { k: Tensor; v: Tensor; len: number } {
    const T = k.shape[1];
    if (this.mode === 'graph') {
      const pk = this.keys[layer], pv = this.values[layer];
      const nk = pk ? E.concat([pk, k], 1) : k;
      const nv = pv ? E.concat([pv, v], 1) : v;
      this.keys[layer] = nk;
      this.values[layer] = nv;
      return { k: nk, v: nv, len: nk.shape[1] };
    }
    const start = this.length;
    if (start + T > this.capacity) throw new Error(`KvCache: ${start + T} positions exceed the capacity ${this.capacity}`);
    // Rows [start, start+T) of every batch entry, one strided copy for all of them.
    const D = this.dim;
    for (const [src, dst] of [[k, this.bufK[layer]], [v, this.bufV[layer]]] as const) {
      stridedCopy(src, dst, [this.batch, T, D], [T * D, D, 1], [this.capacity * D, D, 1], 0, start * D);
    }
    return { k: this.bufK[layer], v: this.bufV[layer], len: start + T };
  }

  /**
   * A buffer cache of rows `rows` of this one (in that order), with the positions cached so far:
   * rows of a batch that go on separately (adaptive latent steps: one group per chosen count).
   */
  selectRows(rows: number[]): KvCache {
    if (this.mode !== 'buffer') throw new Error('KvCache.selectRows: buffer mode only');
    if (rows.some((b) => !Number.isInteger(b) || b < 0 || b >= this.batch)) throw new Error(`KvCache.selectRows: rows ${rows} outside the batch of ${this.batch}`);
    const out = new KvCache(this.layers, 'buffer', rows.length, this.dim, this.capacity);
    out.length = this.length;
    E.tidy(() => {
      const idx = E.fromArray(Int32Array.from(rows), [rows.length], 'i32');
      for (let l = 0; l < this.layers; l++) {
        for (const [src, dst] of [[this.bufK[l]!, out.bufK[l]!], [this.bufV[l]!, out.bufV[l]!]] as const) {
          const picked = E.gatherRows(E.reshape(src, [this.batch, this.capacity * this.dim]), idx);
          stridedCopy(picked, dst, [rows.length * this.capacity * this.dim], [1], [1], 0, 0);
        }
      }
    });
    return out;
  }

  /** Called once per pass after every layer appended. */
  advance(T: number): void {
    this.length += T;
  }

  dispose(): void {
    for (const t of [...this.bufK, ...this.bufV]) t.dispose();
    this.bufK = [];
    this.bufV = [];
    this.keys.fill(null);
    this.values.fill(null);
  }
}
