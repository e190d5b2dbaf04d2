// `ivt demo`: the whole story on one machine. Synthetic data; the curriculum (stages 0..N);
// the no-CoT baseline, the two ablations and the random-vision control trained with the same budget; every mode
// evaluated on the test split; the latency comparison; and a report folder with tables and
// charts. Every figure in the report comes from this run.
import { latencyMarkdown, runLatencyBench } from '../bench/latency.js';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import * as E from '../engine/index.js';
import { rt } from '../engine/tensor.js';
import { IvtConfig } from '../model/config.js';
import { IvtModel } from '../model/ivt.js';
import { generate } from '../model/generate.js';
import { loadDataset, ProblemRecord, writeSynthDataset } from './data/index.js';
import { resolveSynthOptions, type QueryKind, type StartBy, type SynthOptions, type Wording } from './data/synth/spec.js';
import { isObject, readJsonFile } from './data/validate.js';
import { UserError } from '../engine/errors.js';
import { writeFileAtomic as writeAtomic } from '../engine/atomic_file.js';
import { evaluate, EvalMode, EvalResult, generatedText, modeSettings, stepsLabel } from './eval.js';
import { toSamples, extractAnswer } from './samples.js';
import { diagnose, imageDependentShare, inputNorms, randomInserted, visionFocus, visionFocusMarkdown, type InputNorms } from './diagnose.js';
import { readScenes } from './data/synth/lookups.js';
import { answerStops, Tokenizer } from './tokenizer.js';
import { loadCheckpoint } from './checkpoint.js';
import { EXTEND_MIN_GAIN, EXTEND_PATIENCE, EXTEND_TOLERANCE, SETTLE_LR_FRACTION, train, TrainOptions } from './trainer.js';
import { barChartSvg, lineChartSvg, selectionPng, svgToPng } from './charts.js';
import { FULL_LATENT } from '../model/ivt.js';

/** The demo's questions (DemoOptions.startBy, .queries, .wording), also the CLI's defaults. */
export const DEMO_START_BY: StartBy = 'cell';
export const DEMO_QUERIES: QueryKind[] = ['colour'];
export const DEMO_WORDING: Wording = 'cell-value';
/**
 * Shortest chain in the demo's data (DemoOptions.minSteps): 3, every problem two moves and the
 * value. Mixed lengths measured worse on the full model (docs/grounding.md, "Mixed chain lengths").
 */
export const DEMO_MIN_STEPS = 3;
/**
 * The most epochs of stage 0 and of each latent stage (DemoOptions.maxEpochs0, .maxEpochs):
 * a stage goes on past its epochs while validation says it is still learning (extendStage in
 * the trainer). Measured: with seed 3, 9 epochs of stage 0 left explicit CoT at 39% and 18 gave
 * 100%; stage 2's picture read at a latent position appeared in epoch 3-4 instead of 1-2.
 */
export const DEMO_MAX_EPOCHS0 = 18;
export const DEMO_MAX_EPOCHS = 8;
/**
 * Stage mixing in the latent stages (DemoOptions.mixStages, TrainOptions.mixStages). Why: a
 * model trained stage by stage only works at the latent count it was trained at last (METHOD.md,
 * pitfalls). Measured on seed 1: unmixed, the final model answered 0.0% of the test problems
 * with 0, 1 or 2 latent steps (98.5% with 3): it wrote a word of the next step and jumped to the
 * answer line. With 0.2 of the batches at earlier stages, the same epochs: 92.0 / 99.5 / 99.0 /
 * 98.5% with 0 / 1 / 2 / 3 latent steps. Over five seeds it cost stage 3 0.6 points on average
 * (docs/grounding.md, "Stage mixing").
 */
export const DEMO_MIX_STAGES = 0.2;
/**
 * Settle epochs at the end of each latent stage (DemoOptions.settleEpochs, TrainOptions.settleEpochs),
 * at a quarter of the latent rate. Why: on seed 5, stage 3's validation accuracy at the latent
 * rate went 97.0, 98.2, 98.0, 97.4, 94.0% over epochs 2-6 (500 validation problems) without
 * settling, and the stage ended 2.4 points below explicit CoT on the test split; two epochs at a
 * quarter of the rate from its best weights gave 100.0% on the 2000 test problems
 * (docs/grounding.md, "Latent stages settle at a lower rate").
 */
export const DEMO_SETTLE_EPOCHS = 2;

