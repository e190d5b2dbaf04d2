// Where a model stands, token by token: teacher-forced next-token accuracy on the supervised
// rationale and answer, grouped by what each token needs. On the synthetic grid data the
// groups separate the skills a rationale chains together: copying the start object from the
// question, finding it in the image, copying a move, the row/column arithmetic, reading the
// object at a cell in the image, counting, and the answer letter. Accuracy near chance on
// the image lookups while the text skills are near 100% says the model has not yet learned
// to read the picture (and no mode can beat chance until it does). Other datasets get one
// group per reasoning step.
import * as E from '../engine/index.js';
import { IvtModel, Sample, FULL_LATENT, concatPatches, type LatentOptions } from '../model/ivt.js';
import { KvCache } from '../model/kv_cache.js';
import { COLOURS, SHAPES } from './data/synth/spec.js';
import { pathCells, type Scene } from './data/synth/scene.js';
import { Tokenizer } from './tokenizer.js';

export interface TokenGroup {
  group: string;
  correct: number;
  total: number;
  accuracy: number;
  /**
   * The same accuracy when every problem is shown another problem's picture (the next one's,
   * cyclically). A group that needs the image falls to chance here once the model reads it;
   * equal accuracies mean the model predicts those tokens without looking.
   */
  accuracyOtherImage: number;
}

const DIGIT = /^ ?\d$/;
const MOVE = /^ ?(up|down|left|right)$/;
const CELL = /^ ?(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty)$/;
const ATTRIBUTE = new RegExp(`^ ?(${[...COLOURS, ...SHAPES].join('|')})$`);

/** What a synthetic question asks about (the answer letter is scored per kind), from its text. */
function questionKind(prompt: string): string | null {
  return /What colour/.test(prompt) ? 'colour' : /What shape/.test(prompt) ? 'shape' : /How many/.test(prompt) ? 'count' : null;
}

/**
 * The group of target token t of a stage-0 suffix, from the decoded tokens before it. Knows
 * the synthetic rationales ("The red circle is in cell ten." or "Start is cell ten red circle.",
 * then "One cell left is nine blue square."; cell-first: "ten red circle is the start.", then
 * "nine blue square is one cell left."; cell-value: "nine blue square is one cell left.", then
 * "blue is the colour.") and the earlier wording with coordinates ("... in row
 * 3, column 2, is a ..."). Steps are read with the space stepText puts before them.
 */
function groupOf(pieces: string[], t: number, step: number, answer: boolean, kind: string | null, stepStart: number): string {
  const cur = pieces[t]!, prev = pieces[t - 1] ?? '', prev2 = pieces[t - 2] ?? '';
  if (answer) return /^ ?[A-Z]$/.test(cur) && / is$/.test(prev) ? `answer letter${kind ? ` (${kind} question)` : ''}` : 'answer line words';
  const first = (pieces[0] ?? '').trim();
  if (!answer && CELL.test(pieces[stepStart] ?? '')) {
    // Cell-first names the start cell in a step of its own ("... is the start."); cell-value
    // begins with the first move.
    if (t === stepStart) return step === 0 && stepHas(pieces, stepStart, ' start') ? 'start cell (copied from the question)' : 'cell after a move (arithmetic)';
    // Cell-first: the cell, then its object (read from the picture), then the move (copied).
    if (ATTRIBUTE.test(cur) && (CELL.test(prev) || (ATTRIBUTE.test(prev) && CELL.test(prev2)))) return 'object at a cell (image lookup)';
    if (MOVE.test(cur)) return 'move (copied from the question)';
    return 'template words';
  }
  // Cell-value's last steps state the value first: "green is the colour.", "3 is the number of green objects."
  // A chain without moves has only that step: the value is read at the cell the question names.
  if (t === stepStart && ATTRIBUTE.test(cur)) return step > 0 ? 'asked value (copied from the step before)' : 'value at the start cell (image lookup)';
  if (t === stepStart && DIGIT.test(cur) && step > 0) return 'colour count (image)';
  if (step === 0 && first === 'Start') {
    // "Start is cell ten red circle.": the cell is named by the question, its object is read.
    if (CELL.test(cur) && prev === ' cell') return 'start cell (copied from the question)';
    if (ATTRIBUTE.test(cur) && (CELL.test(prev) || (ATTRIBUTE.test(prev) && CELL.test(prev2)))) return 'object at a cell (image lookup)';
  } else if (step === 0) {
    if ((DIGIT.test(cur) && / (row|column)$/.test(prev)) || (CELL.test(cur) && prev === ' cell')) return 'start cell (image lookup)';
    if (prev.trim() === 'The' || prev2.trim() === 'The') return 'start object (copied from the question)';
  } else {
    if ((DIGIT.test(cur) && / (row|column)$/.test(prev)) || (CELL.test(cur) && prev === ' is')) return 'cell after a move (arithmetic)';
    if (prev === ' a' || prev2 === ' a') return 'object at a cell (image lookup)';
    if (ATTRIBUTE.test(cur) && (CELL.test(prev) || (ATTRIBUTE.test(prev) && CELL.test(prev2)))) return 'object at a cell (image lookup)';
    if (MOVE.test(cur)) return 'move (copied from the question)';
    if (DIGIT.test(cur) && / (are|is)$/.test(prev)) return 'colour count (image)';
  }
  return 'template words';
}

