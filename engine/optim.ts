// Fused AdamW with global gradient-norm clipping over parameter arenas.
//
// The optimizer packs every parameter into a few flat GPU buffers ("arenas": weights,
// gradients, first and second moments), one per weight-decay group (and more only if a group
// exceeds the device's max storage binding). Each parameter tensor becomes a view into the
// weight arena and its `.grad` a view into the gradient arena, so one step is:
//   sumsq per arena -> one norm dispatch -> one AdamW dispatch per arena,
// with the clip factor and the non-finite check computed on the GPU: no readback per step.
import { f32 } from './runtime.js';
import { rt, Storage, Tensor, external, keep } from './tensor.js';
import { launch1d } from './ops/util.js';

export interface AdamWOptions {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  /** Global L2 norm to clip gradients to; 0 disables clipping. */
  maxGradNorm?: number;
  /** Parameters for which this returns false get no weight decay (biases, norms, embeddings' choice). */
  decay?: (p: Tensor) => boolean;
}

interface Slot {
  param: Tensor;
  offset: number; // in elements, 64-aligned (256 bytes: the storage binding offset alignment)
}

interface Arena {
  decay: boolean;
  elements: number;
  slots: Slot[];
  w: GPUBuffer;
  g: GPUBuffer;
  m: GPUBuffer;
  v: GPUBuffer;
}

const ALIGN = 64;
const SUMSQ_GROUPS = 64;

export class AdamW {
  readonly opts: Required<Omit<AdamWOptions, 'decay'>>;
  step = 0;
  private arenas: Arena[] = [];
  private partials: Tensor;
  /** The global gradient norm of the last step (before clipping), on the GPU. */
  readonly gradNorm: Tensor;

  constructor(readonly params: Tensor[], opts: AdamWOptions) {
    this.opts = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, maxGradNorm: 0, ...opts };
    const decayOf = opts.decay ?? ((p: Tensor) => p.rank >= 2);
    const names = new Set<string>();
    const seen = new Set<Tensor>();
    for (const p of params) {
      // One tensor in two slots would be copied onto itself into the arena.
      if (seen.has(p)) throw new Error(`AdamW: parameter ${p.name ?? `#${p.id}`} [${p.shape}] is given twice`);
      seen.add(p);
      if (p.dtype !== 'f32') throw new Error(`AdamW: parameter ${p.name ?? p.id} is ${p.dtype}; master weights must be f32`);
      if (p.name && names.has(p.name)) throw new Error(`AdamW: duplicate parameter name ${p.name}`);
      if (p.name) names.add(p.name);
    }
    const maxElems = Math.floor(rt().dev.limits.maxStorageBufferBindingSize / 4);
    for (const decay of [true, false]) {
      let cur: Slot[] = [];
      let used = 0;
      const close = () => {
        if (cur.length) this.arenas.push(this.buildArena(decay, cur, used));
        cur = [];
        used = 0;
      };
      for (const p of params.filter((q) => decayOf(q) === decay)) {
        const len = Math.ceil(p.size / ALIGN) * ALIGN;
        if (len > maxElems) throw new Error(`AdamW: parameter ${p.name ?? p.id} [${p.shape}] exceeds the device's max storage binding`);
        if (used + len > maxElems) close();
        cur.push({ param: p, offset: used });
        used += len;
      }
      close();
    }
    this.partials = emptyKept([Math.max(1, this.arenas.length) * SUMSQ_GROUPS]);
    this.gradNorm = emptyKept([1]);
    this.zeroGrad();
  }

  private buildArena(decay: boolean, slots: Slot[], elements: number): Arena {
    // From the tensor pool at their exact size, so the pool's stats and in-use cap cover the
    // optimizer's memory too (four arenas of the model's size: most of a training run's).
    const mk = (what: string) => rt().pool.acquireExact(Math.max(elements, 4) * 4, `adamw ${what}`);
    const arena: Arena = { decay, elements, slots, w: mk('weights'), g: mk('grads'), m: mk('m'), v: mk('v') };
    const r = rt();
    r.clear({ buffer: arena.m }, elements * 4);
    r.clear({ buffer: arena.v }, elements * 4);
    for (const s of slots) {
      const p = s.param;
      r.copy(p.binding(), { buffer: arena.w, offset: s.offset * 4 }, Math.ceil(p.byteLength / 4) * 4);
      p.moveTo(new Storage(arena.w, arena.w.size, false), s.offset * 4);
      if (p.grad) p.grad.dispose();
      p.grad = keep(external(arena.g, p.shape, 'f32', s.offset * 4));
      p.requiresGrad = true;
    }
    return arena;
  }