export interface DemoOptions {
  out: string;
  preset: string;
  train: number;
  val: number;
  test: number;
  epochs: number;
  /** Epochs of stage 0 (explicit CoT needs longer than each latent stage). */
  epochs0: number;
  /** Most epochs of stage 0 / of a latent stage when validation says it is still learning (default DEMO_MAX_EPOCHS0 / DEMO_MAX_EPOCHS; set equal to epochs0 / epochs for fixed stages). */
  maxEpochs0?: number;
  maxEpochs?: number;
  batch: number;
  lr: number;
  /** Learning rate of the latent stages (TrainOptions.latentLr); default lr. */
  latentLr?: number;
  /**
   * Reset AdamW's moments at each stage switch (default on). Why: with beta2 = 0.999 the
   * second moments remember stage 0's gradients for about a thousand steps, longer than a
   * latent stage, and scale down the very updates a new stage needs. Measured on the demo's
   * data with seed 2: carried over, stage 2 stayed at chance; reset, it learned
   * (docs/grounding.md). The reference code does not reset; Coconut's paper does.
   */
  resetOptimizer?: boolean;
  seed: number;
  ablations: boolean;
  /** Alignment objective and stage-0 captions (see IvtModel.alignmentLoss); default on. */
  grounding?: boolean;
  /** How questions name the start of the walk (see StartBy); default 'cell'. */
  startBy?: StartBy;
  /** How rationale steps are worded (see Wording); default 'cell-value'. */
  wording?: Wording;
  /**
   * Question kinds; default colour only (DEMO_QUERIES). Why not shape: with colours and shapes
   * both answered by letters A-D, the letter needs the question's kind as well as the object
   * reached, and the demo's model, trained from scratch in minutes, answered shape questions
   * with the colour's letter (teacher-forced: shape letters 18%, colour letters 100%). Why not
   * count: its count step was not learned in the budget and only added noise (docs/grounding.md).
   */
  queries?: QueryKind[];
  /**
   * Shortest reasoning chain (default DEMO_MIN_STEPS; the longest is 3 steps). Below 3 the
   * problems mix chain lengths, each equally often, and the report gives every mode's accuracy
   * per length: which lengths each curriculum (and the shorter curricula of the stage-count
   * ablation, whose latent steps must then cover more than one step of a long chain) solves.
   */
  minSteps?: number;
  /** Stage mixing probability in the latent stages (default DEMO_MIX_STAGES; 0: off). */
  mixStages?: number;
  /** Settle epochs at the end of each latent stage (default DEMO_SETTLE_EPOCHS; 0: off). */
  settleEpochs?: number;
  log: (s: string) => void;
}

interface ModeRow extends EvalResult {
  label: string;
  run: string;
  tag: string;
}

/**
 * Test problems the batch-1 latency comparison runs on (five modes, one question at a time:
 * about 0.4 s per problem on two CPU cores, most of it explicit CoT's decoding).
 */
const LATENCY_PROBLEMS = 100;

/**
 * The paper's stage-wise ablation (METHOD.md: 1, 2 and 3 latent stages on M3CoT): curricula
 * with fewer latent stages than the main one, each cutting the rationale into that many steps
 * and ending with all of them latent. They branch off the main curriculum's stage-0 weights
 * (stage 0 trains on the same full rationale whatever the count), so only the latent stages differ.
 */
const FEWER_STAGES = [1, 2];

/**
 * The control beside the latent-vision ablation: k image tokens drawn at random (fixed per
 * problem) instead of the attended ones. Over 15 curricula the model without latent vision
 * failed to learn stage 2 in 5 and this control in 1 (docs/latent-vision), so the demo runs it.
 */
const RANDOM_VISION_LABEL = 'random latent vision (control)';

async function loadModel(run: string, tag?: string): Promise<{ model: IvtModel; tok: Tokenizer; cfg: IvtConfig }> {
  const cfg = JSON.parse(readFileSync(join(run, 'config.json'), 'utf8')) as IvtConfig;
  const tok = Tokenizer.load(join(run, 'tokenizer.json'));
  const model = new IvtModel(cfg, tok.pad);
  await loadCheckpoint(run, { params: model.ps.params, tag });
  return { model, tok, cfg };
}

/** A line of a run's metrics.jsonl: a training step, a stage-end evaluation or a stage-length check ("gate"). */
interface MetricsLine { step: number; stage: number; epoch: number; loss?: number; eval?: boolean; gate?: boolean; accuracy: number; extend?: boolean; restored?: boolean; reason?: string; settled?: boolean; mode: string }