/** Whether the step that starts at piece `start` (it ends with a newline piece) contains `word`. */
function stepHas(pieces: string[], start: number, word: string): boolean {
  for (let t = start; t < pieces.length && pieces[t] !== '\n'; t++) if (pieces[t] === word) return true;
  return false;
}

export async function diagnose(model: IvtModel, samples: Sample[], tok: Tokenizer, opts: { batch: number; synthetic: boolean }): Promise<TokenGroup[]> {
  const right = await groupAccuracy(model, samples, tok, opts);
  const other = await groupAccuracy(model, withNextPicture(samples), tok, opts);
  return [...right.entries()].map(([group, e]) => {
    const o = other.get(group)!;
    return { group, ...e, accuracy: e.correct / e.total, accuracyOtherImage: o.correct / o.total };
  }).sort((a, b) => a.group.localeCompare(b.group));
}

/** Every problem with the next problem's picture (cyclically): same text and targets, another image. */
export function withNextPicture(samples: Sample[]): Sample[] {
  return samples.map((s, i) => ({ ...s, patches: samples[(i + 1) % samples.length]!.patches }));
}

async function groupAccuracy(model: IvtModel, samples: Sample[], tok: Tokenizer, opts: { batch: number; synthetic: boolean }): Promise<Map<string, { correct: number; total: number }>> {
  const stats = new Map<string, { correct: number; total: number }>();
  const V = model.cfg.vocab;
  for (let i = 0; i < samples.length; i += opts.batch) {
    const batch = samples.slice(i, i + opts.batch);
    const logits = E.noGrad(() => E.tidy(() => E.keep(model.supervisedLogits(batch, 0, FULL_LATENT).logits)));
    const L = (await logits.toArray()) as Float32Array;
    const Ts = logits.shape[1]!;
    logits.dispose();
    batch.forEach((s, b) => {
      const targets = [...s.steps.flat(), ...s.answer];
      const pieces = targets.map((id) => tok.decode([id]));
      const kind = opts.synthetic ? questionKind(tok.decode(s.prompt)) : null;
      let step = 0, inStep = 0;
      for (let t = 0; t < targets.length; t++) {
        const answer = step >= s.steps.length;
        let best = 0;
        const o = (b * Ts + t) * V;
        for (let v = 1; v < V; v++) if (L[o + v]! > L[o + best]!) best = v;
        const group = opts.synthetic ? groupOf(pieces, t, step, answer, kind, t - inStep) : answer ? 'answer line' : `step ${step + 1}`;
        const e = stats.get(group) ?? { correct: 0, total: 0 };
        e.total++;
        if (best === targets[t]) e.correct++;
        stats.set(group, e);
        if (!answer && ++inStep === s.steps[step]!.length) { step++; inStep = 0; }
      }
    });
  }
  return stats;
}

