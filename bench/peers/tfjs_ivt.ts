// The IVT-LR model's stage-0 training step written with TensorFlow.js (WebGPU backend), for
// `ivt bench train`: same architecture (vision encoder + projector, pre-norm GPT blocks with
// tanh-GELU, tied head), same weights (copied from the engine's parameters), same batch, same
// optimizer (Adam with global-norm clipping; weight decay off on both sides so the update
// rules coincide). Stage 0 on the engine is a prompt pass plus a suffix pass on the KV cache,
// which is one causal pass over the whole sequence: that is what this computes.
/* eslint-disable @typescript-eslint/no-explicit-any */
import type { IvtConfig } from '../../model/config.js';

type Tf = any;

export interface FlatBatch {
  B: number;
  T: number;
  J: number;
  patches: Float32Array; // [B, J, patchDim]
  tableIdx: Int32Array; // [B, T] into concat(image embeddings [B*J], vocabulary)
  positions: Int32Array; // [B, T]
  keyStart: Int32Array; // [B]
  labels: Int32Array; // [B, T], -1 = not supervised
}

export class TfjsIvt {
  private vars = new Map<string, any>();
  private opt: any;

  constructor(private tf: Tf, private cfg: IvtConfig, weights: Map<string, { shape: number[]; data: Float32Array }>, private o: { lr: number; clip: number }) {
    for (const [name, w] of weights) this.vars.set(name, tf.variable(tf.tensor(w.data, w.shape), true, `ivt/${name}`));
    this.opt = tf.train.adam(o.lr, 0.9, 0.999, 1e-8);
  }

  private v(name: string): any {
    const t = this.vars.get(name);
    if (!t) throw new Error(`tfjs peer: no parameter ${name}`);
    return t;
  }

  /** x [..., in] @ W^T + b, as a 2-D product (tfjs's batched matMul gradient mishandles a shared 2-D operand). */
  private linear(x: any, name: string): any {
    const tf = this.tf;
    const shape = x.shape;
    const x2 = tf.reshape(x, [-1, shape[shape.length - 1]]);
    const y = tf.add(tf.matMul(x2, this.v(`${name}.weight`), false, true), this.v(`${name}.bias`));
    return tf.reshape(y, [...shape.slice(0, -1), y.shape[1]]);
  }

