// IVT-LR: a vision-language model that reasons in latent space (METHOD.md).
//
// Sequence layout, per row (rows left-padded so every row's prompt ends at the same column):
//   [pad..] [J image embeddings] [question + options]  V1(k) h1  V2(k) h2 ..  [explicit suffix]
// Latent step i, exactly as METHOD.md's "Latent step i":
//   1. run the model over the prefix ending just before slot i (incrementally: only the new
//      positions, on the KV cache);
//   2. h_i = last-layer hidden state (after the final norm) at the last prefix position;
//   3. the selection scores are that position's attention probabilities onto the image keys,
//      summed over all layers and heads (accumulated inside the attention kernel);
//   4. image tokens chosen at earlier steps are excluded, the top-k taken;
//   5. those k input-level image embeddings are inserted, then h_i.
// Gradients flow through the whole latent chain unless `detach` is set (the reference code's
// variant). Ablations replace h_i by a learned placeholder, or insert no image embeddings.
import * as E from '../engine/index.js';
import { fromArray, Tensor } from '../engine/tensor.js';
import { fillRaw } from '../engine/ops/elementwise.js';
import { IvtConfig, imageTokens } from './config.js';
import { KvCache } from './kv_cache.js';
import { selectLatentVision } from './latent_vision.js';
import { InitRng, LayerNorm, Linear, ParamSet } from './nn.js';
import { Block, PassContext } from './transformer.js';
import { VisionEncoder } from './vision.js';

export interface Sample {
  /** [J * patchDim] normalised patches of the image. */
  patches: Float32Array;
  /** Question and options, tokenised. */
  prompt: number[];
  /** Reasoning steps, tokenised, each ending with a newline. */
  steps: number[][];
  /** "Therefore, the answer is X" tokenised, followed by EOS. */
  answer: number[];
  answerIndex: number;
  /**
   * Words each image token should mean, for the alignment objective (see alignmentLoss):
   * [J * IMAGE_WORDS] token ids, token j's at j * IMAGE_WORDS, -1 where there is none.
   */
  imageWords?: Int32Array;
  /** A caption (grounding practice): its text is supervised in full in every mode, no-CoT included. */
  caption?: boolean;
}

/** Target words per image token in Sample.imageWords (a cell's name, its object's colour and shape). */
export const IMAGE_WORDS = 3;

export interface LatentOptions {
  /** Feed h_i back (true) or a learned placeholder (the "without latent text" ablation). */
  latentText: boolean;
  /** Insert the k selected image embeddings (false: the "without latent vision" ablation). */
  latentVision: boolean;
  /** Stop gradients at h_i (the reference code's behaviour). */
  detach: boolean;
  /**
   * A control for the selection: insert k image tokens drawn at random (fixed per problem,
   * model/latent_vision.ts) instead of the k the model attends to most.
   */
  randomVision?: boolean;
}

export const FULL_LATENT: LatentOptions = { latentText: true, latentVision: true, detach: false };


export class IvtModel {
  readonly ps: ParamSet;
  readonly vision: VisionEncoder;
  readonly wte: Tensor;
  /** Learned position table (config positions 'learned'); null with rotary positions. */
  readonly wpe: Tensor | null;
  readonly blocks: Block[];
  readonly lnF: LayerNorm;
  /** Learned per-dimension scale of the recycled hidden state (its norm is far above a token embedding's). */
  readonly latentScale: Tensor;
  /** The "without latent text" ablation's learned stand-in for h_i. */
  readonly latentPlaceholder: Tensor;
  /**
   * Adaptive latent steps (cfg.adaptiveLatents): reads the prompt's last hidden state and scores
   * each latent step count 0..N; null otherwise. Made after every other parameter, so the
   * initial values of the rest do not depend on it.
   */
  readonly countHead: Linear | null;
  readonly J: number;