export async function runDemo(o: DemoOptions): Promise<{ reportPath: string; summary: string }> {
  const t0 = performance.now();
  const log = o.log;
  await E.initEngine();
  const adapter = rt().dev.describe();
  mkdirSync(o.out, { recursive: true });
  const dataDir = join(o.out, 'data');
  const startBy = o.startBy ?? DEMO_START_BY, queries = o.queries ?? DEMO_QUERIES, wording = o.wording ?? DEMO_WORDING, minSteps = o.minSteps ?? DEMO_MIN_STEPS;
  const synth: Partial<SynthOptions> = { train: o.train, val: o.val, test: o.test, seed: o.seed, startBy, queries, wording, minSteps };
  if (!existsSync(join(dataDir, 'problems.json'))) {
    log(`[1/5] synthetic data: ${o.train} train, ${o.val} val, ${o.test} test problems`);
    await writeSynthDataset(dataDir, synth);
  } else {
    checkReusedData(dataDir, resolveSynthOptions(synth));
    log(`[1/5] synthetic data: reusing ${dataDir}`);
  }

  // A report from an earlier run would stand beside runs it does not describe if this one is
  // interrupted: it goes now. (results.json is written last: a report without it is incomplete.)
  rmSync(join(o.out, 'report'), { recursive: true, force: true });
  const runs = join(o.out, 'runs');
  const grounding = o.grounding ?? true;
  const base: TrainOptions = {
    data: dataDir, out: '', preset: o.preset, stages: 3, epochsPerStage: o.epochs, batch: o.batch, lr: o.lr, latentLr: o.latentLr, weightDecay: 0.01, clip: 1.0,
    resetOptimizer: o.resetOptimizer ?? true, seed: o.seed, checkpointEvery: 0, resume: false, mode: 'ivt', latent: FULL_LATENT, evalEachStage: false, logEvery: 25,
    alignWeight: grounding ? 1 : 0, captions: grounding, mixStages: o.mixStages ?? DEMO_MIX_STAGES, settleEpochs: o.settleEpochs ?? DEMO_SETTLE_EPOCHS, log: (s) => log(`    ${s}`),
  };
  const settle = base.settleEpochs ?? 0, settleLr = (o.latentLr ?? o.lr) * SETTLE_LR_FRACTION;
  const trainTimes: Record<string, number> = {};
  const timed = async (name: string, opts: TrainOptions) => {
    const s = performance.now();
    const r = await train(opts);
    trainTimes[name] = (performance.now() - s) / 1000;
    log(`    ${name}: ${r.state.step} steps, ${r.msPerStep.toFixed(0)} ms/step, ${(trainTimes[name]).toFixed(0)} s`);
    return r;
  };
  log('[2/5] curriculum: stage 0 (explicit CoT), then stages 1..3 (latent)');
  const ivtRun = join(runs, 'ivt');
  const maxEpochs0 = o.maxEpochs0 ?? DEMO_MAX_EPOCHS0, maxEpochs = o.maxEpochs ?? DEMO_MAX_EPOCHS;
  const main = await timed('curriculum (stages 0-3)', { ...base, out: ivtRun, epochsStage0: o.epochs0, maxEpochsStage0: maxEpochs0, maxEpochsPerStage: maxEpochs });
  // What each stage trained (its own epochs, or more where validation extended it).
  const stageEpochs = Array.from({ length: 4 }, (_, s) => main.trainedEpochs[s] ?? (s === 0 ? o.epochs0 : o.epochs));
  log(`    epochs by stage: ${stageEpochs.join(' / ')}${settle ? ` (then ${settle} settle epochs in each latent stage)` : ''}`);
  // Epochs of each latent stage, by curriculum (N latent stages).
  const curriculumEpochs = new Map<number, number[]>([[3, stageEpochs.slice(1)]]);
  log('[3/5] baselines and ablations');
  // No-CoT gets what the explicit-CoT model it is compared with got: the same problems and
  // captions for the same number of epochs (steps), answers instead of rationales. The
  // ablations of latent text and vision and the random-vision control get what the full
  // model's latent stages got, stage by stage; the shorter curricula decide their own (below).
  await timed('no-CoT', { ...base, out: join(runs, 'nocot'), mode: 'nocot', stages: 0, epochsPerStage: stageEpochs[0]! });
  if (o.ablations) {
    // Ablations branch off the curriculum's stage-0 weights and train stages 1..3 their way.
    const stage0 = { ...base, initFrom: ivtRun, initTag: 'stage-0', startStage: 1, stageEpochs };
    await timed('without latent text', { ...stage0, out: join(runs, 'no-text'), latent: { ...FULL_LATENT, latentText: false } });
    await timed('without latent vision', { ...stage0, out: join(runs, 'no-vision'), latent: { ...FULL_LATENT, latentVision: false } });
    // The control that tells the selection from the insertion: k image tokens drawn at random.
    await timed(RANDOM_VISION_LABEL, { ...stage0, out: join(runs, 'random-vision'), latent: { ...FULL_LATENT, randomVision: true } });
    // The shorter curricula are curricula in their own right: their stages are not the main
    // one's (a latent step of N = 2 carries what two of N = 3 carry), so they take the main
    // curriculum's rule for their lengths, not its decided lengths. Measured on seed 1: with
    // the main curriculum's 2 / 3 epochs, N = 2 ended at chance (21.0% on the test split), its
    // first latent step (both moves) not yet learned; under the rule it trains 8 + 8 epochs and
    // reaches 83.5% (docs/grounding.md, "Shorter curricula decide their own lengths").
    for (const n of FEWER_STAGES) {
      const r = await timed(`curriculum with ${stagesLabel(n)}`, { ...stage0, stages: n, stageEpochs: undefined, maxEpochsPerStage: maxEpochs, out: join(runs, `stages-${n}`) });
      curriculumEpochs.set(n, Array.from({ length: n }, (_, i) => r.trainedEpochs[i + 1] ?? o.epochs));
    }
  }

  log('[4/5] evaluation on the test split');
  const ds = await loadDataset(dataDir, { missingImage: 'error' });
  const testRecs = ds.records.filter((r) => r.split === 'test');
  const rows: ModeRow[] = [];
  const evalRow = async (label: string, run: string, tag: string | undefined, mode: EvalMode, latentSteps: number) => {
    const { model, tok, cfg } = await loadModel(run, tag);
    const samples = await toSamples(testRecs, tok, cfg);
    // Warmed up: a mode's first batch in the process pays its shader compilation, once, untimed.
    const r = await evaluate(model, samples, tok, mode, { latentSteps, batch: Math.min(64, o.batch * 2), numChoices: (i) => testRecs[i].choices.length, groupOf: (i) => stepsLabel(testRecs[i].steps.length), warmup: true });
    model.ps.dispose();
    const row = { ...r, label, run, tag: tag ?? 'latest' };
    rows.push(row);
    log(`    ${label.padEnd(28)} accuracy ${(100 * r.accuracy).toFixed(1).padStart(5)}%  passes ${r.avg_passes.toFixed(1).padStart(5)}  ${r.ms_per_question.toFixed(1).padStart(7)} ms/question`);
    return row;
  };
  const nocot = await evalRow('no-CoT', join(runs, 'nocot'), undefined, 'nocot', 0);
  const cot = await evalRow('explicit CoT (stage 0)', ivtRun, 'stage-0', 'cot', 0);
  const stageRows: ModeRow[] = [];
  for (let s = 1; s <= 3; s++) stageRows.push(await evalRow(`IVT-LR stage ${s}`, ivtRun, `stage-${s}`, 'ivt', s));
  const ivt = stageRows[2];
  const recompute = await evalRow('IVT-LR, no KV cache', ivtRun, 'stage-3', 'ivt-recompute', 3);
  // The final weights with fewer latent steps, the later steps written out: what stage mixing
  // keeps (unmixed, seed 1's final weights answered none of them).
  const byLatentCount: ModeRow[] = [];
  for (let n = 0; n < 3; n++) byLatentCount.push(await evalRow(latentCountLabel(n), ivtRun, 'stage-3', 'ivt', n));
  byLatentCount.push(ivt);
  let noText: ModeRow | null = null, noVision: ModeRow | null = null, randomVision: ModeRow | null = null;
  if (o.ablations) {
    noText = await evalRow('without latent text', join(runs, 'no-text'), undefined, 'ivt-no-text', 3);
    noVision = await evalRow('without latent vision', join(runs, 'no-vision'), undefined, 'ivt-no-vision', 3);
    randomVision = await evalRow(RANDOM_VISION_LABEL, join(runs, 'random-vision'), undefined, 'ivt-random-vision', 3);
  }
  // By number of latent stages: the shorter curricula's final models, then the main one's.
  const byStageCount: { stages: number; row: ModeRow }[] = [];
  if (o.ablations) {
    for (const n of FEWER_STAGES) byStageCount.push({ stages: n, row: await evalRow(`IVT-LR, ${stagesLabel(n)}`, join(runs, `stages-${n}`), undefined, 'ivt', n) });
    byStageCount.push({ stages: 3, row: ivt });
  }

  // What the explicit-CoT model has learned, skill by skill (teacher-forced, validation split):
  // says whether a chance-level accuracy comes from the image lookups or from the text.
  const valRecs = ds.records.filter((r) => r.split === 'val');
  const skills = await (async () => {
    const { model, tok, cfg } = await loadModel(ivtRun, 'stage-0');
    const samples = await toSamples(valRecs, tok, cfg);
    const groups = await diagnose(model, samples, tok, { batch: 32, synthetic: true });
    const share = await imageDependentShare(model, samples);
    model.ps.dispose();
    return { groups, share };
  })();
  // The final model's inputs by norm: the recycled state against a token embedding (METHOD.md);
  // and where latent vision looked: each latent step's selection against the chain's cells.
  const { norms, focus } = await (async () => {
    const { model, tok, cfg } = await loadModel(ivtRun, 'stage-3');
    const norms: InputNorms = await inputNorms(model, await toSamples(valRecs, tok, cfg), 3);
    const scenes = readScenes(dataDir);
    const focus = await visionFocus(model, await toSamples(testRecs, tok, cfg), testRecs.map((rec) => scenes.get(rec.id)!), 3);
    model.ps.dispose();
    return { norms, focus };
  })();
  const pct1 = (x: number) => `${(100 * x).toFixed(1)}%`;
  if (focus) log(`    stage 3, latent vision on the asked cell: attention share ${focus.asked.attention.map(pct1).join(' / ')}, inserted by then ${focus.asked.inserted.map(pct1).join(' / ')}`);
  log(`    stage 3, input norms: token embeddings ${norms.token.toFixed(2)}, image tokens ${norms.image.toFixed(2)}, recycled states ${norms.steps.map((st) => st.hidden.toFixed(2)).join(' / ')} fed back as ${norms.steps.map((st) => st.input.toFixed(2)).join(' / ')}`);
  for (const g of skills.groups) log(`    stage 0, teacher-forced: ${g.group.padEnd(42)} ${(100 * g.accuracy).toFixed(1).padStart(6)}% (another problem's picture: ${(100 * g.accuracyOtherImage).toFixed(1)}%)`);
  log(`    stage 0, image-dependent share of the image tokens: ${(100 * skills.share).toFixed(1)}%`);

  // Latency one question at a time (what a user waiting for an answer sees), plain greedy
  // decoding and with the answer line's template verified in one pass, on the first test problems.
  const latency = await runLatencyBench({
    run: ivtRun, data: dataDir, split: 'test', batch: 1, limit: Math.min(LATENCY_PROBLEMS, testRecs.length),
    load: async (tag?: string) => {
      const { model, tok, cfg } = await loadModel(ivtRun, tag);
      return { model, tok, latentSteps: cfg.latentSteps };
    },
    log: (s) => log(`    batch 1: ${s}`),
  });

  log('[5/5] report');
  const rep = join(o.out, 'report');
  mkdirSync(rep, { recursive: true });
  // Loss per step, with stage boundaries, from the curriculum's metrics log.
  const metrics = readFileSync(join(ivtRun, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as MetricsLine);
  const lossPts = metrics.filter((m) => !m.eval && m.loss !== undefined);
  const marks: { x: number; label: string }[] = [];
  lossPts.forEach((m, i) => { if (i === 0 || lossPts[i - 1].stage !== m.stage) marks.push({ x: m.step, label: `stage ${m.stage}` }); });
  await svgToPng(lineChartSvg('Training loss (curriculum run)', 'step', 'cross-entropy', [{ name: 'loss', points: smooth(lossPts.map((m) => ({ x: m.step, y: m.loss! })), 5) }], marks), join(rep, 'loss.png'));
  const accBars = [
    { label: 'no-CoT', value: 100 * nocot.accuracy, group: 5 },
    { label: 'CoT', value: 100 * cot.accuracy, group: 1 },
    ...stageRows.map((r, i) => ({ label: `IVT s${i + 1}`, value: 100 * r.accuracy, group: 0 })),
    ...(noText ? [{ label: 'no text', value: 100 * noText.accuracy, group: 3 }] : []),
    ...(noVision ? [{ label: 'no vision', value: 100 * noVision.accuracy, group: 4 }] : []),
    ...(randomVision ? [{ label: 'random vision', value: 100 * randomVision.accuracy, group: 4 }] : []),
    ...byStageCount.filter((c) => c.stages !== 3).map((c) => ({ label: `N=${c.stages}`, value: 100 * c.row.accuracy, group: 2 })),
  ];
  await svgToPng(barChartSvg('Test accuracy by mode and stage', 'accuracy (%)', accBars, (v) => `${v.toFixed(1)}`, 100), join(rep, 'accuracy.png'));
  await svgToPng(barChartSvg('Latency per question', 'ms per question', [
    { label: 'no-CoT', value: nocot.ms_per_question, group: 5 }, { label: 'explicit CoT', value: cot.ms_per_question, group: 1 },
    { label: 'IVT-LR', value: ivt.ms_per_question, group: 0 }, { label: 'IVT-LR no cache', value: recompute.ms_per_question, group: 2 },
  ], (v) => v.toFixed(1)), join(rep, 'latency.png'));
  // A few test images with the patches each latent step selected.
  const examples = await selectionExamples(ivtRun, testRecs.slice(0, 4), rep);

  const speedup = cot.ms_per_question / ivt.ms_per_question;
  const fewer = cot.avg_passes / ivt.avg_passes;
  // A latency comparison means something only between models that answer.
  // (With a margin for rounding: 0.31 + 0.1 is 0.41000000000000003 in binary.)
  const learned = Math.max(cot.accuracy, ivt.accuracy) >= nocot.accuracy + 0.1 - 1e-9;
  const table = [
    '| mode | weights | accuracy | forward passes / question | ms / question |',
    '|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.label} | ${r.run.split('/').pop()}:${r.tag} | ${(100 * r.accuracy).toFixed(1)}% | ${r.avg_passes.toFixed(1)} | ${r.ms_per_question.toFixed(1)} |`),
  ].join('\n');
  const minutes = (performance.now() - t0) / 60000;
  const md = [
    '# IVT-LR demo report',
    '',
    `Adapter: ${adapter}. Preset \`${o.preset}\`, ${o.train} training problems, batch ${o.batch}, lr ${o.lr}${o.latentLr !== undefined && o.latentLr !== o.lr ? ` (latent stages ${o.latentLr})` : ''}, AdamW state ${(o.resetOptimizer ?? true) ? 'reset at each stage' : 'carried across stages'}, epochs by stage ${stageEpochs.join(' / ')} (stage 0 from ${o.epochs0}${maxEpochs0 > o.epochs0 ? ` up to ${maxEpochs0}` : ''}, latent stages from ${o.epochs}${maxEpochs > o.epochs ? ` up to ${maxEpochs}` : ''}, see Training)${settle ? `, each latent stage then ${settle} settle epoch${settle === 1 ? '' : 's'} at lr ${settleLr}` : ''}, seed ${o.seed}; questions: ${queries.join(' and ')}, starting at ${startBy === 'cell' ? 'a named cell' : 'a named object'}, ${wording} rationale wording${minSteps < 3 ? `, chains of ${minSteps} to 3 steps mixed` : ''}; ${grounding ? 'grounding on (alignment objective, weight 1, and a caption of every training picture in stage 0)' : 'grounding off'}. Test split: ${testRecs.length} problems. Whole demo: ${minutes.toFixed(1)} minutes.`,
    '',
    '## Accuracy, forward passes and latency (test split)',
    '',
    table,
    '',
    `Evaluated in batches of ${Math.min(64, o.batch * 2)}. IVT-LR against explicit CoT: **${speedup.toFixed(2)}x lower latency**, **${fewer.toFixed(2)}x fewer forward passes**, accuracy ${(100 * (ivt.accuracy - cot.accuracy)).toFixed(1)} points. The KV cache against recomputing the prefix at every latent step: ${(recompute.ms_per_question / ivt.ms_per_question).toFixed(2)}x.${learned ? '' : ` Neither explicit CoT nor IVT-LR answers 10 points or more above the no-CoT baseline (${(100 * nocot.accuracy).toFixed(1)}%) here: these timings compare models that have not learned the task.`}`,
    '',
    ...(byStageCount.length ? [
      '### By number of latent stages',
      '',
      `The paper's stage-wise ablation: curricula with N = ${byStageCount.map((c) => c.stages).join(', ')} latent stages, each cutting the rationale into N steps (consecutive sentences merged, METHOD.md) and ending with all N latent; all branch off the same stage-0 weights, and each decides its stages' lengths by the main curriculum's rule (from ${o.epochs} epochs up to ${maxEpochs} while validation is more than ${EXTEND_TOLERANCE} point${EXTEND_TOLERANCE === 1 ? '' : 's'} below the best stage before; see Training). (The rows "IVT-LR stage s" above are instead the stages of one curriculum, with the steps after the s-th still written out.)`,
      '',
      '| latent stages N | weights | epochs by latent stage | accuracy | forward passes / question | ms / question |',
      '|---|---|---|---|---|---|',
      ...byStageCount.map((c) => `| ${c.stages} | ${c.row.run.split('/').pop()}:${c.row.tag} | ${(curriculumEpochs.get(c.stages) ?? []).join(' / ')} | ${(100 * c.row.accuracy).toFixed(1)}% | ${c.row.avg_passes.toFixed(1)} | ${c.row.ms_per_question.toFixed(1)} |`),
      '',
    ] : []),
    '### The final weights with fewer latent steps',
    '',
    `The stage-3 weights run with n latent steps and the steps after them written out (n = 0: explicit CoT). A curriculum trained stage by stage tends to work only at the latent count it was trained at last; stage mixing (${(o.mixStages ?? DEMO_MIX_STAGES) > 0 ? `here: each latent-stage batch trained at an earlier stage with probability ${o.mixStages ?? DEMO_MIX_STAGES}` : 'off in this run'}) is meant to keep the others.`,
    '',
    '| latent steps | accuracy | forward passes / question | ms / question |',
    '|---|---|---|---|',
    ...byLatentCount.map((r) => `| ${r.latentSteps} | ${(100 * r.accuracy).toFixed(1)}% | ${r.avg_passes.toFixed(1)} | ${r.ms_per_question.toFixed(1)} |`),
    '',
    ...byChainLength(rows, testRecs),
    '![accuracy](accuracy.png)',
    '',
    '![latency](latency.png)',
    '',
    `## Latency one question at a time`,
    '',
    `\`ivt bench latency --batch 1\` on the first ${latency.n} test problems (explicit CoT: stage-0 weights; IVT-LR: final stage):`,
    '',
    latencyMarkdown(latency).split('\n').slice(2).join('\n'),
    '',
    '## What the explicit-CoT model has learned',
    '',
    `Teacher-forced next-token accuracy of the stage-0 model on the ${valRecs.length} validation problems, by what each token needs (\`ivt diagnose\`), with each problem's own picture and with the next problem's picture: where the two are equal, the model predicts those tokens without looking at the image. Colours, shapes and digits have 4 values each: 25% is chance for the lookups.`,
    '',
    '| tokens | accuracy | with another picture | count |',
    '|---|---|---|---|',
    ...skills.groups.map((g) => `| ${g.group} | ${(100 * g.accuracy).toFixed(1)}% | ${(100 * g.accuracyOtherImage).toFixed(1)}% | ${g.total} |`),
    '',
    `Image-dependent share of the image tokens (variance across pictures over mean square, the rest being the same vector for every picture): ${(100 * skills.share).toFixed(1)}%.`,
    '',
    '## What the language model reads, by norm',
    '',
    `Mean L2 norms with the stage-3 weights on the ${valRecs.length} validation problems (\`ivt diagnose\`). A recycled hidden state can be far larger than a token embedding (METHOD.md: reported for Coconut, with instability and poor transfer to other latent counts); the model feeds it back through a learned per-dimension scale.`,
    '',
    '| input | norm |',
    '|---|---|',
    `| token embeddings (the prompts' tokens) | ${norms.token.toFixed(3)} |`,
    `| image tokens | ${norms.image.toFixed(3)} |`,
    ...norms.steps.map((st, i) => `| latent step ${i + 1}: hidden state / fed back after the scale | ${st.hidden.toFixed(3)} / ${st.input.toFixed(3)} |`),
    '',
    '## Training',
    '',
    ...gateLines(metrics, settle, settleLr),
    Object.entries(trainTimes).map(([k, v]) => `- ${k}: ${v.toFixed(0)} s`).join('\n'),
    '',
    '![loss](loss.png)',
    '',
    '## What latent vision looked at',
    '',
    ...(focus ? [
      `Each latent step inserts the ${focus.k} image embeddings (of ${focus.tokens}) that the position before its slot attends to most, summed over layers and heads, leaving out those inserted at earlier steps. The chain's cells are known here, so this measures whether that attention is on them (\`ivt diagnose\`, stage-3 weights, the ${testRecs.length} test problems): the mean share of each step's attention onto the prompt's image tokens (not the copies inserted at latent steps) that goes to each cell (${(100 / focus.tokens).toFixed(1)}% where it is spread evenly), and the share of problems whose cell has been inserted by that step (random selections: ${randomInserted(focus).map((x) => `${(100 * x).toFixed(0)}%`).join(', ')}).`,
      '',
      ...visionFocusMarkdown(focus),
      '',
    ] : []),
    'Test images with the image patches selected at each latent step outlined (colour and number = step).',
    '',
    ...examples.map((e) => `![example](${e})`),
    '',
  ].join('\n');
  writeAtomic(join(rep, 'report.md'), md);
  writeAtomic(join(rep, 'results.json'), JSON.stringify({ adapter, options: { ...o, log: undefined }, rows, by_stage_count: byStageCount.map((c) => ({ stages: c.stages, label: c.row.label, stage_epochs: curriculumEpochs.get(c.stages), accuracy: c.row.accuracy, avg_passes: c.row.avg_passes, ms_per_question: c.row.ms_per_question })), by_latent_count: byLatentCount.map((r) => ({ latent_steps: r.latentSteps, accuracy: r.accuracy, avg_passes: r.avg_passes, ms_per_question: r.ms_per_question })), stage_epochs: stageEpochs, speedup_latency: speedup, fewer_passes: fewer, stage0_skills: skills.groups, stage0_image_dependent_share: skills.share, input_norms: norms, vision_focus: focus, latency_batch1: latency, train_seconds: trainTimes, minutes }, null, 2) + '\n');
  return { reportPath: join(rep, 'report.md'), summary: table };
}

/**
 * A rerun into the same --out reuses its data only if it was generated with the options asked
 * for now; otherwise the runs would silently train on other problems than the report names.
 */
export function checkReusedData(dataDir: string, want: SynthOptions): void {
  const file = join(dataDir, 'synth.json');
  if (!existsSync(file)) throw new UserError(`${dataDir} holds a dataset without synth.json (not written by ivt data synth or ivt demo); use another --out`);
  const raw = readJsonFile(file);
  if (!isObject(raw)) throw new UserError(`${file}: must be a JSON object`);
  // Resolved like a request, so a knob added after the data was written reads as its default.
  let had: SynthOptions;
  try {
    had = resolveSynthOptions(raw as Partial<SynthOptions>);
  } catch (e) {
    throw new UserError(`${file}: ${(e as Error).message}`);
  }
  for (const [key, value] of Object.entries(want)) {
    const before = (had as unknown as Record<string, unknown>)[key];
    if (JSON.stringify(before) !== JSON.stringify(value)) {
      throw new UserError(`${file}: the data in ${dataDir} was generated with ${key} ${JSON.stringify(before)}, this demo asks for ${JSON.stringify(value)}; use another --out, or delete ${dataDir} to regenerate it`);
    }
  }
}

/**
 * Every mode's accuracy per chain length (mixed-length data only): which lengths each
 * curriculum solves, e.g. whether one latent step carries more than one hop.
 */
function byChainLength(rows: ModeRow[], testRecs: ProblemRecord[]): string[] {
  const lengths = [...new Set(testRecs.map((r) => r.steps.length))].sort((a, b) => a - b);
  if (lengths.length < 2) return [];
  const count = (n: number) => testRecs.filter((r) => r.steps.length === n).length;
  return [
    '### By chain length',
    '',
    `Accuracy by the number of reasoning steps a problem's rationale has (test split: ${lengths.map((n) => `${count(n)} of ${stepsLabel(n)}`).join(', ')}).`,
    '',
    `| mode | ${lengths.map(stepsLabel).join(' | ')} |`,
    `|---|${lengths.map(() => '---|').join('')}`,
    ...rows.map((r) => `| ${r.label} | ${lengths.map((n) => {
      const g = r.by_group?.[stepsLabel(n)];
      return g ? `${(100 * g.accuracy).toFixed(1)}%` : '-';
    }).join(' | ')} |`),
    '',
  ];
}

/**
 * The curriculum's validation checks that decided each stage's length (the trainer's "gate"
 * lines in metrics.jsonl), as a table; nothing when no stage could be extended.
 */
function gateLines(metrics: MetricsLine[], settle: number, settleLr: number): string[] {
  const gates = metrics.filter((m) => m.gate);
  if (!gates.length) return [];
  const settling = settle > 0 ? ` Then it trains ${settle} settle epoch${settle === 1 ? '' : 's'} at lr ${settleLr} and is checked once more: the check the next stage is held to.` : '';
  return [
    `Stage lengths: stage 0 goes on past its epochs until its best validation accuracy (explicit CoT; a new best must beat the old by ${EXTEND_MIN_GAIN} point${EXTEND_MIN_GAIN === 1 ? '' : 's'}) is ${EXTEND_PATIENCE} epochs old, and ends with the weights of that best epoch; a latent stage goes on while its validation accuracy is more than ${EXTEND_TOLERANCE} point${EXTEND_TOLERANCE === 1 ? '' : 's'} below the best stage before it, and one that reaches its most epochs still below ends with the weights of its best check.${settling} The validation checks:`,
    '',
    '| stage | after epoch | validation accuracy | mode | decision |',
    '|---|---|---|---|---|',
    ...gates.map((g) => `| ${g.stage} | ${g.epoch === 0 ? 'start (reference)' : g.epoch} | ${(100 * g.accuracy).toFixed(1)}% | ${g.mode} | ${g.restored ? `these weights restored: ${settle > 0 && g.stage > 0 ? 'the settle epochs start from them' : 'the stage ends with them'}` : g.restored === false ? `not restored (${g.reason ?? 'not on disk'}): ${settle > 0 && g.stage > 0 ? 'the settle epochs start from' : 'the stage ends with'} its last weights` : g.settled ? 'after the settle epochs: the stage ends' : g.extend === undefined ? '-' : g.extend ? 'one more epoch' : settle > 0 && g.stage > 0 ? 'settle epochs next' : 'stage done'} |`),
    '',
  ];
}

/** The row label of the final weights run with n latent steps (the rest written). */
export function latentCountLabel(n: number): string {
  return `IVT-LR stage-3 weights, ${n} latent step${n === 1 ? '' : 's'}`;
}

function stagesLabel(n: number): string {
  return `${n} latent stage${n === 1 ? '' : 's'}`;
}

function smooth(pts: { x: number; y: number }[], k: number): { x: number; y: number }[] {
  return pts.map((p, i) => {
    const w = pts.slice(Math.max(0, i - k + 1), i + 1);
    return { x: p.x, y: w.reduce((a, q) => a + q.y, 0) / w.length };
  });
}

async function selectionExamples(run: string, recs: ProblemRecord[], dir: string): Promise<string[]> {
  const { model, tok, cfg } = await loadModel(run);
  const samples = await toSamples(recs, tok, cfg);
  const s = modeSettings('ivt', cfg.latentSteps);
  const g = await generate(model, samples, { latentSteps: s.steps, latent: s.latent, maxNewTokens: s.maxNew, eos: tok.eos, stop: answerStops(tok, 26), withSelections: true });
  const files: string[] = [];
  for (let b = 0; b < recs.length; b++) {
    const r = recs[b];
    if (!r.imagePath) continue;
    const pred = extractAnswer(generatedText(tok, g.tokens[b]!), r.choices.length);
    const name = `example-${b + 1}.png`;
    await selectionPng(r.imagePath, cfg.imageSize / cfg.patch, g.selections.map((st) => st[b]), [
      r.question.slice(0, 90),
      `choices: ${r.choices.map((c, i) => `(${String.fromCharCode(65 + i)}) ${c}`).join(' ')}`,
      `gold: ${String.fromCharCode(65 + r.answerIndex)}   IVT-LR: ${pred >= 0 ? String.fromCharCode(65 + pred) : 'none'}`,
    ], join(dir, name));
    files.push(name);
  }
  model.ps.dispose();
  return files;
}