  private layerNorm(x: any, name: string): any {
    const tf = this.tf;
    const { mean, variance } = tf.moments(x, -1, true);
    return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, 1e-5))), this.v(`${name}.weight`)), this.v(`${name}.bias`));
  }

  private gelu(x: any): any {
    const tf = this.tf;
    return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.tanh(tf.mul(tf.add(x, tf.mul(tf.pow(x, 3), 0.044715)), 0.7978845608028654))));
  }

  /** Rotary embedding of q or k [B, H, T, hd] ("rotate half" pairs), angles from cos/sin [B, 1, T, hd/2]. */
  private rotate(x: any, cos: any, sin: any): any {
    const tf = this.tf;
    const half = x.shape[3] / 2;
    const x1 = tf.slice(x, [0, 0, 0, 0], [-1, -1, -1, half]);
    const x2 = tf.slice(x, [0, 0, 0, half], [-1, -1, -1, half]);
    return tf.concat([tf.sub(tf.mul(x1, cos), tf.mul(x2, sin)), tf.add(tf.mul(x2, cos), tf.mul(x1, sin))], 3);
  }

  private ropeTables(positions: Int32Array, B: number, T: number, hd: number): { cos: any; sin: any } {
    const half = hd / 2;
    const c = new Float32Array(B * T * half), sn = new Float32Array(B * T * half);
    for (let r = 0; r < B * T; r++) for (let i = 0; i < half; i++) {
      const a = positions[r] * Math.pow(10000, (-2 * i) / hd);
      c[r * half + i] = Math.cos(a);
      sn[r * half + i] = Math.sin(a);
    }
    return { cos: this.tf.tensor(c, [B, 1, T, half]), sin: this.tf.tensor(sn, [B, 1, T, half]) };
  }

  private block(x: any, name: string, heads: number, mask: any, rope: { cos: any; sin: any } | null = null): any {
    const tf = this.tf;
    const [B, T, D] = x.shape;
    const hd = D / heads;
    const qkv = this.linear(this.layerNorm(x, `${name}.ln_1`), `${name}.attn.c_attn`);
    const split = (i: number) => tf.transpose(tf.reshape(tf.slice(qkv, [0, 0, i * D], [B, T, D]), [B, T, heads, hd]), [0, 2, 1, 3]);
    let q = split(0), k = split(1);
    const v = split(2);
    if (rope) {
      q = this.rotate(q, rope.cos, rope.sin);
      k = this.rotate(k, rope.cos, rope.sin);
    }
    let s = tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(hd));
    if (mask) s = tf.add(s, mask);
    const att = tf.reshape(tf.transpose(tf.matMul(tf.softmax(s), v), [0, 2, 1, 3]), [B, T, D]);
    const h = tf.add(x, this.linear(att, `${name}.attn.c_proj`));
    return tf.add(h, this.linear(this.gelu(this.linear(this.layerNorm(h, `${name}.ln_2`), `${name}.mlp.c_fc`)), `${name}.mlp.c_proj`));
  }

  private loss(b: FlatBatch): any {
    const tf = this.tf, c = this.cfg;
    const patchDim = c.patch * c.patch * 3;
    const G = c.imageSize / c.patch;
    const pos = tf.reshape(tf.add(tf.reshape(this.v('vision.pos_row'), [G, 1, c.visionDim]), tf.reshape(this.v('vision.pos_col'), [1, G, c.visionDim])), [b.J, c.visionDim]);
    let x = tf.add(this.linear(tf.tensor(b.patches, [b.B, b.J, patchDim]), 'vision.patch_embed'), pos);
    for (let l = 0; l < c.visionLayers; l++) x = this.block(x, `vision.blocks.${l}`, c.visionHeads, null);
    const lmPos = tf.reshape(tf.add(tf.reshape(this.v('projector.pos_row'), [G, 1, c.dim]), tf.reshape(this.v('projector.pos_col'), [1, G, c.dim])), [b.J, c.dim]);
    const img = tf.add(this.linear(this.gelu(this.linear(this.layerNorm(x, 'vision.ln'), 'projector.fc1')), 'projector.fc2'), lmPos);
    const table = tf.concat([tf.reshape(img, [b.B * b.J, c.dim]), this.v('lm.wte.weight')], 0);
    let h = tf.reshape(tf.gather(table, tf.tensor1d(b.tableIdx, 'int32')), [b.B, b.T, c.dim]);
    const rope = c.positions === 'rope' ? this.ropeTables(b.positions, b.B, b.T, c.dim / c.heads) : null;
    if (!rope) h = tf.add(h, tf.reshape(tf.gather(this.v('lm.wpe.weight'), tf.tensor1d(b.positions, 'int32')), [b.B, b.T, c.dim]));
    const m = new Float32Array(b.B * b.T * b.T);
    for (let bb = 0; bb < b.B; bb++) for (let i = 0; i < b.T; i++) for (let j = 0; j < b.T; j++) {
      if (j > i || j < b.keyStart[bb]) m[(bb * b.T + i) * b.T + j] = -1e9;
    }
    const mask = tf.tensor(m, [b.B, 1, b.T, b.T]);
    for (let l = 0; l < c.layers; l++) h = this.block(h, `lm.h.${l}`, c.heads, mask, rope);
    const logits = tf.matMul(tf.reshape(this.layerNorm(h, 'lm.ln_f'), [b.B * b.T, c.dim]), this.v('lm.wte.weight'), false, true);
    const valid = Float32Array.from(b.labels, (t) => (t >= 0 ? 1 : 0));
    const count = valid.reduce((a, x) => a + x, 0);
    const onehot = tf.oneHot(tf.tensor1d(Int32Array.from(b.labels, (t) => Math.max(t, 0)), 'int32'), c.vocab);
    const nll = tf.neg(tf.sum(tf.mul(tf.logSoftmax(logits), onehot), -1));
    return tf.div(tf.sum(tf.mul(nll, tf.tensor1d(valid))), Math.max(count, 1));
  }

  /** One optimizer step; resolves with the loss (read back, so the timing includes the GPU work). */
  async step(b: FlatBatch): Promise<number> {
    const tf = this.tf;
    const lossT = tf.tidy(() => {
      const { value, grads } = tf.variableGrads(() => this.loss(b));
      const names = Object.keys(grads);
      // A running sum, not tf.addN: its packed kernel binds every input at once and exceeds
      // the adapter's storage-buffer limit with this many parameters.
      const norm = tf.sqrt(names.reduce((acc: any, n) => tf.add(acc, tf.sum(tf.square(grads[n]))), tf.scalar(0)));
      const scale = tf.minimum(1, tf.div(this.o.clip, tf.add(norm, 1e-6)));
      const clipped: Record<string, any> = {};
      for (const n of names) clipped[n] = tf.mul(grads[n], scale);
      this.opt.applyGradients(clipped);
      return value;
    });
    const v = (await lossT.data())[0];
    lossT.dispose();
    return v;
  }

  dispose(): void {
    for (const t of this.vars.values()) t.dispose();
    this.opt.dispose();
  }
}
