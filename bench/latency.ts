// `ivt bench latency`: explicit CoT (the run's stage-0 weights) against IVT-LR (its final
// stage), and IVT-LR's latent steps done the reference code's way (whole prefix recomputed at
// every step, no KV cache), on the same problems, batch and adapter.
import { IvtModel } from '../model/ivt.js';
import { loadDataset, ProblemRecord } from '../train/data/index.js';
import { evaluate, EvalResult, EvalMode } from '../train/eval.js';
import { toSamples } from '../train/samples.js';
import { Tokenizer } from '../train/tokenizer.js';
import { rt } from '../engine/tensor.js';
import { UserError } from '../engine/errors.js';

export interface LatencyReport {
  adapter: string;
  date: string;
  run: string;
  split: string;
  n: number;
  batch: number;
  /** Problems per interleaved chunk (every mode runs each chunk before the next chunk starts). */
  chunk: number;
  rows: (EvalResult & { weights: string })[];
  speedup_latency: number;
  fewer_passes: number;
  accuracy_gap_points: number;
  cache_speedup: number;
  /**
   * The same comparison with the answer line's template verified in one pass by both modes
   * (generate's draft: identical answers, fewer passes).
   */
  drafted: { speedup_latency: number; fewer_passes: number };
  /** Quartiles of the per-chunk latency ratios (explicit CoT over IVT-LR), plain and drafted. */
  spread: { plain: [number, number]; drafted: [number, number] };
  /** ms of each chunk of problems, per mode in the rows' order. */
  chunk_ms?: number[][];
  /** Where the explicit-CoT weights came from when not from `run` (a run branched off another's stage 0). */
  cot_run?: string;
  /** A model with adaptive latent steps: the adaptive "ivt" row against the same weights with the fixed count. */
  adaptive?: { speedup_latency: number; fewer_passes: number; accuracy_gap_points: number };
}

/**
 * Problems per chunk. Every mode runs a chunk before the next one starts (the order rotating),
 * so slow and fast phases of a shared machine fall on all modes alike: run one mode after the
 * other, the explicit-CoT over IVT-LR ratio moved between 4.8x and 6.3x from run to run.
 */
const CHUNK = 10;

export async function runLatencyBench(o: {
  run: string; data: string; split: string; batch: number; limit: number;
  load: (tag?: string) => Promise<{ model: IvtModel; tok: Tokenizer; latentSteps: number }>;
  log?: (s: string) => void;
}): Promise<LatencyReport> {
  const log = o.log ?? console.log;
  const ds = await loadDataset(o.data, { missingImage: 'error' });
  let recs: ProblemRecord[] = ds.records.filter((r) => r.split === o.split);
  if (o.limit) recs = recs.slice(0, o.limit);
  if (recs.length === 0) throw new UserError(`${o.data}: no ${o.split} problems to time`);
  const models = { 'stage-0': await o.load('stage-0'), latest: await o.load(undefined) };
  const samples = { 'stage-0': await toSamples(recs, models['stage-0'].tok, models['stage-0'].model.cfg), latest: await toSamples(recs, models.latest.tok, models.latest.model.cfg) };
  // A model with adaptive latent steps (a count head) runs them in the "ivt" rows, and once more
  // with the fixed count: what the count head saves, and the KV cache's comparison with the
  // recomputing path (which runs the fixed count) on equal terms.
  const adaptive = models.latest.model.countHead !== null;
  const modes: { weights: 'stage-0' | 'latest'; mode: EvalMode; draft: boolean; fixed?: boolean }[] = [
    { weights: 'stage-0', mode: 'cot', draft: false }, { weights: 'latest', mode: 'ivt', draft: false }, { weights: 'latest', mode: 'ivt-recompute', draft: false },
    { weights: 'stage-0', mode: 'cot', draft: true }, { weights: 'latest', mode: 'ivt', draft: true },
    ...(adaptive ? [{ weights: 'latest' as const, mode: 'ivt' as const, draft: false, fixed: true }] : []),
  ];
  const runChunk = (m: (typeof modes)[number], from: number, to: number) => {
    const { model, tok, latentSteps } = models[m.weights];
    return evaluate(model, samples[m.weights].slice(from, to), tok, m.mode, { latentSteps, batch: o.batch, numChoices: (i) => recs[from + i].choices.length, draftAnswer: m.draft, fixedLatents: m.fixed });
  };
  // Warm-up, not timed: each mode's kernels compiled and its pool buffers made.
  for (const m of modes) await runChunk(m, 0, 1);
  const totals = modes.map(() => ({ right: 0, lenientRight: 0, unparsed: 0, truncated: 0, passes: 0, ms: 0 }));
  const chunkMs: number[][] = [];
  for (let from = 0, c = 0; from < recs.length; from += CHUNK, c++) {
    const to = Math.min(recs.length, from + CHUNK), ms: number[] = [];
    for (let j = 0; j < modes.length; j++) {
      const i = (j + c) % modes.length;
      const r = await runChunk(modes[i]!, from, to);
      const t = totals[i]!;
      t.right += Math.round(r.accuracy * r.n); t.lenientRight += Math.round(r.lenient_accuracy * r.n); t.unparsed += r.unparsed; t.truncated += r.truncated; t.passes += r.avg_passes * r.n; t.ms += r.ms_per_question * r.n;
      ms[i] = r.ms_per_question * r.n;
    }
    chunkMs.push(ms);
  }
  for (const m of Object.values(models)) m.model.ps.dispose();
  const n = recs.length;
  const rows = modes.map((m, i) => {
    const t = totals[i]!;
    const row: EvalResult & { weights: string } = {
      mode: m.mode, latentSteps: m.mode === 'cot' ? 0 : models.latest.latentSteps, n, batch: o.batch, ...(m.draft ? { draft: true } : {}),
      ...(adaptive && m.mode === 'ivt' ? (m.fixed ? { fixed_latents: true } : { adaptive: true }) : {}),
      accuracy: t.right / n, unparsed: t.unparsed, truncated: t.truncated, lenient_accuracy: t.lenientRight / n, avg_passes: t.passes / n, ms_per_question: t.ms / n, weights: m.weights,
    };
    log(`${(m.mode + (m.draft ? ' +draft' : '') + (row.adaptive ? ' adaptive' : '') + (row.fixed_latents ? ' fixed' : '')).padEnd(20)} (${row.weights}): accuracy ${(row.accuracy * 100).toFixed(1)}%, ${row.avg_passes.toFixed(1)} passes, ${row.ms_per_question.toFixed(1)} ms/question`);
    return row;
  });
  const [cot, ivt, recompute, cotDraft, ivtDraft, ivtFixed] = rows as [typeof rows[number], typeof rows[number], typeof rows[number], typeof rows[number], typeof rows[number], typeof rows[number] | undefined];
  for (const [plain, drafted] of [[cot, cotDraft], [ivt, ivtDraft]] as const) {
    if (plain.accuracy !== drafted.accuracy) throw new Error(`${plain.mode}: the drafted answer template changed accuracy (${plain.accuracy} vs ${drafted.accuracy}); it must not`);
  }
  const quartiles = (a: number, b: number): [number, number] => {
    const r = chunkMs.map((ms) => ms[a]! / ms[b]!).sort((x, y) => x - y);
    return [round(r[Math.floor((r.length - 1) / 4)]!), round(r[Math.ceil((3 * (r.length - 1)) / 4)]!)];
  };
  return {
    adapter: rt().dev.describe(), date: new Date().toISOString(), run: o.run, split: o.split, n, batch: o.batch, chunk: CHUNK, rows,
    speedup_latency: round(cot.ms_per_question / ivt.ms_per_question),
    fewer_passes: round(cot.avg_passes / ivt.avg_passes),
    accuracy_gap_points: round(100 * (ivt.accuracy - cot.accuracy)),
    cache_speedup: round(recompute.ms_per_question / (ivtFixed ?? ivt).ms_per_question),
    ...(ivtFixed ? { adaptive: { speedup_latency: round(ivtFixed.ms_per_question / ivt.ms_per_question), fewer_passes: round(ivtFixed.avg_passes / ivt.avg_passes), accuracy_gap_points: round(100 * (ivt.accuracy - ivtFixed.accuracy)) } } : {}),
    drafted: { speedup_latency: round(cotDraft.ms_per_question / ivtDraft.ms_per_question), fewer_passes: round(cotDraft.avg_passes / ivtDraft.avg_passes) },
    spread: { plain: quartiles(0, 1), drafted: quartiles(3, 4) },
    // Each chunk's ms per mode (rows' order), so the ratios and their spread can be recomputed:
    // the headline ratio is of the totals, the spread of the chunks' ratios.
    chunk_ms: chunkMs.map((ms) => ms.map(round)),
  };
}