  constructor(readonly cfg: IvtConfig, readonly padId: number) {
    this.ps = new ParamSet(new InitRng(cfg.seed));
    this.vision = new VisionEncoder(this.ps, cfg);
    this.wte = this.ps.add('lm.wte.weight', [cfg.vocab, cfg.dim], 'normal', 0.02);
    this.wpe = cfg.positions === 'rope' ? null : this.ps.add('lm.wpe.weight', [cfg.maxLen, cfg.dim], 'normal', 0.1);
    this.blocks = Array.from({ length: cfg.layers }, (_, i) =>
      new Block(this.ps, `lm.h.${i}`, { dim: cfg.dim, heads: cfg.heads, mlpRatio: cfg.mlpRatio, tiedQkInit: cfg.tiedQkInit ?? false }, cfg.layers));
    this.lnF = new LayerNorm(this.ps, 'lm.ln_f', cfg.dim);
    this.latentScale = this.ps.add('latent.scale', [cfg.dim], 0.1);
    this.latentPlaceholder = this.ps.add('latent.placeholder', [1, 1, cfg.dim], 'normal', 0.02);
    this.countHead = cfg.adaptiveLatents ? new Linear(this.ps, 'latent.count', cfg.dim, cfg.latentSteps + 1, { std: 0.02 }) : null;
    this.J = imageTokens(cfg);
  }

  /** Runs the language model over input embeddings x [B, T, D] at the given positions; returns hidden states after the final norm. */
  pass(x: Tensor, positions: Int32Array, ctx: PassContext): Tensor {
    const [B, T] = x.shape;
    for (const p of positions) if (p >= this.cfg.maxLen) throw new Error(`position ${p} exceeds the model's maxLen ${this.cfg.maxLen}`);
    const pos = fromArray(positions, [B, T], 'i32');
    let h = this.wpe ? E.add(x, E.embedding(this.wpe, pos)) : x;
    // Every layer's every head adds into the one accumulator: its unit must leave room for all.
    const accumulate = ctx.accumulate ? { ...ctx.accumulate, terms: this.cfg.layers * this.cfg.heads } : ctx.accumulate;
    const c = this.wpe ? { ...ctx, accumulate } : { ...ctx, accumulate, rope: pos };
    this.blocks.forEach((b, l) => (h = b.forward(h, l, c)));
    return this.lnF.forward(h);
  }

  logits(hidden: Tensor): Tensor {
    return E.matmul(hidden, this.wte, { transB: true });
  }

  /**
   * Builds the left-padded prompt: image embeddings then prompt tokens. Returns the input
   * embeddings [B, Tp, D], per-row pad counts, and positions.
   */
  prompt(samples: Sample[], imgFlat: Tensor, withImage = true, suffix?: Suffix): { x: Tensor; pad: Int32Array; positions: Int32Array; Tp: number } {
    const B = samples.length, J = withImage ? this.J : 0;
    const lens = samples.map((s) => J + s.prompt.length);
    const Tp = Math.max(...lens);
    const pad = Int32Array.from(lens, (l) => Tp - l);
    // Teacher-forced tokens after the prompt, when the caller runs prompt and text in one pass.
    const S = suffix?.len ?? 0, T = Tp + S;
    // One lookup table: rows [0, B*J) are image embeddings, then the vocabulary. Indices are
    // host-known, so the embedding backward is the deterministic CSR scatter.
    const idx = new Int32Array(B * T);
    const positions = new Int32Array(B * T);
    const base = withImage ? B * this.J : 0;
    samples.forEach((s, b) => {
      for (let t = 0; t < Tp; t++) {
        const rel = t - pad[b];
        positions[b * T + t] = Math.max(rel, 0);
        if (rel < 0) idx[b * T + t] = base + this.padId;
        else if (rel < J) idx[b * T + t] = b * this.J + rel;
        else idx[b * T + t] = base + s.prompt[rel - J];
      }
      for (let t = 0; t < S; t++) {
        idx[b * T + Tp + t] = base + suffix!.ids[b * S + t];
        positions[b * T + Tp + t] = suffix!.pos[b * S + t];
      }
    });
    const table = withImage ? E.concat([imgFlat, this.wte], 0) : this.wte;
    const x = E.reshape(E.embedding(table, fromArray(idx, [B * T], 'i32')), [B, T, this.cfg.dim]);
    return { x, pad, positions, Tp };
  }

  /**
   * The latent prefix: prompt pass, then `steps` latent steps, all on `cache`. Returns the
   * hidden state of the last position (which predicts the next token) and the next position;
   * per latent step the image tokens inserted (`selections`, i32 [B, k] of indices b * J + j),
   * the selection scores they were chosen by (`scores`, i32 [B, J] in 2^-24 units; none with
   * random latent vision), and the recycled state.
   *
   * `draft` (inference only): token ids run in the last latent step's pass, after its slot, so
   * a fixed continuation (the answer line's template) is verified without a pass of its own.
   * Their hidden states come back as `draftHidden` [B, L, D]; their keys and values are written
   * to the cache beyond its length, which is not advanced over them: the caller advances it if
   * it accepts the draft, and otherwise the next pass overwrites them.
   */
  latentPrefix(samples: Sample[], steps: number, lo: LatentOptions, cache: KvCache, draft?: number[]): LatentPrefix {
    return this.latentSteps(this.promptPrefix(samples, steps, lo, cache), steps, lo, cache, draft);
  }