/**
 * How much of an image token depends on the image: over these pictures, the variance of each
 * image token around its mean at that grid position, as a share of its mean square (summed
 * over positions and features). 0: every picture gives the same tokens (only position and
 * offsets get through); 1: the tokens are all content. The language model normalises each
 * token before reading it, so a share near 0 means the picture is a small perturbation of a
 * constant vector, however well a probe can still decode it.
 */
export async function imageDependentShare(model: IvtModel, samples: Sample[]): Promise<number> {
  const D = model.cfg.dim, J = model.J, n = samples.length;
  const sum = new Float64Array(J * D), sumSq = new Float64Array(J * D);
  await forEachImageTokens(model, samples, (a, rows) => {
    for (let b = 0; b < rows; b++) {
      for (let e = 0; e < J * D; e++) {
        const x = a[b * J * D + e]!;
        sum[e]! += x;
        sumSq[e]! += x * x;
      }
    }
  });
  let variance = 0, meanSquare = 0;
  for (let e = 0; e < J * D; e++) {
    const m = sum[e]! / n;
    variance += sumSq[e]! / n - m * m;
    meanSquare += sumSq[e]! / n;
  }
  return meanSquare > 0 ? Math.max(0, variance) / meanSquare : 0;
}

/** The image tokens of `samples`, 32 pictures per GPU pass: visit(values [rows * J * dim], rows, first sample index). */
async function forEachImageTokens(model: IvtModel, samples: Sample[], visit: (a: Float32Array, rows: number, start: number) => void): Promise<void> {
  for (let i = 0; i < samples.length; i += 32) {
    const batch = samples.slice(i, i + 32);
    const img = E.noGrad(() => E.tidy(() => E.keep(model.vision.forward(concatPatches(batch), batch.length))));
    const a = (await img.toArray()) as Float32Array;
    img.dispose();
    visit(a, batch.length, i);
  }
}

export interface ProbeResult {
  colour: number;
  shape: number;
  /** Image tokens used (70% fit the probe, the rest score it). */
  tokens: number;
}

/**
 * Can the image tokens (the projector's output, what the language model reads) tell colour
 * and shape apart at all? A linear probe (ridge least squares, one-vs-rest, float64) fitted
 * on 70% of the tokens of these images and scored on the rest; classes: the four values and
 * "empty cell". Read it beside imageDependentShare: the probe is blind to scale, so it still
 * reads 100% from image tokens whose picture-dependent part is 0.1% of their size, which the
 * language model (normalising each token) cannot use.
 */
export async function probeImageTokens(model: IvtModel, samples: Sample[], scenes: (Scene | undefined)[]): Promise<ProbeResult | null> {
  const side = model.vision.side;
  const X: number[][] = [], colour: number[] = [], shape: number[] = [];
  const D = model.cfg.dim, J = model.J;
  await forEachImageTokens(model, samples, (a, rows, start) => {
    for (let b = 0; b < rows; b++) {
      const scene = scenes[start + b];
      if (!scene || scene.grid !== side) continue;
      for (let j = 0; j < J; j++) {
        const o = scene.objects.find((x) => x.row * side + x.col === j);
        X.push([...a.slice((b * J + j) * D, (b * J + j + 1) * D), 1]);
        colour.push(o ? COLOURS.indexOf(o.colour) : COLOURS.length);
        shape.push(o ? SHAPES.indexOf(o.shape) : SHAPES.length);
      }
    }
  });
  if (X.length < 50) return null;
  return { colour: ridgeProbe(X, colour, COLOURS.length + 1), shape: ridgeProbe(X, shape, SHAPES.length + 1), tokens: X.length };
}

