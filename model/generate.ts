// Inference: batched greedy decoding on a KV cache, for every mode.
//   nocot / cot: prompt pass, then one pass per generated token;
//   latent: prompt pass, N latent passes (k+1 positions each), then the answer, greedily;
//   latent-recompute: latent steps the reference code's way: every step re-runs the whole
//     prefix from scratch (no cache), to show what the cache buys.
// Forward passes are counted per question (a row stops counting once it has emitted EOS or a
// stop sequence: the complete answer line).
import * as E from '../engine/index.js';
import { fromArray, Tensor, tidyAsync } from '../engine/tensor.js';
import { KvCache } from './kv_cache.js';
import { IvtModel, LatentOptions, Sample, concatPatches } from './ivt.js';
import { selectLatentVision } from './latent_vision.js';

export interface GenerateOptions {
  latentSteps: number;
  latent: LatentOptions;
  maxNewTokens: number;
  eos: number;
  /**
   * Token sequences that end a row as EOS does (stop strings): the answer line is complete
   * once its letter is out, so the EOS after it would be one more pass for nothing.
   */
  stop?: number[][];
  /** Re-run the whole prefix at every latent step instead of using the cache. */
  recompute?: boolean;
  /** Read back the selected image tokens per step. */
  withSelections?: boolean;
  /**
   * A fixed continuation to verify in one pass instead of decoding it token by token (the
   * answer line's template, "Therefore, the answer is"): when every unfinished row's next token
   * is draft[0], all of draft is run in one pass and each row keeps the longest prefix its own
   * greedy choices agree with. The output is exactly greedy decoding's (a row that disagrees
   * anywhere makes the pass count and is decoded token by token from there); only the number
   * of passes changes. Applied to every mode alike. With latent steps on the cache, the draft
   * is run inside the last latent step's pass (its position is known before decoding starts),
   * so when it is accepted it costs no pass at all.
   */
  draft?: number[];
  /**
   * Adaptive latent steps: the count head (cfg.adaptiveLatents) chooses how many latent steps,
   * at most `latentSteps`, after the prompt pass; rows that chose the same count go on together.
   */
  adaptive?: boolean;
}

export interface Generation {
  tokens: number[][];
  /** Forward passes each question needed. */
  passes: number[];
  /** [step][b][k] image token indices chosen by latent vision (adaptive: a row has its own count's steps only). */
  selections: number[][][];
  /** Latent steps each question ran (the count head's choice with `adaptive`). */
  latentCounts: number[];
  /** Rows that reached their token limit (maxNewTokens, or the model's last position) before EOS or a stop sequence. */
  truncated: boolean[];
}

function endsWithAny(tokens: number[], stops: number[][] | undefined): boolean {
  if (!stops) return false;
  return stops.some((st) => st.length > 0 && st.length <= tokens.length && st.every((t, i) => tokens[tokens.length - st.length + i] === t));
}

function argmaxRows(logits: Float32Array, rows: number, V: number): number[] {
  const out: number[] = [];
  for (let r = 0; r < rows; r++) {
    let best = 0;
    for (let v = 1; v < V; v++) if (logits[r * V + v] > logits[r * V + best]) best = v;
    out.push(best);
  }
  return out;
}

