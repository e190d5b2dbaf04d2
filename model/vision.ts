// Vision encoder: linear patch embedding + learned positions + bidirectional transformer
// blocks + LayerNorm, then a two-layer projector to the language model's width. Its output
// rows are the "image tokens" the language model reads and latent vision selects from.
import * as E from '../engine/index.js';
import { Tensor } from '../engine/tensor.js';
import { IvtConfig, imageTokens } from './config.js';
import { LayerNorm, Linear, ParamSet } from './nn.js';
import { Block } from './transformer.js';

export class VisionEncoder {
  readonly patchEmbed: Linear;
  readonly pos: Tensor;
  readonly blocks: Block[];
  readonly ln: LayerNorm;
  readonly proj1: Linear;
  readonly proj2: Linear;
  readonly tokens: number;
  readonly patchDim: number;

  constructor(ps: ParamSet, readonly cfg: IvtConfig) {
    this.tokens = imageTokens(cfg);
    this.patchDim = cfg.patch * cfg.patch * 3;
    this.patchEmbed = new Linear(ps, 'vision.patch_embed', this.patchDim, cfg.visionDim);
    this.pos = ps.add('vision.pos_embed', [this.tokens, cfg.visionDim], 'normal', 0.02);
    this.blocks = Array.from({ length: cfg.visionLayers }, (_, i) =>
      new Block(ps, `vision.blocks.${i}`, { dim: cfg.visionDim, heads: cfg.visionHeads, mlpRatio: cfg.mlpRatio }, cfg.visionLayers));
    this.ln = new LayerNorm(ps, 'vision.ln', cfg.visionDim);
    this.proj1 = new Linear(ps, 'projector.fc1', cfg.visionDim, cfg.dim);
    this.proj2 = new Linear(ps, 'projector.fc2', cfg.dim, cfg.dim);
  }

  /** patches: host [B * J * patchDim] -> image embeddings [B, J, dim]. */
  forward(patches: Float32Array, B: number): Tensor {
    const J = this.tokens;
    if (patches.length !== B * J * this.patchDim) throw new Error(`vision: ${patches.length} values for ${B} images of ${J} patches x ${this.patchDim}`);
    let x = E.add(this.patchEmbed.forward(E.fromArray(patches, [B, J, this.patchDim])), this.pos);
    this.blocks.forEach((b, l) => (x = b.forward(x, l, { causal: false })));
    return this.proj2.forward(E.gelu(this.proj1.forward(this.ln.forward(x))));
  }
}