/** Held-out accuracy of a one-vs-rest ridge regression (fit on the first 70% of rows). */
function ridgeProbe(X: number[][], y: number[], K: number): number {
  const n = X.length, d = X[0]!.length, fit = Math.floor(n * 0.7);
  // Normal equations [X^T X + l I | X^T Y], solved by Gauss-Jordan with partial pivoting.
  const M = Array.from({ length: d }, () => new Float64Array(d + K));
  for (let i = 0; i < fit; i++) {
    const x = X[i]!;
    for (let a = 0; a < d; a++) {
      for (let c = 0; c < d; c++) M[a]![c]! += x[a]! * x[c]!;
      M[a]![d + y[i]!]! += x[a]!;
    }
  }
  for (let a = 0; a < d; a++) M[a]![a]! += 1e-3;
  for (let c = 0; c < d; c++) {
    let p = c;
    for (let r = c + 1; r < d; r++) if (Math.abs(M[r]![c]!) > Math.abs(M[p]![c]!)) p = r;
    [M[c], M[p]] = [M[p]!, M[c]!];
    const piv = M[c]![c]!;
    for (let k = 0; k < d + K; k++) M[c]![k]! /= piv;
    for (let r = 0; r < d; r++) {
      if (r === c) continue;
      const f = M[r]![c]!;
      if (f !== 0) for (let k = 0; k < d + K; k++) M[r]![k]! -= f * M[c]![k]!;
    }
  }
  let right = 0;
  for (let i = fit; i < n; i++) {
    let best = 0, bestScore = -Infinity;
    for (let k = 0; k < K; k++) {
      let s = 0;
      for (let a = 0; a < d; a++) s += X[i]![a]! * M[a]![d + k]!;
      if (s > bestScore) { bestScore = s; best = k; }
    }
    if (best === y[i]) right++;
  }
  return right / (n - fit);
}

type LatentPrefix = ReturnType<IvtModel['latentPrefix']>;

/** Runs the latent prefix (no gradients) over `samples`, 32 problems at a time, and hands each batch's result to `visit`. */
async function eachLatentPrefix(model: IvtModel, samples: Sample[], steps: number, lo: LatentOptions, visit: (batch: Sample[], p: LatentPrefix) => Promise<void>): Promise<void> {
  for (let i = 0; i < samples.length; i += 32) {
    const batch = samples.slice(i, i + 32);
    const capacity = model.J + Math.max(...batch.map((s) => s.prompt.length)) + steps * (model.cfg.topK + 1);
    const cache = new KvCache(model.cfg.layers, 'buffer', batch.length, model.cfg.dim, capacity);
    try {
      await E.noGradAsync(() => E.tidyAsync(async () => visit(batch, model.latentPrefix(batch, steps, lo, cache))));
    } finally {
      cache.dispose();
    }
  }
}

/** Mean L2 norms of what the language model reads (inputNorms). */
export interface InputNorms {
  /** Token embeddings of the prompts' tokens. */
  token: number;
  /** Image tokens (vision encoder and projector output). */
  image: number;
  /** Per latent step: the recycled last-layer hidden state, and the latent input made from it (after the learned scale). */
  steps: { hidden: number; input: number }[];
}

/**
 * The norms METHOD.md asks to measure: a recycled hidden state can be far larger than a token
 * embedding (reported for Coconut, with instability and poor transfer to other latent counts),
 * which is why the model scales it by a learned per-dimension factor before feeding it back.
 * Means over `samples`, with `steps` latent steps in the run's latent mode `lo` (an ablation
 * without latent text feeds back its placeholder), 32 problems per pass.
 */
export async function inputNorms(model: IvtModel, samples: Sample[], steps: number, lo: LatentOptions = FULL_LATENT): Promise<InputNorms> {
  const D = model.cfg.dim;
  const rowNorms = (a: Float32Array): number[] => Array.from({ length: a.length / D }, (_, r) => Math.hypot(...a.subarray(r * D, (r + 1) * D)));
  const wte = (await model.wte.toArray()) as Float32Array;
  let tokenSum = 0, tokenN = 0, imageSum = 0, imageN = 0;
  const stepSums = Array.from({ length: steps }, () => ({ hidden: 0, input: 0 }));
  for (const s of samples) for (const t of s.prompt) { tokenSum += Math.hypot(...wte.subarray(t * D, (t + 1) * D)); tokenN++; }
  await eachLatentPrefix(model, samples, steps, lo, async (_, p) => {
    const img = rowNorms((await p.images.toArray()) as Float32Array);
    imageSum += img.reduce((a, x) => a + x, 0);
    imageN += img.length;
    for (let j = 0; j < steps; j++) {
      for (const key of ['hidden', 'input'] as const) stepSums[j]![key] += rowNorms((await p.recycled[j]![key].toArray()) as Float32Array).reduce((a, x) => a + x, 0);
    }
  });
  const n = samples.length;
  return { token: tokenSum / Math.max(tokenN, 1), image: imageSum / Math.max(imageN, 1), steps: stepSums.map((x) => ({ hidden: x.hidden / n, input: x.input / n })) };
}

