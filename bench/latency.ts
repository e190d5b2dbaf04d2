// `ivt bench latency`: explicit CoT (the run's stage-0 weights) against IVT-LR (its final
// stage), and IVT-LR's latent steps done the reference code's way (whole prefix recomputed at
// every step, no KV cache), on the same problems, batch and adapter.
import { IvtModel } from '../model/ivt.js';
import { loadDataset, ProblemRecord } from '../train/data/index.js';
import { evaluate, EvalResult, EvalMode } from '../train/eval.js';
import { toSamples } from '../train/samples.js';
import { Tokenizer } from '../train/tokenizer.js';
import { rt } from '../engine/tensor.js';

export interface LatencyReport {
  adapter: string;
  date: string;
  run: string;
  split: string;
  n: number;
  batch: number;
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
}

export async function runLatencyBench(o: {
  run: string; data: string; split: string; batch: number; limit: number;
  load: (tag?: string) => Promise<{ model: IvtModel; tok: Tokenizer; latentSteps: number }>;
  log?: (s: string) => void;
}): Promise<LatencyReport> {
  const log = o.log ?? console.log;
  const ds = await loadDataset(o.data, { missingImage: 'text-only' });
  let recs: ProblemRecord[] = ds.records.filter((r) => r.split === o.split);
  if (o.limit) recs = recs.slice(0, o.limit);
  const rows: (EvalResult & { weights: string })[] = [];
  const runMode = async (tag: string | undefined, mode: EvalMode, draftAnswer = false) => {
    const { model, tok, latentSteps } = await o.load(tag);
    const samples = await toSamples(recs, tok, model.cfg);
    const r = await evaluate(model, samples, tok, mode, { latentSteps, batch: o.batch, numChoices: (i) => recs[i].choices.length, draftAnswer });
    model.ps.dispose();
    const row = { ...r, weights: tag ?? 'latest' };
    rows.push(row);
    log(`${(mode + (draftAnswer ? ' +draft' : '')).padEnd(20)} (${row.weights}): accuracy ${(r.accuracy * 100).toFixed(1)}%, ${r.avg_passes.toFixed(1)} passes, ${r.ms_per_question.toFixed(1)} ms/question`);
    return row;
  };
  const cot = await runMode('stage-0', 'cot');
  const ivt = await runMode(undefined, 'ivt');
  const recompute = await runMode(undefined, 'ivt-recompute');
  const cotDraft = await runMode('stage-0', 'cot', true);
  const ivtDraft = await runMode(undefined, 'ivt', true);
  for (const [plain, drafted] of [[cot, cotDraft], [ivt, ivtDraft]] as const) {
    if (plain.accuracy !== drafted.accuracy) throw new Error(`${plain.mode}: the drafted answer template changed accuracy (${plain.accuracy} vs ${drafted.accuracy}); it must not`);
  }
  return {
    adapter: rt().dev.describe(), date: new Date().toISOString(), run: o.run, split: o.split, n: recs.length, batch: o.batch, rows,
    speedup_latency: round(cot.ms_per_question / ivt.ms_per_question),
    fewer_passes: round(cot.avg_passes / ivt.avg_passes),
    accuracy_gap_points: round(100 * (ivt.accuracy - cot.accuracy)),
    cache_speedup: round(recompute.ms_per_question / ivt.ms_per_question),
    drafted: { speedup_latency: round(cotDraft.ms_per_question / ivtDraft.ms_per_question), fewer_passes: round(cotDraft.avg_passes / ivtDraft.avg_passes) },
  };
}

const round = (x: number) => Math.round(x * 100) / 100;

export function latencyMarkdown(r: LatencyReport): string {
  return [
    `Adapter: ${r.adapter}; run ${r.run}; ${r.split} split, ${r.n} problems, batch ${r.batch}; ${r.date}`,
    '',
    '| mode | weights | accuracy | forward passes / question | ms / question |',
    '|---|---|---|---|---|',
    ...r.rows.map((x) => `| ${x.mode}${x.draft ? ' (answer template drafted)' : ''} | ${x.weights} | ${(100 * x.accuracy).toFixed(1)}% | ${x.avg_passes.toFixed(1)} | ${x.ms_per_question.toFixed(1)} |`),
    '',
    `IVT-LR vs explicit CoT: ${r.speedup_latency}x lower latency, ${r.fewer_passes}x fewer forward passes, accuracy ${r.accuracy_gap_points >= 0 ? '+' : ''}${r.accuracy_gap_points} points. KV cache vs recomputing the prefix per latent step: ${r.cache_speedup}x.`,
    `With the answer line's template ("Therefore, the answer is") drafted and verified by both modes, same answers (explicit CoT: a pass once its rationale ends; IVT-LR: inside its last latent pass, whose position is known before decoding): ${r.drafted.speedup_latency}x lower latency, ${r.drafted.fewer_passes}x fewer forward passes.`,
  ].join('\n');
}