export async function generate(model: IvtModel, samples: Sample[], o: GenerateOptions): Promise<Generation> {
  const B = samples.length, D = model.cfg.dim;
  return E.noGradAsync(() => tidyAsync(async () => {
    // At most the image, the longest prompt and the latent slots, then the new tokens. Rows are
    // padded on the left to the longest prefix, and each stops at its own last position
    // (decode's limits), so the cache may hold a short row's padding beyond maxLen.
    const prompts = samples.map((s) => s.prompt.length);
    const prefixMax = model.J + Math.max(...prompts) + o.latentSteps * (model.cfg.topK + 1);
    const prefixMin = model.J + Math.min(...prompts) + o.latentSteps * (model.cfg.topK + 1);
    const capacity = prefixMax + Math.min(o.maxNewTokens, model.cfg.maxLen - prefixMin + 1) + 1;
    const cache = new KvCache(model.cfg.layers, 'buffer', B, D, capacity);
    try {
      const draft = o.draft ?? [];
      // The draft rides on the last latent pass when there is one on the cache (see GenerateOptions.draft).
      const early = draft.length > 1 && o.latentSteps > 0 && !o.recompute && draft.length < Math.min(o.maxNewTokens, model.cfg.maxLen - prefixMax + 1) && prefixMax + draft.length + 1 <= capacity;
      if (o.adaptive) {
        if (o.recompute) throw new Error('generate: adaptive latent steps run on the cache, not with recompute');
        // One prompt pass for the batch; the count head's choices are read back (one readback,
        // no pass of its own); then each group of rows that chose the same count runs its latent
        // steps and decoding as a batch, on its rows of the cache.
        const start = model.promptPrefix(samples, o.latentSteps, o.latent, cache);
        const counts = await model.chooseLatentCounts(start.last, o.latentSteps);
        const byCount = new Map<number, number[]>();
        counts.forEach((c, b) => byCount.set(c, [...(byCount.get(c) ?? []), b]));
        if (byCount.size === 1) return await decode(model, samples, model.latentSteps(start, counts[0]!, o.latent, cache, early ? draft : undefined), cache, capacity, counts, o);
        const out: Generation = { tokens: [], passes: [], selections: [], latentCounts: counts, truncated: [] };
        for (const [c, rows] of byCount) {
          const groupCache = cache.selectRows(rows);
          try {
            const groupStart = await model.subsetPrefix(start, rows);
            const g = await decode(model, rows.map((b) => samples[b]!), model.latentSteps(groupStart, c, o.latent, groupCache, early ? draft : undefined), groupCache, capacity, rows.map(() => c), o);
            rows.forEach((b, i) => {
              out.tokens[b] = g.tokens[i]!;
              out.passes[b] = g.passes[i]!;
              out.truncated[b] = g.truncated[i]!;
            });
            // Selections are [step][row][k]: a row has as many steps as its count.
            g.selections.forEach((step, si) => {
              out.selections[si] ??= [];
              rows.forEach((b, i) => (out.selections[si]![b] = step[i]!));
            });
          } finally {
            groupCache.dispose();
          }
        }
        return out;
      }
      const prefix = o.recompute && o.latentSteps > 0
        ? recomputePrefix(model, samples, o.latentSteps, o.latent, cache)
        : model.latentPrefix(samples, o.latentSteps, o.latent, cache, early ? draft : undefined);
      return await decode(model, samples, prefix, cache, capacity, samples.map(() => o.latentSteps), o);
    } finally {
      cache.dispose();
    }
  }));
}

/**
 * Greedy decoding after a prefix (prompt and latent steps) on its cache, for rows that each ran
 * `counts[b]` latent steps.
 */
