// The staged curriculum trainer (METHOD.md "Training"). Stage 0 trains on full explicit CoT;
// stage s replaces the first s steps by s latent steps and supervises the remaining steps and
// the answer. Checkpoints at stage ends and every M steps hold weights, optimizer state and
// the data position (the data order is a pure function of seed, stage and epoch), so
// --resume continues exactly where the last checkpoint left off.
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as E from '../engine/index.js';
import { UserError } from '../engine/errors.js';
import { rt } from '../engine/tensor.js';
import { IvtConfig, preset, validateConfig } from '../model/config.js';
import { FULL_LATENT, IvtModel, LatentOptions, Sample } from '../model/ivt.js';
import { InitRng } from '../model/nn.js';
import { loadDataset, ProblemRecord } from './data/index.js';
import { evaluate, EvalResult } from './eval.js';
import { toSamples } from './samples.js';
import { buildTokenizer, Tokenizer, trainingTexts } from './tokenizer.js';
import { latestTag, loadCheckpoint, saveCheckpoint } from './checkpoint.js';

export type TrainMode = 'ivt' | 'nocot';

export interface TrainOptions {
  data: string;
  out: string;
  preset: string;
  overrides?: Partial<IvtConfig>;
  /** Latent stages after stage 0 (default 3). */
  stages: number;
  epochsPerStage: number;
  /** Epochs of stage 0 if different (explicit CoT is the hardest stage to learn from scratch). */
  epochsStage0?: number;
  batch: number;
  lr: number;
  weightDecay: number;
  clip: number;
  resetOptimizer: boolean;
  seed: number;
  /** Checkpoint every this many steps (0: only at stage ends). */
  checkpointEvery: number;
  resume: boolean;
  mode: TrainMode;
  latent: LatentOptions;
  /** Stage to start from when not resuming (e.g. ablations start at 1 from a stage-0 run's weights). */
  startStage?: number;
  /** Initialise weights from another run's checkpoint (ablations branch off stage 0). */
  initFrom?: string;
  initTag?: string;
  /** Use at most this many training / validation problems (0: all). */
  maxTrain?: number;
  maxVal?: number;
  evalEachStage: boolean;
  /** Print progress every this many steps when not on a terminal. */
  logEvery: number;
  /** Hard stop after this many optimizer steps in this process (testing crash/resume). */
  stopAfterSteps?: number;
  log?: (line: string) => void;
}

export interface TrainState {
  stage: number;
  epoch: number;
  /** Next batch index within the epoch. */
  batchIndex: number;
  step: number;
  skippedSteps: number;
  done: boolean;
}

export interface TrainResult {
  runDir: string;
  state: TrainState;
  evals: { stage: number; result: EvalResult }[];
  msPerStep: number;
  tokensPerSecond: number;
}

/** Deterministic shuffle of [0, n) for (seed, stage, epoch). */
export function epochOrder(n: number, seed: number, stage: number, epoch: number): number[] {
  const rng = new InitRng((seed * 1000003 + stage * 7919 + epoch * 104729) >>> 0);
  const idx = [...Array(n).keys()];
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng.uniform() * (i + 1));
    [idx[i], idx[j]] = [idx[j], idx[i]];
  }
  return idx;
}

function writeJsonAtomic(path: string, value: unknown): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify(value, null, 2) + '\n');
  renameSync(tmp, path);
}

export async function prepareRun(o: TrainOptions): Promise<{ tok: Tokenizer; cfg: IvtConfig; train: ProblemRecord[]; val: ProblemRecord[] }> {
  const ds = await loadDataset(o.data, { missingImage: 'text-only' });
  let train = ds.records.filter((r) => r.split === 'train');
  let val = ds.records.filter((r) => r.split === 'val');
  if (o.maxTrain) train = train.slice(0, o.maxTrain);
  if (o.maxVal) val = val.slice(0, o.maxVal);
  if (train.length === 0) throw new UserError(`${o.data}: no training problems`);
  const runTok = join(o.out, 'tokenizer.json');
  const runCfg = join(o.out, 'config.json');
  let tok: Tokenizer;
  let cfg: IvtConfig;
  if (o.resume && existsSync(runCfg)) {
    tok = Tokenizer.load(runTok);
    cfg = JSON.parse(readFileSync(runCfg, 'utf8')) as IvtConfig;
    validateConfig(cfg, runCfg);
  } else if (o.initFrom) {
    tok = Tokenizer.load(join(o.initFrom, 'tokenizer.json'));
    cfg = JSON.parse(readFileSync(join(o.initFrom, 'config.json'), 'utf8')) as IvtConfig;
    validateConfig(cfg, join(o.initFrom, 'config.json'));
  } else {
    tok = buildTokenizer(trainingTexts(train));
    cfg = preset(o.preset, tok.vocabSize, { ...o.overrides, latentSteps: o.stages });
  }
  return { tok, cfg, train, val };
}