const round = (x: number) => Math.round(x * 100) / 100;

export function latencyMarkdown(r: LatencyReport): string {
  return [
    `Adapter: ${r.adapter}; run ${r.run}; ${r.split} split, ${r.n} problems, batch ${r.batch}; ${r.date}`,
    '',
    '| mode | weights | accuracy | forward passes / question | ms / question |',
    '|---|---|---|---|---|',
    ...r.rows.map((x) => `| ${x.mode}${x.draft ? ' (answer template drafted)' : ''}${x.adaptive ? ' (adaptive latent steps)' : ''}${x.fixed_latents ? ' (fixed latent steps)' : ''} | ${x.weights} | ${(100 * x.accuracy).toFixed(1)}% | ${x.avg_passes.toFixed(1)} | ${x.ms_per_question.toFixed(1)} |`),
    '',
    `Modes interleaved in chunks of ${r.chunk} problems (every mode runs a chunk before the next chunk starts), after an untimed warm-up.`,
    `IVT-LR vs explicit CoT: ${r.speedup_latency}x lower latency (per-chunk quartiles ${r.spread.plain[0]}-${r.spread.plain[1]}x), ${r.fewer_passes}x fewer forward passes, accuracy ${r.accuracy_gap_points >= 0 ? '+' : ''}${r.accuracy_gap_points} points. KV cache vs recomputing the prefix per latent step: ${r.cache_speedup}x.`,
    `With the answer line's template ("Therefore, the answer is") drafted and verified by both modes, same answers (explicit CoT: a pass once its rationale ends; IVT-LR: inside its last latent pass, whose position is known before decoding): ${r.drafted.speedup_latency}x lower latency (per-chunk quartiles ${r.spread.drafted[0]}-${r.spread.drafted[1]}x), ${r.drafted.fewer_passes}x fewer forward passes.`,
    ...(r.adaptive ? [`Adaptive latent steps (the count head's choice) against the same weights with the fixed count: ${r.adaptive.speedup_latency}x lower latency, ${r.adaptive.fewer_passes}x fewer forward passes, accuracy ${r.adaptive.accuracy_gap_points >= 0 ? '+' : ''}${r.adaptive.accuracy_gap_points} points. (The KV cache's comparison above is with the fixed count, which the recomputing path runs.)`] : []),
  ].join('\n');
}