async function decode(
  model: IvtModel, samples: Sample[], prefix: { last: Tensor; nextPos: Int32Array; keyStart: Tensor; selections: Tensor[]; draftHidden?: Tensor },
  cache: KvCache, capacity: number, counts: number[], o: GenerateOptions,
): Promise<Generation> {
  const B = samples.length, V = model.cfg.vocab, D = model.cfg.dim;
  const draft = o.draft ?? [];
  const selections: number[][][] = [];
  if (o.withSelections) {
    for (const s of prefix.selections) {
      const flat = await s.toArray();
      const k = s.shape[1];
      selections.push(Array.from({ length: B }, (_, b) => Array.from(flat.slice(b * k, (b + 1) * k), (x) => x - b * model.J)));
    }
  }
  const tokens: number[][] = samples.map(() => []);
  const done = new Array<boolean>(B).fill(false);
  // A row's token limit: maxNewTokens, or as many as its positions allow (the last token's
  // logits come from position maxLen - 1): the same whichever rows share its batch.
  const limits = Array.from(prefix.nextPos, (p) => Math.min(o.maxNewTokens, model.cfg.maxLen - p + 1));
  const truncated = new Array<boolean>(B).fill(false);
  // A finished row still takes part in each pass (its output ignored): its position is held
  // inside the model's range, where its own would run past it.
  const atMost = (p: number) => Math.min(p, model.cfg.maxLen - 1);
  const push = (b: number, ids: number[]) => {
    tokens[b].push(...ids);
    if (ids.includes(o.eos) || endsWithAny(tokens[b], o.stop)) done[b] = true;
    else if (tokens[b].length >= limits[b]!) done[b] = truncated[b] = true;
  };
  const rowPasses = counts.map((c) => 1 + c);
  const pos = Int32Array.from(prefix.nextPos);
  let drafted = false;
  let produced = 0;
  /** Whether every unfinished row's greedy choices after draft[j] are draft[j + 1] (`all`: [B, L, V] logits over the draft). */
  const agrees = (all: Float32Array): boolean => {
    const L = draft.length, choice = argmaxRows(all, B * L, V);
    return done.every((d, b) => d || draft.slice(1).every((t, j) => choice[b * L + j] === t));
  };
  /** Takes the verified draft: the cache and positions move over it, rows append it; the next logits are its last position's. */
  const acceptDraft = (all: Float32Array): Float32Array => {
    const L = draft.length;
    cache.advance(L);
    for (let b = 0; b < B; b++) {
      pos[b] += L;
      if (!done[b]) push(b, draft);
    }
    produced += L;
    return all.filter((_, i) => Math.floor(i / V) % L === L - 1);
  };
  let logits: Float32Array;
  if (prefix.draftHidden) {
    // The draft ran with the last latent step: one readback for the slot and the draft.
    // Accepted when every row's greedy choice at the slot is draft[0] and the rest agree;
    // otherwise decoding goes on from the slot (and may still try the draft later, with a
    // pass of its own).
    const both = (await model.logits(E.concat([prefix.last, prefix.draftHidden], 1)).toArray()) as Float32Array; // [B, 1 + L, V]
    const L = draft.length;
    const slot = new Float32Array(B * V), all = new Float32Array(B * L * V);
    for (let b = 0; b < B; b++) {
      slot.set(both.subarray(b * (1 + L) * V, (b * (1 + L) + 1) * V), b * V);
      all.set(both.subarray((b * (1 + L) + 1) * V, (b + 1) * (1 + L) * V), b * L * V);
    }
    logits = slot;
    if (argmaxRows(slot, B, V).every((t) => t === draft[0])) {
      // Tried (inside the latent pass, at no pass of its own): the loop below would only run
      // the same draft at the same positions again.
      drafted = true;
      if (agrees(all)) logits = acceptDraft(all);
    }
  } else logits = (await model.logits(prefix.last).toArray()) as Float32Array;
  // Tokens produced so far (the same for every row still decoding).
  while (!done.every(Boolean)) {
    const next = argmaxRows(logits, B, V);
    const L = draft.length;
    if (!drafted && L > 1 && done.some((d) => !d) && next.every((t, b) => done[b] || (t === draft[0] && produced + L < limits[b]!)) && cache.length + L + 1 <= capacity) {
      // Verify the whole template in one pass (see GenerateOptions.draft).
      drafted = true;
      const dpos = Int32Array.from({ length: B * L }, (_, i) => atMost(pos[Math.floor(i / L)]! + (i % L)));
      // Each pass in its own scope: its activations go as soon as its logits are read.
      const all = await tidyAsync(async () => {
        const ids = fromArray(Int32Array.from({ length: B * L }, (_, i) => draft[i % L]!), [B, L], 'i32');
        const x = E.reshape(E.embedding(model.wte, ids), [B, L, D]);
        const h = model.pass(x, dpos, { causal: true, keyStart: prefix.keyStart, cache });
        return (await model.logits(h).toArray()) as Float32Array; // [B, L, V]
      });
      for (let b = 0; b < B; b++) if (!done[b]) rowPasses[b]++;
      if (agrees(all)) {
        logits = acceptDraft(all);
        if (done.every(Boolean)) break;
        continue;
      }
      // Rejected by some row: the cache keeps only what was there (the positions written by
      // the draft are overwritten by the next pass); decode token by token from here.
    }
    for (let b = 0; b < B; b++) if (!done[b]) push(b, [next[b]!]);
    produced++;
    if (done.every(Boolean)) break;
    if (cache.length + 1 > capacity) throw new Error(`generate: the cache (${capacity} positions) is full before every row reached its limit`);
    // One more pass: every row advances one position (finished rows' outputs are ignored).
    const step = tidyAsync(async () => {
      const ids = fromArray(Int32Array.from(next), [B], 'i32');
      const x = E.reshape(E.embedding(model.wte, ids), [B, 1, D]);
      const h = model.pass(x, pos.map(atMost), { causal: true, keyStart: prefix.keyStart, cache });
      return (await model.logits(h).toArray()) as Float32Array;
    });
    cache.advance(1);
    logits = await step;
    for (let b = 0; b < B; b++) {
      pos[b]++;
      if (!done[b]) rowPasses[b]++;
    }
  }
  return { tokens, passes: rowPasses, selections, latentCounts: counts, truncated };
}

