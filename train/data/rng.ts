// A small seeded PRNG (sfc32 seeded through a string hash). The synthetic dataset must be
// byte-for-byte reproducible from its seed on any machine, so Math.random is never used.
// Streams are derived from a root seed plus labels (e.g. seed, "train", problem index), so a
// problem does not change when the sizes of other splits change.

/** 32-bit string hash (MurmurHash3-style mixing), used only to turn labels into seeds. */
function hash32(text: string, seed: number): number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  for (let i = 0; i < text.length; i++) {
    h = Math.imul(h ^ text.charCodeAt(i), 0x5bd1e995);
    h ^= h >>> 13;
  }
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  /** The same labels always give the same stream: `new Rng(7, 'train', 12)`. */
  constructor(...labels: Array<string | number>) {
    const key = labels.map(String).join('\u0000');
    this.a = hash32(key, 1);
    this.b = hash32(key, 2);
    this.c = hash32(key, 3);
    this.d = hash32(key, 4);
    // Discard the first outputs: sfc32 needs a few rounds to mix a fresh state.
    for (let i = 0; i < 12; i++) this.nextU32();
  }

  nextU32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t;
  }

  /** Uniform float in [0, 1). */
  next(): number {
    return this.nextU32() / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    if (!Number.isInteger(n) || n <= 0) throw new Error(`Rng.int: n must be a positive integer, got ${n}`);
    return Math.floor(this.next() * n);
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('Rng.pick: empty list');
    return items[this.int(items.length)]!;
  }

  /** Fisher-Yates shuffle of a copy. */
  shuffle<T>(items: readonly T[]): T[] {
    const out = items.slice();
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = out[i]!;
      out[i] = out[j]!;
      out[j] = t;
    }
    return out;
  }
}

/**
 * A balanced schedule that does not depend on how many items are drawn: item i gets
 * values[perm_b[i mod n]] where perm_b is a fresh permutation for block b = floor(i / n).
 * Every complete block holds each value once, so counts differ by at most 1 overall.
 */
export function balancedPick<T>(values: readonly T[], index: number, ...labels: Array<string | number>): T {
  const n = values.length;
  const block = Math.floor(index / n);
  const perm = new Rng(...labels, 'block', block).shuffle(values);
  return perm[index % n]!;
}
