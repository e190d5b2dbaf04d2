// Parameters and the few layers every model here is built from. Weights follow PyTorch's
// conventions (Linear weight is [out, in]) and names, so checkpoints load there unchanged.
import { fromArray, keep, Tensor } from '../engine/tensor.js';
import * as E from '../engine/index.js';

/** Deterministic initialisation: a seeded generator (mulberry32) and Box-Muller normals. */
export class InitRng {
  private a: number;
  constructor(seed: number) {
    this.a = seed >>> 0;
  }
  uniform(): number {
    this.a = (this.a + 0x6d2b79f5) >>> 0;
    let t = this.a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  normal(n: number, std: number): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const u = Math.max(this.uniform(), 1e-12), v = this.uniform();
      out[i] = std * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    }
    return out;
  }
}

/** A named collection of parameters (flat, PyTorch-style dotted names). */
export class ParamSet {
  readonly params = new Map<string, Tensor>();
  constructor(readonly rng: InitRng) {}

  /** init: normal(0, std), zeros, ones, a constant, or normal(0, std) changed by `edit` before upload. */
  add(name: string, shape: number[], init: 'normal' | 'zeros' | 'ones' | number, std = 0.02, edit?: (data: Float32Array) => void): Tensor {
    if (this.params.has(name)) throw new Error(`parameter ${name} defined twice`);
    const n = shape.reduce((a, b) => a * b, 1);
    const value = init === 'ones' ? 1 : init === 'zeros' ? 0 : init;
    const data = value === 'normal' ? this.rng.normal(n, std) : new Float32Array(n).fill(value);
    edit?.(data);
    const t = keep(fromArray(data, shape));
    t.requiresGrad = true;
    t.name = name;
    this.params.set(name, t);
    return t;
  }

  list(): Tensor[] {
    return [...this.params.values()];
  }

  count(): number {
    let n = 0;
    for (const t of this.params.values()) n += t.size;
    return n;
  }

  dispose(): void {
    for (const t of this.params.values()) t.dispose();
    this.params.clear();
  }
}

export class Linear {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  constructor(ps: ParamSet, name: string, inDim: number, outDim: number, opts: { bias?: boolean; std?: number; edit?: (w: Float32Array) => void } = {}) {
    // Default 1/sqrt(fan-in) keeps activations at unit scale whatever the width; GPT-2's fixed
    // 0.02 is that value for width ~2500 and starves the narrow models trained here.
    this.weight = ps.add(`${name}.weight`, [outDim, inDim], 'normal', opts.std ?? 1 / Math.sqrt(inDim), opts.edit);
    this.bias = opts.bias === false ? null : ps.add(`${name}.bias`, [outDim], 'zeros');
  }
  forward(x: Tensor): Tensor {
    return this.bias ? E.linear(x, this.weight, this.bias) : E.matmul(x, this.weight, { transB: true });
  }
}

export class LayerNorm {
  readonly weight: Tensor;
  readonly bias: Tensor;
  constructor(ps: ParamSet, name: string, dim: number, readonly eps = 1e-5) {
    this.weight = ps.add(`${name}.weight`, [dim], 'ones');
    this.bias = ps.add(`${name}.bias`, [dim], 'zeros');
  }
  forward(x: Tensor): Tensor {
    return E.layerNorm(x, this.weight, this.bias, this.eps);
  }
}