/** Where latent vision looked (visionFocus): per latent step, what it attended to and inserted of the chain's cells. */
export interface VisionFocus {
  /** Image embeddings selected per latent step, and the image tokens they are chosen from. */
  k: number;
  tokens: number;
  /** The chain's cells in order: "start", "after move 1", ... (with chains of one length, the last is the cell the question asks about). */
  cells: string[];
  /** Problems whose chain has each cell (chains of different lengths). */
  counts: number[];
  /**
   * [latent step][cell]: the mean share of the selection scores (the attention of the position
   * before the slot onto the image tokens, summed over layers and heads) that goes to the cell;
   * 1 / tokens where attention is spread evenly.
   */
  attention: number[][];
  /**
   * [latent step][cell]: the share of problems whose cell is among the image embeddings inserted
   * so far (steps 1..i): a cell is inserted once at most, since each step excludes earlier
   * choices. Random selections: min(1, i * k / tokens).
   */
  inserted: number[][];
  /** The same two measures [latent step] at each problem's own last cell, the one the question asks about (chains of any length). */
  asked: { attention: number[]; inserted: number[] };
}

/**
 * The cells of a synthetic problem's chain (start, then one per move) as image-token indices,
 * or null where a cell is not exactly one image token (the patch grid is not the scene's grid).
 */
export function chainTokens(scene: Scene, patchSide: number): number[] | null {
  if (patchSide !== scene.grid) return null;
  return pathCells(scene).map(([r, c]) => r * scene.grid + c);
}

/**
 * Tallies latent vision against the chains: `scores[step][problem]` are a step's selection
 * scores over the image tokens, `selections[step][problem]` the image-token indices it inserted,
 * `chains[problem]` the chain's cells as image-token indices. Pure, so it is tested on
 * hand-made inputs.
 */
export function tallyVisionFocus(scores: number[][][], selections: number[][][], chains: number[][], k: number, tokens: number): VisionFocus {
  const longest = Math.max(0, ...chains.map((c) => c.length));
  const cells = Array.from({ length: longest }, (_, j) => (j === 0 ? 'start' : `after move ${j}`));
  const counts = cells.map((_, j) => chains.filter((c) => c.length > j).length);
  const perCell = (value: (step: number, b: number, cell: number) => number) => scores.map((_, i) => {
    const sum = new Array<number>(longest).fill(0);
    chains.forEach((chain, b) => chain.forEach((cell, j) => { sum[j]! += value(i, b, cell); }));
    return sum.map((x, j) => x / Math.max(counts[j]!, 1));
  });
  const atLastCell = (value: (step: number, b: number, cell: number) => number) => scores.map((_, i) =>
    chains.reduce((a, chain, b) => a + value(i, b, chain[chain.length - 1]!), 0) / Math.max(chains.length, 1));
  const share = (i: number, b: number, cell: number) => {
    const row = scores[i]![b]!, total = row.reduce((a, x) => a + x, 0);
    return total > 0 ? row[cell]! / total : 0;
  };
  const insertedBy = (i: number, b: number, cell: number) => (selections.slice(0, i + 1).some((step) => step[b]!.includes(cell)) ? 1 : 0);
  return { k, tokens, cells, counts, attention: perCell(share), inserted: perCell(insertedBy), asked: { attention: atLastCell(share), inserted: atLastCell(insertedBy) } };
}