  /** The learning rate of the latest update (a schedule or a stage may differ from opts.lr). */
  lastLr: number | null = null;

  zeroGrad(): void {
    for (const a of this.arenas) {
      rt().clear({ buffer: a.g }, a.elements * 4);
      for (const s of a.slots) s.param.gradIsZero = true;
    }
  }

  /** Clips by the global norm and applies one AdamW update to every parameter. */
  update(lr = this.opts.lr): void {
    this.step++;
    this.lastLr = lr;
    const r = rt();
    const o = this.opts;
    this.arenas.forEach((a, i) => {
      r.dispatch(r.kernel('optim', {}, 'sumsq'), [{ buffer: a.g, size: a.elements * 4 }, this.partials.binding()],
        [a.elements, i * SUMSQ_GROUPS, 0, 0], [SUMSQ_GROUPS]);
    });
    r.dispatch(r.kernel('optim', {}, 'norm'), [this.partials.binding(), this.gradNorm.binding()], [this.arenas.length * SUMSQ_GROUPS, 0, 0, 0], [1]);
    const bc1 = 1 - o.beta1 ** this.step;
    const bc2 = 1 - o.beta2 ** this.step;
    for (const a of this.arenas) {
      launch1d('optim', {}, 'adamw',
        [{ buffer: a.w, size: a.elements * 4 }, { buffer: a.g, size: a.elements * 4 }, { buffer: a.m, size: a.elements * 4 }, { buffer: a.v, size: a.elements * 4 }, this.gradNorm.binding()],
        [a.elements, 0, 0, 0, f32(lr), f32(o.beta1), f32(o.beta2), f32(o.eps), f32(a.decay ? o.weightDecay : 0), f32(bc1), f32(bc2), f32(o.maxGradNorm)],
        a.elements);
    }
  }

  /** Resets the moments and the step count (the curriculum's optional per-stage reset). */
  resetState(): void {
    this.step = 0;
    for (const a of this.arenas) {
      rt().clear({ buffer: a.m }, a.elements * 4);
      rt().clear({ buffer: a.v }, a.elements * 4);
    }
  }

  /** Per-parameter moments, for checkpoints: {name: {m, v}}. */
  async exportState(): Promise<Map<Tensor, { m: Float32Array; v: Float32Array }>> {
    const out = new Map<Tensor, { m: Float32Array; v: Float32Array }>();
    for (const a of this.arenas) {
      const m = new Float32Array(await rt().read({ buffer: a.m }, a.elements * 4));
      const v = new Float32Array(await rt().read({ buffer: a.v }, a.elements * 4));
      for (const s of a.slots) out.set(s.param, { m: m.slice(s.offset, s.offset + s.param.size), v: v.slice(s.offset, s.offset + s.param.size) });
    }
    return out;
  }

  /** Restores the step count, the moments and (where known) the learning rate of the last update. */
  importState(step: number, state: Map<Tensor, { m: Float32Array; v: Float32Array }>, lastLr: number | null = null): void {
    this.step = step;
    this.lastLr = lastLr;
    // Uploads run before recorded-but-unsubmitted commands; submit those (e.g. the clears
    // from construction) first so they cannot overwrite what is loaded here.
    rt().flush();
    for (const a of this.arenas) {
      for (const s of a.slots) {
        const st = state.get(s.param);
        if (!st) throw new Error(`optimizer state lacks parameter ${s.param.name ?? s.param.id}`);
        if (st.m.length !== s.param.size || st.v.length !== s.param.size) throw new Error(`optimizer state for ${s.param.name} has the wrong size`);
        rt().upload(a.m, s.offset * 4, st.m);
        rt().upload(a.v, s.offset * 4, st.v);
      }
    }
  }

  /** Frees the arenas (the parameters become unusable). */
  destroy(): void {
    // Released to the pool, which parks them until the recorded work that may still use them
    // is submitted (the flush) and then destroys them (the GPU finishes what it has): a buffer
    // destroyed before that submit would void the whole batch.
    for (const a of this.arenas) for (const b of [a.w, a.g, a.m, a.v]) rt().pool.release(b);
    if (this.arenas.length) rt().flush();
    this.arenas = [];
    this.partials.dispose();
    this.gradNorm.dispose();
  }
}

function emptyKept(shape: number[]): Tensor {
  const buf = rt().pool.acquire(shape.reduce((a, b) => a * b, 1) * 4);
  return keep(new Tensor(shape, 'f32', new Storage(buf, buf.size, true)));
}
