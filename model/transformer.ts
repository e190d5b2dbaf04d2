// A pre-norm transformer block stack (GPT-2 style: LayerNorm, multi-head attention, GELU MLP),
// used bidirectionally by the vision encoder and causally by the language model.
// Attention here is the composite (matmul, mask, softmax, matmul); it operates on input
// embeddings, not ids, because latent reasoning feeds hidden states back in as inputs.
import * as E from '../engine/index.js';
import { Tensor, fromArray } from '../engine/tensor.js';
import { LayerNorm, Linear, ParamSet } from './nn.js';

export interface BlockConfig {
  dim: number;
  heads: number;
  mlpRatio: number;
  dropout: number;
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
    this.qkv = new Linear(ps, `${name}.attn.c_attn`, d, 3 * d);
    // Residual projections scaled down with depth (GPT-2's initialisation).
    this.proj = new Linear(ps, `${name}.attn.c_proj`, d, d, { std: 0.02 / Math.sqrt(2 * layers) });
    this.ln2 = new LayerNorm(ps, `${name}.ln_2`, d);
    this.fc = new Linear(ps, `${name}.mlp.c_fc`, d, cfg.mlpRatio * d);
    this.out = new Linear(ps, `${name}.mlp.c_proj`, cfg.mlpRatio * d, d, { std: 0.02 / Math.sqrt(2 * layers) });
  }

  /** x: [B, T, D]; mask: additive [T, T] or [B, 1, T, T] (0 or -1e9), or null. */
  forward(x: Tensor, mask: Tensor | null): Tensor {
    const [B, T, D] = x.shape;
    const H = this.cfg.heads, hd = D / H;
    const qkv = this.qkv.forward(this.ln1.forward(x)); // [B, T, 3D]
    const heads = E.permute(E.reshape(qkv, [B, T, 3, H, hd]), [2, 0, 3, 1, 4]); // [3, B, H, T, hd]
    const q = E.reshape(E.slice(heads, 0, 0, 1), [B, H, T, hd]);
    const k = E.reshape(E.slice(heads, 0, 1, 2), [B, H, T, hd]);
    const v = E.reshape(E.slice(heads, 0, 2, 3), [B, H, T, hd]);
    let scores = E.mulScalar(E.matmul(q, k, { transB: true }), 1 / Math.sqrt(hd)); // [B, H, T, T]
    if (mask) scores = E.add(scores, mask);
    const att = E.matmul(E.softmax(scores), v); // [B, H, T, hd]
    const merged = E.reshape(E.permute(att, [0, 2, 1, 3]), [B, T, D]);
    const h = E.add(x, this.proj.forward(merged));
    return E.add(h, this.out.forward(E.gelu(this.fc.forward(this.ln2.forward(h)))));
  }
}

/** Additive causal mask [T, T]: 0 on and below the diagonal, -1e9 above. */
export function causalMask(T: number): Tensor {
  const m = new Float32Array(T * T);
  for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) m[i * T + j] = -1e9;
  return fromArray(m, [T, T]);
}