/**
 * Latent steps without a cache: for step i the whole sequence (prompt, V1 h1 .. V(i-1) h(i-1))
 * is run from scratch, as the reference implementation does; the final prefix is then run
 * once more into the cache so decoding can continue the same way as the cached path.
 */
function recomputePrefix(model: IvtModel, samples: Sample[], steps: number, lo: LatentOptions, cache: KvCache) {
  const B = samples.length, J = model.J, D = model.cfg.dim, k = model.cfg.topK;
  const img = model.vision.forward(concatPatches(samples), B);
  const imgFlat = E.reshape(img, [B * J, D]);
  const { x, pad, positions } = model.prompt(samples, imgFlat);
  const keyStart = fromArray(pad, [B], 'i32');
  // Attention's selection accumulates scores and marks chosen tokens; the random control needs neither.
  const byAttention = lo.latentVision && !lo.randomVision;
  const chosen = byAttention ? E.fromArray(new Uint32Array(B * J), [B, J], 'u32') : null;
  let seq = x;
  let pos = positions;
  const selections: Tensor[] = [];
  for (let i = 0; ; i++) {
    const T = seq.shape[1];
    const useCache = i === steps;
    const acc = byAttention && !useCache ? E.fromArray(new Int32Array(B * J), [B, J], 'i32') : null;
    const h = model.pass(seq, pos, { causal: true, keyStart, cache: useCache ? cache : null, accumulate: acc ? { acc, row: T - 1, imgStart: keyStart } : null });
    if (useCache) {
      cache.advance(T);
      const nextPos = Int32Array.from({ length: B }, (_, b) => pos[b * T + T - 1] + 1);
      return { last: E.slice(h, 1, T - 1, T), nextPos, keyStart, selections };
    }
    const last = E.slice(h, 1, T - 1, T);
    const parts: Tensor[] = [seq];
    if (lo.latentVision) {
      const sel = selectLatentVision(samples, J, k, i, lo.randomVision ?? false, acc, chosen);
      selections.push(sel);
      parts.push(E.reshape(E.gatherRows(imgFlat, E.reshape(sel, [B * k])), [B, k, D]));
    }
    parts.push(lo.latentText ? E.mul(last, model.latentScale) : E.add(E.zeros([B, 1, D]), model.latentPlaceholder));
    seq = E.concat(parts, 1);
    const add = seq.shape[1] - T;
    const np = new Int32Array(B * (T + add));
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) np[b * (T + add) + t] = pos[b * T + t];
      for (let t = 0; t < add; t++) np[b * (T + add) + T + t] = pos[b * T + T - 1] + 1 + t;
    }
    pos = np;
  }
}