  /**
   * The count head's choice of latent steps for each row, at most `maxSteps`, from the prompt
   * pass's last hidden state: one small readback between the prompt pass and the first latent
   * step, no pass of its own (cfg.adaptiveLatents).
   */
  async chooseLatentCounts(promptLast: Tensor, maxSteps: number): Promise<number[]> {
    const scores = (await this.countLogits(promptLast).toArray()) as Float32Array;
    const n = this.cfg.latentSteps + 1;
    return Array.from({ length: promptLast.shape[0] }, (_, b) => {
      let best = 0;
      for (let c = 1; c < n; c++) if (scores[b * n + c]! > scores[b * n + best]!) best = c;
      return Math.min(best, maxSteps);
    });
  }

  /**
   * The rows `rows` of a prompt pass (in that order), as if they had been run alone: their image
   * tokens, padding, first selection scores, last hidden state and next positions. With
   * KvCache.selectRows, a batch whose rows chose different latent counts goes on in groups.
   */
  async subsetPrefix(start: PrefixStart, rows: number[]): Promise<PrefixStart> {
    const J = this.J, D = this.cfg.dim, B = start.samples.length;
    const imgRows = fromArray(Int32Array.from(rows.flatMap((b) => Array.from({ length: J }, (_, j) => b * J + j))), [rows.length * J], 'i32');
    const pad = start.keyStart.hostData ?? (await start.keyStart.toArray());
    let acc: Tensor | null = null;
    if (start.acc) {
      // i32 scores: read back and re-uploaded (small: [B, J]) rather than gathered as floats.
      const all = (await start.acc.toArray()) as Int32Array;
      acc = fromArray(Int32Array.from(rows.flatMap((b) => Array.from(all.subarray(b * J, (b + 1) * J)))), [rows.length, J], 'i32');
    }
    const lastRows = E.gatherRows(E.reshape(start.last, [B, D]), fromArray(Int32Array.from(rows), [rows.length], 'i32'));
    return {
      samples: rows.map((b) => start.samples[b]!),
      imgFlat: E.gatherRows(start.imgFlat, imgRows),
      keyStart: fromArray(Int32Array.from(rows, (b) => pad[b]!), [rows.length], 'i32'),
      acc,
      needScores: start.needScores,
      last: E.reshape(lastRows, [rows.length, 1, D]),
      nextPos: Int32Array.from(rows, (b) => start.nextPos[b]!),
    };
  }

  /**
   * The prompt pass of a latent prefix, with the first latent step's selection scores
   * accumulated where up to `maxSteps` latent steps may follow.
   */
  promptPrefix(samples: Sample[], maxSteps: number, lo: LatentOptions, cache: KvCache): PrefixStart {
    const B = samples.length, J = this.J, D = this.cfg.dim;
    const img = this.vision.forward(concatPatches(samples), B);
    const imgFlat = E.reshape(img, [B * J, D]);
    const { x, pad, positions, Tp } = this.prompt(samples, imgFlat);
    const keyStart = fromArray(pad, [B], 'i32');
    const needScores = maxSteps > 0 && lo.latentVision && !lo.randomVision;
    const acc = needScores ? fillRaw(E.empty([B, J], 'i32'), 0) : null;
    const h = this.pass(x, positions, { causal: true, keyStart, cache, accumulate: acc ? { acc, row: Tp - 1, imgStart: keyStart } : null });
    cache.advance(Tp);
    const last = E.slice(h, 1, Tp - 1, Tp);
    return { samples, imgFlat, keyStart, acc, needScores, last, nextPos: Int32Array.from(pad, (p) => Tp - p) };
  }