/**
 * Does latent vision look where the reasoning is? The paper inserts at each latent step the k
 * image embeddings the model attends to most, on the premise that attention focuses on the
 * regions the reasoning needs. On synthetic data the chain's cells are known, so this measures
 * it, with `steps` latent steps in latent mode `lo`: how much of each step's selection scores
 * goes to each cell of the chain, and which cells have been inserted by then. Null when the
 * latent mode inserts no image embeddings or random ones, or a cell is not one image token.
 */
export async function visionFocus(model: IvtModel, samples: Sample[], scenes: Scene[], steps: number, lo: LatentOptions = FULL_LATENT): Promise<VisionFocus | null> {
  const chains = scenes.map((s) => chainTokens(s, model.vision.side));
  if (!lo.latentVision || lo.randomVision || steps === 0 || chains.some((c) => c === null)) return null;
  const k = model.cfg.topK, J = model.J;
  const selections: number[][][] = Array.from({ length: steps }, () => []);
  const scores: number[][][] = Array.from({ length: steps }, () => []);
  await eachLatentPrefix(model, samples, steps, lo, async (batch, p) => {
    for (let j = 0; j < steps; j++) {
      // Selections index the batch's flattened image tokens: row b's start at b * J.
      const flat = await p.selections[j]!.toArray();
      const sc = await p.scores[j]!.toArray();
      batch.forEach((_, b) => {
        selections[j]!.push(Array.from(flat.slice(b * k, (b + 1) * k), (x) => x - b * J));
        scores[j]!.push(Array.from(sc.slice(b * J, (b + 1) * J)));
      });
    }
  });
  return tallyVisionFocus(scores, selections, chains as number[][], k, J);
}

const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;

/** visionFocus as plain lines (ivt diagnose). */
export function visionFocusLines(f: VisionFocus): string[] {
  const { cells, rows } = focusColumns(f);
  const table = (key: 'attention' | 'inserted') => [
    `  ${''.padEnd(14)} ${cells.map((c) => c.padStart(13)).join(' ')}`,
    ...rows(key).map((row, i) => `  ${`latent step ${i + 1}`.padEnd(14)} ${row.map((x) => pct(x).padStart(13)).join(' ')}`),
  ];
  return [
    `where latent vision looked, by cell of the chain: the share of each step's attention onto the prompt's ${f.tokens} image tokens (summed over layers and heads; not the copies inserted at latent steps) that goes to the cell (spread evenly: ${pct(1 / f.tokens)})`,
    ...table('attention'),
    `and the share of problems with the cell among the image embeddings inserted by that step (top-${f.k} a step, no repeats; random: ${randomInserted(f).map(pct).join(', ')})`,
    ...table('inserted'),
  ];
}

/** The share of problems a random selection of k tokens a step has inserted a given cell by each step: min(1, i * k / tokens). */
export function randomInserted(f: VisionFocus): number[] {
  return f.inserted.map((_, i) => Math.min(1, ((i + 1) * f.k) / f.tokens));
}

/** The tables' columns: the chain's cells, and where chains differ in length the asked cell (each problem's last) after them. */
function focusColumns(f: VisionFocus): { cells: string[]; rows: (key: 'attention' | 'inserted') => number[][] } {
  const mixed = f.counts.some((c) => c !== f.counts[0]);
  return {
    cells: mixed ? [...f.cells, 'asked cell'] : f.cells,
    rows: (key) => f[key].map((row, i) => (mixed ? [...row, f.asked[key][i]!] : row)),
  };
}

/** visionFocus as two markdown tables (the demo report): attention shares, then cells inserted. */
export function visionFocusMarkdown(f: VisionFocus): string[] {
  const { cells, rows } = focusColumns(f);
  const table = (what: string, key: 'attention' | 'inserted') => [
    `| ${what} | ${cells.join(' | ')} |`,
    `|---|${cells.map(() => '---|').join('')}`,
    ...rows(key).map((row, i) => `| latent step ${i + 1} | ${row.map(pct).join(' | ')} |`),
  ];
  return [...table('attention share', 'attention'), '', ...table('inserted by then', 'inserted')];
}
