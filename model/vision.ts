// Vision encoder: linear patch embedding + learned (row + column) positions + bidirectional transformer
// blocks + LayerNorm, then a two-layer projector to the language model's width. Its output
// rows are the "image tokens" the language model reads and latent vision selects from.
import * as E from '../engine/index.js';
import { Tensor } from '../engine/tensor.js';
import { IvtConfig, imageTokens } from './config.js';
import { LayerNorm, Linear, ParamSet } from './nn.js';
import { Block } from './transformer.js';

export class VisionEncoder {
  readonly patchEmbed: Linear;
  /** Learned position of an image token = its row's vector + its column's vector. */
  readonly posRow: Tensor;
  readonly posCol: Tensor;
  readonly side: number;
  readonly blocks: Block[];
  readonly ln: LayerNorm;
  readonly proj1: Linear;
  readonly proj2: Linear;
  /** Row and column embeddings added to the projector output: 2-D positions in the LM's space. */
  readonly lmRow: Tensor;
  readonly lmCol: Tensor;
  readonly tokens: number;
  readonly patchDim: number;

  constructor(ps: ParamSet, readonly cfg: IvtConfig) {
    this.tokens = imageTokens(cfg);
    this.patchDim = cfg.patch * cfg.patch * 3;
    // Scales chosen so that content and position arrive at the same size. With GPT-2's 0.02
    // everywhere, a patch's white background dominates the embedding and the positions are 2%
    // of it: every image token looks alike, and the language model cannot tell row 2 from row 3.
    this.patchEmbed = new Linear(ps, 'vision.patch_embed', this.patchDim, cfg.visionDim, { std: 1 / Math.sqrt(this.patchDim) });
    // Factorised 2-D positions: what the model learns about "row 2" holds in every column, so
    // looking a cell up by its coordinates is one match on rows plus one on columns instead of
    // sixteen separate patterns (a 1-D table learns each cell on its own).
    this.side = cfg.imageSize / cfg.patch;
    this.posRow = ps.add('vision.pos_row', [this.side, cfg.visionDim], 'normal', 0.5);
    this.posCol = ps.add('vision.pos_col', [this.side, cfg.visionDim], 'normal', 0.5);
    this.blocks = Array.from({ length: cfg.visionLayers }, (_, i) =>
      new Block(ps, `vision.blocks.${i}`, { dim: cfg.visionDim, heads: cfg.visionHeads, mlpRatio: cfg.mlpRatio }, cfg.visionLayers));
    this.ln = new LayerNorm(ps, 'vision.ln', cfg.visionDim);
    this.proj1 = new Linear(ps, 'projector.fc1', cfg.visionDim, cfg.dim, { std: 1 / Math.sqrt(cfg.visionDim) });
    // Output at the scale of the word embeddings (0.02), which it sits beside in the sequence.
    this.proj2 = new Linear(ps, 'projector.fc2', cfg.dim, cfg.dim, { std: 0.02 });
    // The language model also gets each image token's row and column directly (as Qwen2-VL's
    // M-RoPE gives image tokens 2-D positions): with rotary 1-D positions in the language
    // model, where a token sits in the sequence says nothing about where it sits in the image.
    this.lmRow = ps.add('projector.pos_row', [this.side, cfg.dim], 'normal', 0.02);
    this.lmCol = ps.add('projector.pos_col', [this.side, cfg.dim], 'normal', 0.02);
  }

  /** patches: host [B * J * patchDim] -> image embeddings [B, J, dim]. */
  forward(patches: Float32Array, B: number): Tensor {
    const J = this.tokens;
    if (patches.length !== B * J * this.patchDim) throw new Error(`vision: ${patches.length} values for ${B} images of ${J} patches x ${this.patchDim}`);
    let x = E.add(this.patchEmbed.forward(E.fromArray(patches, [B, J, this.patchDim])), gridPositions(this.posRow, this.posCol));
    this.blocks.forEach((b, l) => (x = b.forward(x, l, { causal: false })));
    return E.add(this.proj2.forward(E.gelu(this.proj1.forward(this.ln.forward(x)))), gridPositions(this.lmRow, this.lmCol));
  }
}

/** Positions of a G x G grid of tokens in raster order: row[r] + col[c], [G * G, D]. */
function gridPositions(row: Tensor, col: Tensor): Tensor {
  const [G, D] = row.shape;
  return E.reshape(E.add(E.reshape(row, [G, 1, D]), E.reshape(col, [1, G, D])), [G * G, D]);
}