  /** `steps` latent steps after promptPrefix (see latentPrefix). */
  latentSteps(start: PrefixStart, steps: number, lo: LatentOptions, cache: KvCache, draft?: number[]): LatentPrefix {
    const { samples, imgFlat, keyStart, needScores, nextPos } = start;
    const B = samples.length, J = this.J, k = this.cfg.topK, D = this.cfg.dim;
    let acc = start.acc;
    let last = start.last;
    const promptLast = last;
    const chosen = needScores ? fillRaw(E.empty([B, J], 'u32'), 0) : null;
    const selections: Tensor[] = [];
    // Each step's selection scores (i32 [B, J], 2^-24 units), kept for diagnosis: where the
    // position before the slot attended, before earlier choices are excluded.
    const scores: Tensor[] = [];
    // Each step's recycled hidden state and the latent input made from it (for diagnosis: METHOD.md
    // asks for the recycled state's norm beside a token embedding's).
    const recycled: { hidden: Tensor; input: Tensor }[] = [];
    let draftHidden: Tensor | undefined;
    for (let i = 0; i < steps; i++) {
      const parts: Tensor[] = [];
      if (lo.latentVision) {
        const sel = selectLatentVision(samples, J, k, i, lo.randomVision ?? false, acc, chosen);
        selections.push(sel);
        if (acc) scores.push(acc);
        parts.push(E.reshape(E.gatherRows(imgFlat, E.reshape(sel, [B * k])), [B, k, D]));
      }
      const input = lo.latentText
        ? E.mul(lo.detach ? E.noGrad(() => E.clone(last)) : last, this.latentScale)
        : E.add(E.zeros([B, 1, D]), this.latentPlaceholder);
      parts.push(input);
      recycled.push({ hidden: last, input });
      const Ti = parts.reduce((a, p) => a + p.shape[1], 0);
      const L = draft && i === steps - 1 ? draft.length : 0;
      if (L > 0) parts.push(E.reshape(E.embedding(this.wte, fromArray(Int32Array.from({ length: B * L }, (_, j) => draft![j % L]!), [B * L], 'i32')), [B, L, D]));
      const xi = parts.length > 1 ? E.concat(parts, 1) : parts[0];
      const pos = new Int32Array(B * (Ti + L));
      for (let b = 0; b < B; b++) for (let t = 0; t < Ti + L; t++) pos[b * (Ti + L) + t] = nextPos[b] + t;
      acc = needScores && i + 1 < steps ? fillRaw(E.empty([B, J], 'i32'), 0) : null;
      const h = this.pass(xi, pos, { causal: true, keyStart, cache, accumulate: acc ? { acc, row: Ti - 1, imgStart: keyStart } : null });
      cache.advance(Ti);
      last = E.slice(h, 1, Ti - 1, Ti);
      if (L > 0) draftHidden = E.slice(h, 1, Ti, Ti + L);
      for (let b = 0; b < B; b++) nextPos[b] += Ti;
    }
    return { last, nextPos, keyStart, selections, scores, images: imgFlat, draftHidden, recycled, promptLast };
  }

  /**
   * Training loss for stage `stage` (stage 0: full explicit CoT). With `answerOnly`, the
   * target is just the answer line (the no-CoT model).
   */
  loss(samples: Sample[], stage: number, lo: LatentOptions, answerOnly = false): Tensor {
    return this.lossParts(samples, stage, lo, answerOnly, 0).total;
  }

  /**
   * The training loss and its parts: the language-model loss of stage `stage`, plus
   * `alignWeight` times the alignment loss where the samples carry image words.
   */
  lossParts(samples: Sample[], stage: number, lo: LatentOptions, answerOnly: boolean, alignWeight: number): { total: Tensor; lm: Tensor; align: Tensor | null; count: Tensor | null } {
    const { logits, labels, images, promptLast } = this.supervisedLogits(samples, stage, lo, answerOnly);
    const lm = E.crossEntropy(logits, labels);
    const align = alignWeight > 0 ? this.alignmentLoss(images, samples) : null;
    const count = answerOnly || !promptLast ? null : this.countLoss(promptLast, samples);
    let total = align ? E.add(lm, E.mulScalar(align, alignWeight)) : lm;
    if (count) total = E.add(total, count);
    return { total, lm, align, count };
  }

  /**
   * Adaptive latent steps: the count head's scores [B, N + 1] for 0..N latent steps, from the
   * prompt's last hidden state (the position before the first latent slot), so the count is
   * known after the prompt pass, before any latent step.
   */
  countLogits(promptLast: Tensor): Tensor {
    if (!this.countHead) throw new Error('countLogits: the model has no count head (config adaptiveLatents)');
    const [B, , D] = promptLast.shape;
    return this.countHead.forward(E.reshape(promptLast, [B, D]));
  }

