// A pre-norm transformer block (GPT-2 style: LayerNorm, multi-head attention, GELU MLP),
// used bidirectionally by the vision encoder and causally by the language model. Attention is
// the fused kernel; it reads the packed QKV projection directly when there is no cache.
import * as E from '../engine/index.js';
import { attention, attentionPacked } from '../engine/ops/attention.js';
import { Tensor } from '../engine/tensor.js';
import { KvCache } from './kv_cache.js';
import { LayerNorm, Linear, ParamSet } from './nn.js';

export interface BlockConfig {
  dim: number;
  heads: number;
  mlpRatio: number;
  /**
   * Start with the key projection equal to the query projection, so every head begins by
   * attending from a token to tokens like it (scores q.k = |Wx|^2-like similarities) rather than
   * at random. For lookups by matching content (a cell's name in the text against the image
   * token aligned with that name), the attention that makes them work then exists at step 0
   * instead of having to appear together with the path that uses it.
   */
  tiedQkInit?: boolean;
}

/** What one pass tells every block: masking, the cache, and the latent-vision accumulator. */
export interface PassContext {
  causal: boolean;
  /** i32 [B]: first real position per row (left padding). */
  keyStart?: Tensor | null;
  cache?: KvCache | null;
  /** Latent-vision scores (engine/ops/attention.ts AttentionOptions.accumulate); `terms`: layers x heads. */
  accumulate?: { acc: Tensor; row: number; imgStart: Tensor; terms?: number } | null;
  /** i32 [B, T]: positions of this pass's tokens, for rotary embeddings (absent: none). */
  rope?: Tensor | null;
}

export class Block {
  readonly ln1: LayerNorm;
  readonly qkv: Linear;
  readonly proj: Linear;
  readonly ln2: LayerNorm;
  readonly fc: Linear;
  readonly out: Linear;

  constructor(ps: ParamSet, name: string, readonly cfg: BlockConfig, layers: number) {
    const d = cfg.dim;
    if (d % cfg.heads !== 0) throw new Error(`dim ${d} is not divisible by ${cfg.heads} heads`);
    this.ln1 = new LayerNorm(ps, `${name}.ln_1`, d);
    // Weight rows [0, d) project queries, [d, 2d) keys, [2d, 3d) values.
    this.qkv = new Linear(ps, `${name}.attn.c_attn`, d, 3 * d, cfg.tiedQkInit ? { edit: (w) => w.copyWithin(d * d, 0, d * d) } : {});
    // Residual projections scaled down with depth (as GPT-2 does), from a 1/sqrt(fan-in) base.
    this.proj = new Linear(ps, `${name}.attn.c_proj`, d, d, { std: 1 / Math.sqrt(d * 2 * layers) });
    this.ln2 = new LayerNorm(ps, `${name}.ln_2`, d);
    this.fc = new Linear(ps, `${name}.mlp.c_fc`, d, cfg.mlpRatio * d);
    this.out = new Linear(ps, `${name}.mlp.c_proj`, cfg.mlpRatio * d, d, { std: 1 / Math.sqrt(cfg.mlpRatio * d * 2 * layers) });
  }

  /** x: [B, T, D] -> [B, T, D]. */
  forward(x: Tensor, layer: number, ctx: PassContext): Tensor {
    const D = this.cfg.dim, H = this.cfg.heads;
    let qkv = this.qkv.forward(this.ln1.forward(x)); // [B, T, 3D]
    // Keys are rotated before they enter the cache, so cached keys keep their own positions.
    if (ctx.rope) qkv = E.rope(qkv, ctx.rope, { heads: H });
    const opts = { heads: H, causal: ctx.causal, keyStart: ctx.keyStart, accumulate: ctx.accumulate };
    let att: Tensor;
    if (!ctx.cache) {
      att = attentionPacked(qkv, opts);
    } else {
      const T = x.shape[1];
      const q = E.slice(qkv, 2, 0, D);
      const cached = ctx.cache.append(layer, E.slice(qkv, 2, D, 2 * D), E.slice(qkv, 2, 2 * D, 3 * D));
      att = attention(q, cached.k, cached.v, { ...opts, kvLen: cached.len, qPos0: cached.len - T });
    }
    const h = E.add(x, this.proj.forward(att));
    return E.add(h, this.out.forward(E.gelu(this.fc.forward(this.ln2.forward(h)))));
  }
}