export async function train(o: TrainOptions): Promise<TrainResult> {
  const log = o.log ?? ((s: string) => console.log(s));
  await E.initEngine();
  mkdirSync(o.out, { recursive: true });
  const { tok, cfg, train: trainRecs, val: valRecs } = await prepareRun(o);
  if (!o.resume || !existsSync(join(o.out, 'config.json'))) {
    writeJsonAtomic(join(o.out, 'config.json'), cfg);
    tok.save(join(o.out, 'tokenizer.json'));
    writeJsonAtomic(join(o.out, 'options.json'), { ...o, log: undefined });
  }
  const trainSamples = await toSamples(trainRecs, tok, cfg);
  const valSamples = await toSamples(valRecs, tok, cfg);
  const model = new IvtModel(cfg, tok.pad);
  const opt = new E.AdamW(model.ps.list(), { lr: o.lr, weightDecay: o.weightDecay, maxGradNorm: o.clip, beta1: 0.9, beta2: 0.999 });
  const metricsPath = join(o.out, 'metrics.jsonl');
  let state: TrainState = { stage: o.startStage ?? 0, epoch: 0, batchIndex: 0, step: 0, skippedSteps: 0, done: false };
  if (o.resume && latestTag(o.out)) {
    const ck = await loadCheckpoint(o.out, { params: model.ps.params, optimizer: opt });
    state = ck.trainState as unknown as TrainState;
    log(`resumed from checkpoint ${ck.tag}: stage ${state.stage}, epoch ${state.epoch}, batch ${state.batchIndex}, step ${state.step}`);
    truncateMetrics(metricsPath, state.step);
  } else {
    if (o.initFrom) {
      const ck = await loadCheckpoint(o.initFrom, { params: model.ps.params, tag: o.initTag });
      log(`initialised weights from ${o.initFrom} (${ck.tag})`);
    }
    writeFileSync(metricsPath, '');
  }
  const evals: { stage: number; result: EvalResult }[] = [];
  const batchesPerEpoch = Math.ceil(trainSamples.length / o.batch);
  const lastStage = o.mode === 'nocot' ? 0 : o.stages;
  let stepsThisRun = 0, tokens = 0;
  const t0 = performance.now();
  const tty = process.stdout.isTTY;
  const epochsOf = (stage: number) => (stage === 0 && o.epochsStage0 ? o.epochsStage0 : o.epochsPerStage);
  let totalSteps = 0;
  for (let s = o.startStage ?? 0; s <= lastStage; s++) totalSteps += epochsOf(s) * batchesPerEpoch;

  const checkpoint = async (tag: string) => {
    await saveCheckpoint(o.out, { tag, params: model.ps.params, optimizer: opt, config: cfg, trainState: { ...state } as unknown as Record<string, unknown>, tokenizerJson: tok.toJSON() as unknown as Record<string, unknown> });
  };

  while (!state.done) {
    const order = epochOrder(trainSamples.length, o.seed, state.stage, state.epoch);
    while (state.batchIndex < batchesPerEpoch) {
      const idx = order.slice(state.batchIndex * o.batch, (state.batchIndex + 1) * o.batch);
      const batch: Sample[] = idx.map((i) => trainSamples[i]);
      const s0 = performance.now();
      const [lossT, normT] = E.tidy(() => {
        opt.zeroGrad();
        const loss = model.loss(batch, state.stage, o.latent, o.mode === 'nocot');
        E.backward(loss);
        opt.update();
        return [E.keep(E.noGrad(() => E.clone(loss))), E.keep(E.noGrad(() => E.clone(opt.gradNorm)))];
      });
      const [loss, norm] = [await lossT.item(), await normT.item()];
      lossT.dispose();
      normT.dispose();
      const ms = performance.now() - s0;
      const batchTokens = batch.reduce((a, s) => a + s.prompt.length + model.J + s.steps.flat().length + s.answer.length, 0);
      tokens += batchTokens;
      state.batchIndex++;
      state.step++;
      stepsThisRun++;
      if (!Number.isFinite(norm) || !Number.isFinite(loss)) {
        // The AdamW kernel already skipped the update (non-finite norm); stop if it persists.
        state.skippedSteps++;
        log(`step ${state.step}: non-finite ${!Number.isFinite(loss) ? 'loss' : 'gradient norm'}; update skipped (${state.skippedSteps} so far)`);
        if (state.skippedSteps >= 10) throw new Error(`training diverged: ${state.skippedSteps} steps with non-finite loss or gradients; last checkpoint kept`);
      }
      const pool = rt().stats().pool;
      const rec = { step: state.step, stage: state.stage, epoch: state.epoch, loss, grad_norm: norm, ms, tokens_per_s: (batchTokens / ms) * 1000, gpu_in_use_bytes: pool.inUseBytes, gpu_allocated_bytes: pool.allocatedBytes };
      appendFileSync(metricsPath, JSON.stringify(rec) + '\n');
      const elapsed = (performance.now() - t0) / 1000;
      const eta = (elapsed / stepsThisRun) * Math.max(totalSteps - state.step, 0);
      const line = `stage ${state.stage} epoch ${state.epoch + 1}/${epochsOf(state.stage)} step ${state.step}/${totalSteps}  loss ${loss.toFixed(4)}  ${(rec.tokens_per_s).toFixed(0)} tok/s  ETA ${eta.toFixed(0)}s`;
      if (tty) process.stdout.write(`\r${line}   `);
      else if (state.step % o.logEvery === 0) log(line);
      if (o.checkpointEvery > 0 && state.step % o.checkpointEvery === 0) await checkpoint(`step-${String(state.step).padStart(6, '0')}`);
      if (o.stopAfterSteps !== undefined && stepsThisRun >= o.stopAfterSteps) {
        if (tty) process.stdout.write('\n');
        return { runDir: o.out, state, evals, msPerStep: (performance.now() - t0) / stepsThisRun, tokensPerSecond: tokens / ((performance.now() - t0) / 1000) };
      }
    }
    state.batchIndex = 0;
    state.epoch++;
    if (state.epoch < epochsOf(state.stage)) continue;
    // Stage end: evaluate, checkpoint, advance.
    if (tty) process.stdout.write('\n');
    const finished = state.stage;
    if (o.evalEachStage && valSamples.length) {
      const mode = o.mode === 'nocot' ? 'nocot' : finished === 0 ? 'cot' : !o.latent.latentText ? 'ivt-no-text' : !o.latent.latentVision ? 'ivt-no-vision' : 'ivt';
      const result = await evaluate(model, valSamples, tok, mode, { latentSteps: finished, batch: Math.min(o.batch * 2, 64) });
      evals.push({ stage: finished, result });
      appendFileSync(metricsPath, JSON.stringify({ eval: true, step: state.step, stage: finished, ...result }) + '\n');
      log(`stage ${finished} done: val accuracy ${(result.accuracy * 100).toFixed(1)}% (${mode}, ${result.avg_passes.toFixed(1)} passes/question)`);
    }
    state.epoch = 0;
    state.stage++;
    state.done = state.stage > lastStage;
    // Reset before the checkpoint, so a resumed run continues with the same optimizer state.
    if (!state.done && o.resetOptimizer) opt.resetState();
    await checkpoint(`stage-${finished}`);
  }
  const msPerStep = stepsThisRun ? (performance.now() - t0) / stepsThisRun : 0;
  const result = { runDir: o.out, state, evals, msPerStep, tokensPerSecond: tokens / ((performance.now() - t0) / 1000) };
  opt.destroy();
  return result;
}

/** On resume, drop metric lines past the checkpoint so the log has each step once. */
function truncateMetrics(path: string, step: number): void {
  if (!existsSync(path)) return;
  const keep = readFileSync(path, 'utf8').split('\n').filter((l) => {
    if (!l.trim()) return false;
    try {
      return (JSON.parse(l) as { step: number }).step <= step;
    } catch {
      return false; // a line cut by a crash
    }
  });
  writeFileSync(path, keep.map((l) => l + '\n').join(''));
}

export const DEFAULT_LATENT = FULL_LATENT;