  /**
   * The count head's cross-entropy against each problem's count, its reasoning steps up to N
   * (the latent steps the last stage gives it: one per step); trained at every stage, so the
   * head is ready when the latent stages use it. Null without a count head or where no sample
   * has steps (captions have none).
   */
  countLoss(promptLast: Tensor, samples: Sample[]): Tensor | null {
    if (!this.countHead) return null;
    const N = this.cfg.latentSteps;
    const target = Int32Array.from(samples, (s) => (s.caption ? -1 : Math.min(N, s.steps.length)));
    if (!target.some((t) => t >= 0)) return null;
    return E.crossEntropy(this.countLogits(promptLast), fromArray(target, [samples.length], 'i32'));
  }

  /**
   * Alignment objective: each image token, read through the language model's own output
   * embedding (tied with the input one), should predict the words that describe its cell.
   * Mean over the IMAGE_WORDS target slots of the cross-entropy of the image tokens' logits
   * (slots without a word are ignored); with three words per token the floor is ln 3.
   *
   * Why: trained from scratch, the image tokens reach the language model as a constant vector
   * plus a small image-dependent part (the image-dependent share falls from 20% at
   * initialisation to 0.1% within 500 steps: while the language model cannot use the picture
   * yet, the shared part is the only one that lowers its loss) and the model then never learns
   * to look. The paper starts from a pretrained vision-language model whose image tokens
   * already mean something in the language model's space; this loss is the from-scratch
   * stand-in, where the data says what each patch shows (the synthetic scenes). It also makes
   * "cell ten" and the image token of cell ten the same word, so looking a cell up is matching
   * a token with itself. Null when no sample has image words.
   */
  alignmentLoss(images: Tensor, samples: Sample[]): Tensor | null {
    if (!samples.some((s) => s.imageWords)) return null;
    const B = samples.length, J = this.J;
    const logits = this.logits(images);
    let sum: Tensor | null = null, slots = 0;
    for (let k = 0; k < IMAGE_WORDS; k++) {
      const t = new Int32Array(B * J).fill(-1);
      samples.forEach((s, b) => {
        if (!s.imageWords) return;
        if (s.imageWords.length !== J * IMAGE_WORDS) throw new Error(`sample ${b}: ${s.imageWords.length} image words, expected ${J * IMAGE_WORDS}`);
        for (let j = 0; j < J; j++) t[b * J + j] = s.imageWords[j * IMAGE_WORDS + k]!;
      });
      if (!t.some((v) => v >= 0)) continue;
      const ce = E.crossEntropy(logits, fromArray(t, [B * J], 'i32'));
      sum = sum ? E.add(sum, ce) : ce;
      slots++;
    }
    return sum && slots > 1 ? E.mulScalar(sum, 1 / slots) : sum;
  }

  /**
   * Teacher-forced logits [B, Ts, V] for the supervised suffix of stage `stage` (remaining
   * explicit steps, then the answer) and their labels (i32 [B * Ts], -1 = padding).
   */
  supervisedLogits(samples: Sample[], stage: number, lo: LatentOptions, answerOnly = false, viaCache = false): { logits: Tensor; labels: Tensor; images: Tensor; promptLast: Tensor | null } {
    const B = samples.length;
    const latentSteps = answerOnly ? 0 : stage;
    const suffixes = samples.map((s) => (answerOnly && !s.caption ? s.answer : [...s.steps.slice(stage).flat(), ...s.answer]));
    // Without latent steps the prompt and the text are one causal sequence: one pass over both,
    // with q, k and v read in place from the packed projection. The cached route (prompt pass,
    // then a text pass on a graph KV cache) computes the same logits with two passes, copies
    // of q, k and v, and cache concatenations, so it is kept for latent stages only.
    if (latentSteps === 0 && !viaCache) return this.singlePassLogits(samples, suffixes);
    const cache = new KvCache(this.cfg.layers, 'graph', B, this.cfg.dim);
    const { last, nextPos, keyStart, images, promptLast } = this.latentPrefix(samples, latentSteps, lo, cache);
    const Ts = Math.max(...suffixes.map((s) => s.length));
    const { labels, inIds, inPos } = this.teacherForcing(suffixes, Ts, nextPos);
    // The predictions come from the last prefix position followed by the inputs.
    let predictors = last;
    if (Ts > 1) {
      const xs = E.reshape(E.embedding(this.wte, fromArray(inIds, [B * (Ts - 1)], 'i32')), [B, Ts - 1, this.cfg.dim]);
      const h = this.pass(xs, inPos, { causal: true, keyStart, cache });
      predictors = E.concat([last, h], 1);
    }
    const logits = this.logits(predictors);
    cache.dispose();
    return { logits, labels: fromArray(labels, [B * Ts], 'i32'), images, promptLast };
  }

