// A small decoder-only language model over token ids: token + position embeddings, a causal
// block stack, a final LayerNorm and a head tied to the token embedding.
import * as E from '../engine/index.js';
import { Tensor, fromArray } from '../engine/tensor.js';
import { InitRng, LayerNorm, ParamSet } from './nn.js';
import { Block } from './transformer.js';

export interface GptConfig {
  vocab: number;
  dim: number;
  heads: number;
  layers: number;
  maxLen: number;
  mlpRatio?: number;
  seed?: number;
}

export class Gpt {
  readonly ps: ParamSet;
  readonly wte: Tensor;
  readonly wpe: Tensor;
  readonly blocks: Block[];
  readonly lnF: LayerNorm;

  constructor(readonly cfg: GptConfig) {
    this.ps = new ParamSet(new InitRng(cfg.seed ?? 1));
    this.wte = this.ps.add('wte.weight', [cfg.vocab, cfg.dim], 'normal', 0.02);
    this.wpe = this.ps.add('wpe.weight', [cfg.maxLen, cfg.dim], 'normal', 0.01);
    this.blocks = Array.from({ length: cfg.layers }, (_, i) =>
      new Block(this.ps, `h.${i}`, { dim: cfg.dim, heads: cfg.heads, mlpRatio: cfg.mlpRatio ?? 4 }, cfg.layers));
    this.lnF = new LayerNorm(this.ps, 'ln_f', cfg.dim);
  }

  /** ids: host array [B*T] -> logits [B, T, vocab]. */
  forward(ids: Int32Array, B: number, T: number): Tensor {
    if (T > this.cfg.maxLen) throw new Error(`sequence length ${T} exceeds maxLen ${this.cfg.maxLen}`);
    const pos = Int32Array.from({ length: B * T }, (_, i) => i % T);
    let x = E.add(E.embedding(this.wte, fromArray(ids, [B, T], 'i32')), E.embedding(this.wpe, fromArray(pos, [B, T], 'i32')));
    this.blocks.forEach((b, l) => (x = b.forward(x, l, { causal: true })));
    const h = this.lnF.forward(x);
    return E.matmul(h, this.wte, { transB: true });
  }
}