  /** supervisedLogits without latent steps: image, prompt and teacher-forced text in one pass. */
  private singlePassLogits(samples: Sample[], suffixes: number[][]): { logits: Tensor; labels: Tensor; images: Tensor; promptLast: Tensor | null } {
    const B = samples.length, J = this.J, D = this.cfg.dim;
    const Ts = Math.max(...suffixes.map((s) => s.length));
    const promptLens = samples.map((s) => J + s.prompt.length);
    const Tp = Math.max(...promptLens);
    const { labels, inIds, inPos } = this.teacherForcing(suffixes, Ts, Int32Array.from(promptLens));
    const S = Ts - 1;
    const img = this.vision.forward(concatPatches(samples), B);
    const images = E.reshape(img, [B * J, D]);
    const { x, pad, positions } = this.prompt(samples, images, true, { ids: inIds, pos: inPos, len: S });
    const h = this.pass(x, positions, { causal: true, keyStart: fromArray(pad, [B], 'i32') });
    const predictors = E.slice(h, 1, Tp - 1, Tp - 1 + Ts);
    return { logits: this.logits(predictors), labels: fromArray(labels, [B * Ts], 'i32'), images, promptLast: this.countHead ? E.slice(h, 1, Tp - 1, Tp) : null };
  }

  /**
   * Labels [B * Ts] (-1: padding) of the supervised suffixes, whose rows start at positions
   * `start`, and the teacher-forced inputs [B * (Ts - 1)]: each row's suffix tokens but the
   * last, with their positions (the position before a row's suffix predicts its first token). Padding after a short suffix continues the positions,
   * clamped to the table: a row with a long prompt and a short suffix, batched with a row with
   * a long suffix, would otherwise run past maxLen on tokens that are never supervised (and,
   * being last, never attended to).
   */
  private teacherForcing(suffixes: number[][], Ts: number, start: Int32Array): { labels: Int32Array; inIds: Int32Array; inPos: Int32Array } {
    const B = suffixes.length;
    const ids = new Int32Array(B * Ts).fill(this.padId);
    const labels = new Int32Array(B * Ts).fill(-1);
    const pos = new Int32Array(B * Ts);
    suffixes.forEach((s, b) => {
      s.forEach((tok, t) => {
        ids[b * Ts + t] = tok;
        labels[b * Ts + t] = tok;
      });
      for (let t = 0; t < Ts; t++) pos[b * Ts + t] = t < s.length ? start[b] + t : Math.min(start[b] + t, this.cfg.maxLen - 1);
    });
    const S = Math.max(Ts - 1, 0);
    const inIds = new Int32Array(B * S), inPos = new Int32Array(B * S);
    for (let b = 0; b < B; b++) for (let t = 0; t < S; t++) {
      inIds[b * S + t] = ids[b * Ts + t]!;
      inPos[b * S + t] = pos[b * Ts + t]!;
    }
    return { labels, inIds, inPos };
  }
}

/** What latentPrefix returns (see its comment). */
export interface LatentPrefix {
  last: Tensor;
  nextPos: Int32Array;
  keyStart: Tensor;
  selections: Tensor[];
  scores: Tensor[];
  images: Tensor;
  draftHidden?: Tensor;
  recycled: { hidden: Tensor; input: Tensor }[];
  /** The prompt's last hidden state (the count head reads it). */
  promptLast: Tensor;
}

/** A latent prefix after its prompt pass, before its latent steps. */
export interface PrefixStart {
  samples: Sample[];
  imgFlat: Tensor;
  keyStart: Tensor;
  /** The first latent step's selection scores, accumulated during the prompt pass (null: not needed). */
  acc: Tensor | null;
  needScores: boolean;
  last: Tensor;
  nextPos: Int32Array;
}

/** Teacher-forced tokens appended after the prompt: ids and positions [B * len]. */
interface Suffix {
  ids: Int32Array;
  pos: Int32Array;
  len: number;
}

function concatPatches(samples: Sample[]): Float32Array {
  const n = samples[0].patches.length;
  const out = new Float32Array(samples.length * n);
  samples.forEach((s, b) => {
    if (s.patches.length !== n) throw new Error(`sample ${b}: ${s.patches.length} patch values, expected ${n}`);
    out.set(s.patches, b * n);
  });
  return out;
}

export { concatPatches };
