// The staged curriculum trainer (METHOD.md "Training"). Stage 0 trains on full explicit CoT;
// stage s replaces the first s steps by s latent steps and supervises the remaining steps and
// the answer. Checkpoints at stage ends and every M steps hold weights, optimizer state and
// the data position (the data order is a pure function of seed, stage and epoch), so
// --resume continues exactly where the last checkpoint left off.
//
// Failure handling: the data, tokenizer and images are validated before the engine starts or
// anything is written to the run folder, so bad input leaves no half-made run. A non-finite
// loss or gradient norm skips the update (the AdamW kernel refuses a non-finite norm), is
// logged, and after MAX_BAD_STEPS such steps the run stops with TrainingAborted. A GPU fault
// (device loss, uncaptured GPU error: GpuError at the next sync) also stops it with
// TrainingAborted naming the last checkpoint, which is never touched by a failing step.
//
// Fault injection (tests only): IVT_FAULT_AT_STEP=n destroys the GPU device just before
// optimizer step n is computed, simulating device loss mid-run (IVT_FAULT_KIND=error: an
// uncaptured GPU validation error instead).
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import * as E from '../engine/index.js';
import { GpuError, UserError } from '../engine/errors.js';
import { fsyncFile, writeFileAtomic } from '../engine/atomic_file.js';
import { fmtBytes } from '../engine/memory.js';
import { rt } from '../engine/tensor.js';
import { IvtConfig, imageTokens, preset, validateConfig } from '../model/config.js';
import { IvtModel, LatentOptions, Sample } from '../model/ivt.js';
import { InitRng } from '../model/nn.js';
import { loadDataset, MAX_STEPS, ProblemRecord, type MissingImagePolicy } from './data/index.js';
import { evaluate, EvalMode, EvalResult } from './eval.js';
import { CAPTION_PROMPT, captionSample, toSamples } from './samples.js';
import { readScenes } from './data/synth/lookups.js';
import { captionSentences, cellWords, type Scene } from './data/synth/scene.js';
import { buildTrainingTokenizer, stepText, Tokenizer } from './tokenizer.js';
import { latestTag, loadCheckpoint, readCheckpointState, saveCheckpoint } from './checkpoint.js';

export type TrainMode = 'ivt' | 'nocot';

export interface TrainOptions {
  data: string;
  out: string;
  preset: string;
  overrides?: Partial<IvtConfig>;
  /** Latent stages after stage 0 (default 3). */
  stages: number;
  /**
   * Image embeddings selected per latent step (default: the preset's, the --init-from run's or the resumed run's).
   * No weight depends on it, so a run branching off another run's stage 0 may change it (the
   * paper's ablation over k).
   */
  topK?: number;
  epochsPerStage: number;
  /** Epochs of stage 0 if different (explicit CoT is the hardest stage to learn from scratch). */
  epochsStage0?: number;
  batch: number;
  lr: number;
  /**
   * Learning rate of the latent stages (default: lr). Each latent stage adapts a trained model
   * to one more latent step; a step the size that trains stage 0 from scratch can leave the new
   * skill (reading the picture at a latent position) stuck at chance (docs/grounding.md).
   */
  latentLr?: number;
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
  /** Add GPU memory-pool statistics to every progress line. */
  verbose?: boolean;
  /**
   * A problem whose image file does not exist: 'error' (the default: the dataset is broken),
   * 'skip' it, or train on it 'text-only' (a blank picture; no grounding from its scene).
   */
  missingImage?: MissingImagePolicy;
  /**
   * Weight of the alignment objective (IvtModel.alignmentLoss; 0: off). It needs to know what
   * each patch shows, so it applies only to synthetic datasets (their scenes).
   */
  alignWeight?: number;
  /** Mix a caption of every training picture into stage 0 (synthetic datasets only). */
  captions?: boolean;
  /**
   * Adaptive latent steps (IvtConfig.adaptiveLatents): a count head learns each problem's number
   * of reasoning steps from its prompt, and at stage s a problem of m steps trains with
   * min(s, m) latent steps (batches of one count each) instead of s; inference then runs the
   * count the head chooses. A new run has them when true; a branch (initFrom) inherits its
   * source's unless false, which drops the count head.
   */
  adaptiveLatents?: boolean;
  /**
   * Epochs of each stage, indexed by stage (overrides epochsPerStage and epochsStage0 where
   * given). The demo trains its ablations with the epochs the full curriculum used.
   */
  stageEpochs?: readonly number[];
  /**
   * Extend a stage past its epochs, one epoch at a time, up to this many (stage 0:
   * maxEpochsStage0; latent stages: maxEpochsPerStage), while the validation rule of
   * extendStage says the stage has not finished learning. Unset: no extension.
   */
  maxEpochsPerStage?: number;
  maxEpochsStage0?: number;
  /**
   * A latent stage is extended while its validation accuracy is more than this many points below
   * the best of the stages before it (TrainState.referenceAccuracy; default EXTEND_TOLERANCE).
   */
  extendTolerance?: number;
  /**
   * Stage 0 is extended until its best validation accuracy is extendPatience epochs old (default
   * EXTEND_PATIENCE); a new best must beat the old one by extendMinGain points (default
   * EXTEND_MIN_GAIN). The same gain decides which check counts as a latent stage's best (the
   * weights it ends with if it runs out of epochs below it).
   */
  extendMinGain?: number;
  extendPatience?: number;
  /**
   * Stage mixing (Coconut's remedy for models that only work at the latent count they were last
   * trained at): in a latent stage, each batch is trained with this probability at an earlier
   * stage instead, drawn uniformly from 0..stage-1 (mixedStage). 0 or unset: off.
   */
  mixStages?: number;
  /**
   * Optimizer steps per stage instead of epochs (stage 0: stepsStage0 if given). A stage then
   * ends after that many steps, mid-epoch if need be; the data order is the epochs' as ever, so
   * a stage longer than an epoch goes on into the next one. Not with the epoch-based stage
   * lengths (stageEpochs, maxEpochsPerStage, maxEpochsStage0).
   */
  stepsPerStage?: number;
  stepsStage0?: number;
  /**
   * Each latent stage ends with this many epochs at settleLr, after the epochs --epochs or the
   * validation rule gave it (and after the restore of its best weights where it ran out of
   * epochs below them); then it is validated once more. Why: at the latent rate, which a new
   * latent skill needs to appear at all, the validation accuracy of a stage that has learned its
   * skill swings by points from epoch to epoch, and no number of further epochs at that rate
   * settles it (docs/grounding.md, "Latent stages settle at a lower rate"). 0 or unset: off.
   */
  settleEpochs?: number;
  /** The settle epochs' learning rate (default: a quarter of the latent stages' rate). */
  settleLr?: number;
  log?: (line: string) => void;
}

/** TrainOptions.settleLr's default, as a fraction of the latent stages' rate. */
export const SETTLE_LR_FRACTION = 0.25;

/**
 * Defaults of TrainOptions.extendTolerance and .extendMinGain (accuracy points). A latent step
 * should cost next to nothing against the written one, so a latent stage is held to within 1
 * point of the best stage before it. Measured against the stage just before with 2 points (the
 * rule until then), the allowance added up over the stages: the demo's seeds 4 and 5 ended
 * stage 3 at 97 and 98% on validation against explicit CoT's 99 and 100%, and at 95.5 and 95.0%
 * on the test split (explicit CoT 99.5%), while 4 epochs of stage 3 gave 97.0 and 98.5%
 * (docs/grounding.md, "Held to the best stage before"). On the demo's 100 validation problems
 * 1 point is one problem; a chance dip below it costs an extra epoch, not a wrong result.
 */
export const EXTEND_TOLERANCE = 1;
export const EXTEND_MIN_GAIN = 1;
/**
 * Stage 0's patience in epochs. Why not 1 (stop at the first epoch without a gain): the demo's
 * seed 2 went from 84% to 78% between epochs 8 and 9 and stopped there, explicit CoT at 79.0%
 * on the test split, a model still learning.
 */
export const EXTEND_PATIENCE = 2;

/** The checkpoint holding a stage's best weights so far while it may be extended (not `latest`). */
export const bestTag = (stage: number) => `stage-${stage}-best`;
export const BEST_STAGE0_TAG = bestTag(0);

/** Epochs of a stage before any extension (TrainOptions.stageEpochs, epochsStage0, epochsPerStage). */
export function epochsOfStage(o: Pick<TrainOptions, 'stageEpochs' | 'epochsStage0' | 'epochsPerStage'>, stage: number): number {
  return o.stageEpochs?.[stage] ?? (stage === 0 && o.epochsStage0 ? o.epochsStage0 : o.epochsPerStage);
}

/** Optimizer steps of a stage when stages are measured in steps (TrainOptions.stepsPerStage), else null. */
export function stepsOfStage(o: Pick<TrainOptions, 'stepsPerStage' | 'stepsStage0'>, stage: number): number | null {
  return (stage === 0 ? o.stepsStage0 ?? o.stepsPerStage : o.stepsPerStage) ?? null;
}

/** The most epochs a stage may train: its own, or more where extension is on. */
export function maxEpochsOfStage(o: Pick<TrainOptions, 'stageEpochs' | 'epochsStage0' | 'epochsPerStage' | 'maxEpochsStage0' | 'maxEpochsPerStage'>, stage: number): number {
  return Math.max(epochsOfStage(o, stage), (stage === 0 ? o.maxEpochsStage0 : o.maxEpochsPerStage) ?? 0);
}

/**
 * Whether a stage that has trained its epochs gets one more (TrainOptions.maxEpochsPerStage).
 * Why a validation rule rather than more fixed epochs: the skill a stage adds appears suddenly
 * and at a different epoch for each seed (the picture read at a latent position: epoch 1 for
 * one seed, epoch 3-4 for another, docs/grounding.md), so a fixed budget either wastes time
 * on most seeds or fails on some. Stage 0 learns explicit CoT from scratch and has nothing to
 * compare with: it goes on while it still improves (early stopping with patience: until its
 * best accuracy is `patience` epochs old; bestEpoch 0 is the starting weights). A latent stage
 * replaces one written step by a latent one, which should cost little: it goes on while it is
 * clearly below the best stage before it (referenceAccuracy; the best, not the last, so that
 * small shortfalls cannot add up over the stages). Accuracies in points (0-100).
 */
export function extendStage(a: { stage: number; epoch: number; maxEpochs: number; accuracy: number; bestEpoch?: number; patience: number; referenceAccuracy?: number; tolerance: number }): boolean {
  if (a.epoch >= a.maxEpochs) return false;
  if (a.stage === 0) return a.bestEpoch !== undefined && a.epoch - a.bestEpoch < a.patience;
  return a.referenceAccuracy !== undefined && a.accuracy < a.referenceAccuracy - a.tolerance;
}

/**
 * The reference of a latent stage's extension rule once another stage's validation accuracy
 * (points) is known: the best so far. (A stage that ended without a measurement leaves it as it
 * was; the next latent stage then measures that stage on its starting weights and adds it here.)
 */
export function referenceAfterStage(reference: number | undefined, measured: number): number {
  return Math.max(measured, reference ?? measured);
}

export interface TrainState {
  stage: number;
  epoch: number;
  /** Next batch index within the epoch. */
  batchIndex: number;
  step: number;
  skippedSteps: number;
  done: boolean;
  /** Epochs of the current stage once extended past its own (TrainOptions.maxEpochsPerStage). */
  stageEpochs?: number;
  /**
   * The current stage's best validation accuracy so far (points) and the epoch it was reached,
   * where the stage may be extended: stage 0's extension rule, and the weights a stage ends with
   * (stage 0: whenever its best is older than its last epoch; a latent stage: when its last
   * check is lower).
   */
  bestAccuracy?: number;
  bestEpoch?: number;
  /**
   * The step at which that best was kept aside (checkpoint bestTag(stage)): what ties the
   * snapshot on disk to this state. A run killed after writing a newer snapshot but before its
   * next checkpoint resumes from a state whose best is older; a resumed run that does not reach
   * the same best again (another adapter's arithmetic) must not end with the other's weights.
   */
  bestStep?: number;
  /**
   * The best validation accuracy (points) of the stages before the current one (a latent stage's
   * extension rule). A run that starts at a latent stage (branching off another run) measures the
   * stage before on its starting weights.
   */
  referenceAccuracy?: number;
  /** The last stage whose validation accuracy referenceAccuracy includes. */
  referenceStage?: number;
  /** Epochs each finished stage trained, by stage (null: not trained in this run); with steps per stage, the epochs it began. */
  trainedEpochs?: (number | null)[];
  /** Optimizer steps taken in the current stage (TrainOptions.stepsPerStage). */
  stageStep?: number;
  /**
   * Whether the current latent stage is in its settle epochs (TrainOptions.settleEpochs), and the
   * epochs it had trained at its own rate when they began (what trainedEpochs records for it).
   */
  settling?: boolean;
  settleFrom?: number;
}

export interface TrainResult {
  runDir: string;
  state: TrainState;
  evals: { stage: number; result: EvalResult }[];
  /** Epochs each stage trained (TrainState.trainedEpochs; null: not trained in this run). */
  trainedEpochs: (number | null)[];
  msPerStep: number;
  tokensPerSecond: number;
}

/**
 * The batches of one epoch over samples in groups of one kind (problems; captions), as sample
 * indices: each group shuffled and cut into batches on its own, then the batches of all groups
 * shuffled together. Why per group: a batch is padded to its longest sample, and a caption is
 * far longer than a problem without a rationale, so one caption in a no-CoT batch nearly
 * doubled that step's cost. Deterministic in (seed, stage, epoch); one group gives the plain
 * shuffled order cut into batches.
 */
export function epochBatches(groups: readonly (readonly number[])[], batch: number, seed: number, stage: number, epoch: number): number[][] {
  const batches: number[][] = [];
  groups.forEach((members, g) => {
    const order = epochOrder(members.length, seed + g * 7727, stage, epoch);
    for (let i = 0; i < order.length; i += batch) batches.push(order.slice(i, i + batch).map((k) => members[k]!));
  });
  if (groups.length < 2) return batches;
  return epochOrder(batches.length, seed + 1, stage, epoch).map((k) => batches[k]!);
}

/** Batches per epoch of epochBatches over groups of these sizes. */
export const batchesPerEpochOf = (sizes: readonly number[], batch: number): number => sizes.reduce((a, n) => a + Math.ceil(n / batch), 0);

/**
 * The stage a batch of a latent stage is trained at under stage mixing (TrainOptions.mixStages):
 * with probability p an earlier stage, drawn uniformly from 0..stage-1, else the stage itself.
 * Why per batch and not per sample (Coconut draws per sample): a batch's latent steps run as one
 * batched pass each, so one latent count per batch keeps every step as cheap as an unmixed one;
 * over an epoch the share of mixed samples is the same. A pure function of (seed, stage, epoch,
 * batch index), so --resume continues with the same draws.
 */
export function mixedStage(p: number, seed: number, stage: number, epoch: number, batchIndex: number): number {
  if (!(p > 0) || stage === 0) return stage;
  const rng = new InitRng((seed * 2654435761 + stage * 40503 + epoch * 7757 + batchIndex * 65537 + 12345) >>> 0);
  return rng.uniform() < p ? Math.floor(rng.uniform() * stage) : stage;
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
  writeFileAtomic(path, JSON.stringify(value, null, 2) + '\n');
}

/** Steps with a non-finite loss or gradient norm tolerated in a run before it stops. */
export const MAX_BAD_STEPS = 10;

/**
 * A run that cannot continue for a reason that is not the user's input (diverged numerics, a
 * GPU fault, a checkpoint that could not be written). The CLI prints its message as one line
 * and exits 1; the run folder's last checkpoint is intact.
 */
export class TrainingAborted extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TrainingAborted';
  }
}

/**
 * One optimizer step (forward, backward, clipped AdamW): the language-model loss, the
 * alignment loss (null when it is off or the batch has no image words) and the gradient norm.
 */
export async function trainStep(model: IvtModel, opt: E.AdamW, batch: Sample[], stage: number, latent: LatentOptions, nocot: boolean, alignWeight = 0): Promise<StepResult> {
  return startTrainStep(model, opt, batch, stage, latent, nocot, alignWeight)();
}

export interface StepResult { loss: number; norm: number; alignLoss: number | null; countLoss: number | null }

/**
 * Records and submits one step and starts reading its results back; the returned function
 * waits for them. The caller can record the next step in between, so the GPU works on this
 * one while the host builds the next graph.
 */
export function startTrainStep(model: IvtModel, opt: E.AdamW, batch: Sample[], stage: number, latent: LatentOptions, nocot: boolean, alignWeight = 0, lr?: number): () => Promise<StepResult> {
  // Losses and gradient norm side by side in one tensor: one readback per step.
  let hasAlign = false, hasCount = false;
  const all = E.tidy(() => {
    opt.zeroGrad();
    const { total, lm, align, count } = model.lossParts(batch, stage, latent, nocot, alignWeight);
    hasAlign = align !== null;
    hasCount = count !== null;
    E.backward(total);
    opt.update(lr);
    return E.keep(E.noGrad(() => E.concat([E.reshape(lm, [1]), opt.gradNorm, ...(align ? [E.reshape(align, [1])] : []), ...(count ? [E.reshape(count, [1])] : [])], 0)));
  });
  const read = all.toArray();
  read.catch(() => { /* reported when awaited below */ });
  return async () => {
    try {
      const v = await read;
      return { loss: v[0]!, norm: v[1]!, alignLoss: hasAlign ? v[2]! : null, countLoss: hasCount ? v[hasAlign ? 3 : 2]! : null };
    } finally {
      all.dispose();
    }
  };
}

/**
 * Counts a step with a non-finite loss or gradient norm (the AdamW kernel has already skipped
 * its update) and logs it; throws TrainingAborted once MAX_BAD_STEPS have been seen in the
 * run. Returns whether the step was bad.
 */
export function checkStepFinite(state: TrainState, loss: number, norm: number, log: (line: string) => void, step = state.step): boolean {
  if (Number.isFinite(loss) && Number.isFinite(norm)) return false;
  state.skippedSteps++;
  const what = !Number.isFinite(loss) ? `loss ${loss}` : `gradient norm ${norm}`;
  log(`step ${step}: non-finite ${what}; update skipped (${state.skippedSteps} of at most ${MAX_BAD_STEPS - 1} tolerated)`);
  if (state.skippedSteps >= MAX_BAD_STEPS) {
    throw new TrainingAborted(`training diverged: ${state.skippedSteps} steps with a non-finite loss or gradient norm (last at step ${step}); stopped. The last checkpoint is kept; lower --lr or check the data`);
  }
  return true;
}

/** Pool statistics in one line (the --verbose progress suffix). */
export function poolLine(): string {
  const p = rt().stats().pool;
  return `gpu: in use ${fmtBytes(p.inUseBytes)} / allocated ${fmtBytes(p.allocatedBytes)}, cached ${fmtBytes(p.cachedBytes)}, ` +
    `peak in use ${fmtBytes(p.peakInUseBytes)}, peak allocated ${fmtBytes(p.peakAllocatedBytes)}, buffers ${p.buffersCreated} created / ${p.buffersReused} reused / ${p.buffersDestroyed} destroyed`;
}

/** A run's JSON object file (config.json): unreadable, malformed or non-object content is a UserError naming it. */
export function readJsonObject(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new UserError(`${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new UserError(`${path}: not valid JSON (${(e as Error).message})`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new UserError(`${path}: must be a JSON object`);
  return v as Record<string, unknown>;
}
const readJson = readJsonObject;

/**
 * How many reasoning steps each rationale is cut into (METHOD.md: merged into N contiguous
 * chunks when it has more sentences than the N latent stages), so that the last stage has
 * every step latent whatever N is. Answer-only training and a curriculum without latent
 * stages keep the loader's default of 3.
 */
export function reasoningSteps(o: Pick<TrainOptions, 'mode' | 'stages'>): number | undefined {
  return o.mode === 'ivt' && o.stages >= 1 ? o.stages : undefined;
}

export async function prepareRun(o: TrainOptions): Promise<{ tok: Tokenizer; cfg: IvtConfig; train: ProblemRecord[]; val: ProblemRecord[]; scenes: Map<string, Scene> | null; fingerprint: string; missingImages: number; skippedImages: number }> {
  // The data is cut into as many steps as there are latent stages: the loader's limit, named by the flag.
  if (o.mode === 'ivt' && o.stages > MAX_STEPS) throw new UserError(`--stages ${o.stages}: at most ${MAX_STEPS} latent stages`);
  const ds = await loadDataset(o.data, { missingImage: o.missingImage ?? 'error', maxSteps: reasoningSteps(o) });
  let train = ds.records.filter((r) => r.split === 'train');
  let val = ds.records.filter((r) => r.split === 'val');
  if (o.maxTrain) train = train.slice(0, o.maxTrain);
  if (o.maxVal) val = val.slice(0, o.maxVal);
  if (train.length === 0) throw new UserError(`${o.data}: no training problems`);
  const lastStage = o.mode === 'nocot' ? 0 : o.stages;
  if (o.startStage !== undefined && (o.startStage < 0 || o.startStage > lastStage)) {
    throw new UserError(`--start-stage ${o.startStage}: ${o.mode === 'nocot' ? 'a no-CoT run has stage 0 only' : `this run has stages 0..${lastStage} (--stages ${o.stages})`}`);
  }
  const fingerprint = dataFingerprint(o.data, train, val);
  // Synthetic data (`ivt data synth` leaves synth.json) knows what every picture shows: the
  // alignment objective and the captions are built from it. Other datasets train without.
  const wantScenes = (o.alignWeight ?? 0) > 0 || o.captions === true;
  const allScenes = wantScenes && existsSync(join(o.data, 'synth.json')) ? readScenes(o.data) : null;
  // A problem trained text-only (its picture missing) shows nothing its scene says: no grounding.
  const scenes = allScenes && train.every((r) => allScenes.has(r.id) && r.imagePath !== null) ? allScenes : null;
  const runTok = join(o.out, 'tokenizer.json');
  const runCfg = join(o.out, 'config.json');
  let tok: Tokenizer;
  let cfg: IvtConfig;
  if (o.resume && existsSync(runCfg)) {
    tok = Tokenizer.load(runTok);
    cfg = readJson(runCfg) as unknown as IvtConfig;
    validateConfig(cfg, runCfg);
    if (o.mode === 'ivt' && cfg.latentSteps !== o.stages) throw new UserError(`--resume with --stages ${o.stages}: the run in ${o.out} trains ${cfg.latentSteps} latent stages (${runCfg})`);
    if (o.topK !== undefined && cfg.topK !== o.topK) throw new UserError(`--resume with --top-k ${o.topK}: the run in ${o.out} selects ${cfg.topK} image embeddings per latent step (${runCfg})`);
    if (o.overrides?.maxLen !== undefined && cfg.maxLen !== o.overrides.maxLen) throw new UserError(`--resume with --max-len ${o.overrides.maxLen}: the run in ${o.out} has maxLen ${cfg.maxLen} (${runCfg})`);
    // Runs started before the folder was resolved through links hashed the path as given.
    checkResumedSchedule(o, join(o.out, 'options.json'), fingerprint, dataFingerprint(o.data, train, val, false));
  } else if (o.initFrom) {
    const initCfg = join(o.initFrom, 'config.json');
    if (!existsSync(initCfg)) throw new UserError(`--init-from ${o.initFrom}: not a training run (no config.json)`);
    tok = Tokenizer.load(join(o.initFrom, 'tokenizer.json'));
    cfg = readJson(initCfg) as unknown as IvtConfig;
    if (o.overrides?.maxLen !== undefined && cfg.maxLen !== o.overrides.maxLen) throw new UserError(`--init-from ${o.initFrom} --max-len ${o.overrides.maxLen}: that run has maxLen ${cfg.maxLen} (${initCfg}); a branch keeps it`);
    validateConfig(cfg, initCfg);
    if (o.adaptiveLatents && !cfg.adaptiveLatents) throw new UserError(`--adaptive-latents with --init-from ${o.initFrom}: that run has no count head (${initCfg}); train its stage 0 with --adaptive-latents`);
    // A branch inherits the count head unless told to train without it (its weights then unused).
    if (cfg.adaptiveLatents && o.adaptiveLatents === false) cfg = { ...cfg, adaptiveLatents: false };
    // The count head scores 0..N latent steps: its shape depends on N.
    if (cfg.adaptiveLatents && o.mode === 'ivt' && o.stages !== cfg.latentSteps) throw new UserError(`--init-from ${o.initFrom} --stages ${o.stages}: that run chooses among 0..${cfg.latentSteps} latent steps (adaptiveLatents, ${initCfg}); a branch of it keeps --stages ${cfg.latentSteps}`);
    // The weights do not depend on the number of latent steps: a run branching off another
    // run's stage 0 may train a curriculum of another length (the stage-count ablation).
    // Nor on k, the image embeddings selected per latent step.
    if ((o.mode === 'ivt' && o.stages !== cfg.latentSteps) || (o.topK !== undefined && o.topK !== cfg.topK)) {
      cfg = { ...cfg, latentSteps: o.mode === 'ivt' ? o.stages : cfg.latentSteps, topK: o.topK ?? cfg.topK };
      try {
        validateConfig(cfg, initCfg);
      } catch (e) {
        if (e instanceof UserError) throw new UserError(`--init-from ${o.initFrom} --stages ${o.stages}${o.topK !== undefined ? ` --top-k ${o.topK}` : ''}: ${e.message.replace(/^.*?: /, '')}`);
        throw e;
      }
    }
  } else {
    const captionTexts = scenes && o.captions ? train.map((r) => CAPTION_PROMPT + captionSentences(scenes.get(r.id)!).map(stepText).join('')) : [];
    tok = buildTrainingTokenizer(train, captionTexts);
    try {
      cfg = preset(o.preset, tok.vocabSize, { ...o.overrides, latentSteps: o.stages, ...(o.topK !== undefined ? { topK: o.topK } : {}), ...(o.adaptiveLatents ? { adaptiveLatents: true } : {}) });
    } catch (e) {
      if (e instanceof UserError) throw new UserError(`--preset ${o.preset} --stages ${o.stages}${o.topK !== undefined ? ` --top-k ${o.topK}` : ''}: ${e.message.replace(/^config: /, '')}`);
      throw e;
    }
  }
  // The alignment objective gives each image token the words of one grid cell: the pictures' grid
  // must be the model's grid of patches.
  if (scenes && (o.alignWeight ?? 0) > 0) {
    const side = Math.round(Math.sqrt(imageTokens(cfg)));
    const other = [...scenes.values()].find((sc) => sc.grid !== side);
    if (other) {
      throw new UserError(`${o.data}: the alignment objective (--align-weight ${o.alignWeight}) pairs each image token with a cell of the picture's grid, but the pictures have ` +
        `${other.grid}x${other.grid} cells and the model sees ${side}x${side} patches (image ${cfg.imageSize}px, patch ${cfg.patch}px); train with --align-weight 0, or on data made with --grid ${side}`);
    }
  }
  return { tok, cfg, train, val, scenes, fingerprint, missingImages: ds.report.convertedToTextOnly, skippedImages: ds.report.skippedMissingImage };
}

export async function train(o: TrainOptions): Promise<TrainResult> {
  const log = o.log ?? ((s: string) => console.log(s));
  // Everything that can fail on the user's input (data, images, run files) comes first, before
  // the engine starts and before anything is written: a bad input leaves no half-made run.
  const { tok, cfg, train: trainRecs, val: valRecs, scenes, fingerprint, missingImages, skippedImages } = await prepareRun(o);
  if (skippedImages) log(`${o.data}: ${skippedImages} problem${skippedImages > 1 ? 's' : ''} skipped: ${skippedImages > 1 ? 'their image files do' : 'its image file does'} not exist (--missing-image skip)`);
  // Said, not silent: these problems train and validate on a blank picture.
  if (missingImages) log(`${o.data}: ${missingImages} problem${missingImages > 1 ? 's name image files' : ' names an image file'} that ${missingImages > 1 ? 'do' : 'does'} not exist; ${missingImages > 1 ? 'they are' : 'it is'} used text-only (a blank picture)`);
  const alignWeight = scenes ? o.alignWeight ?? 0 : 0;
  const trainSamples = await toSamples(trainRecs, tok, cfg, alignWeight > 0 ? { imageWords: (r) => cellWords(scenes!.get(r.id)!) } : {});
  // Stage 0's training set: the problems, plus a caption of each picture when asked for.
  const captionSamples = scenes && o.captions && (o.startStage ?? 0) === 0
    ? trainSamples.map((s, i) => captionSample(s, CAPTION_PROMPT, captionSentences(scenes.get(trainRecs[i]!.id)!), tok, cfg)).filter((s): s is Sample => s !== null)
    : [];
  const stage0Samples = [...trainSamples, ...captionSamples];
  const samplesOf = (stage: number) => (stage === 0 ? stage0Samples : trainSamples);
  // Sample indices by kind, for batches of one kind each (see epochBatches).
  const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);
  const kinds = (stage: number): number[][] => (stage === 0 && captionSamples.length
    ? [range(0, trainSamples.length), range(trainSamples.length, captionSamples.length)] : [range(0, samplesOf(stage).length)]);
  // Adaptive latent steps: a latent stage's batches also hold one latent count each, min(s, m).
  const groupsOf = (stage: number): number[][] => (cfg.adaptiveLatents && stage > 0 && o.mode === 'ivt'
    ? kinds(stage).flatMap((g) => groupBy(g, (i) => Math.min(stage, samplesOf(stage)[i]!.steps.length))) : kinds(stage));
  const valSamples = await toSamples(valRecs, tok, cfg);
  if (o.mixStages !== undefined && !(o.mixStages >= 0 && o.mixStages < 1)) throw new UserError(`mixStages must be a probability in [0, 1), got ${o.mixStages}`);
  for (const [name, v] of [['--steps', o.stepsPerStage], ['--steps0', o.stepsStage0]] as const) {
    if (v !== undefined && !(Number.isSafeInteger(v) && v >= 1)) throw new UserError(`${name} must be a positive integer, got ${v}`);
  }
  // Epoch-based stage lengths only where a stage is not measured in steps.
  const stepsFlag = o.stepsPerStage !== undefined ? '--steps' : '--steps0';
  if ((o.stepsPerStage !== undefined || o.stepsStage0 !== undefined) && (o.stageEpochs || o.maxEpochsStage0 !== undefined)) {
    throw new UserError(`${stepsFlag} measures stage 0 in optimizer steps: not with --stage-epochs or --max-epochs0, which measure it in epochs`);
  }
  if (o.settleEpochs !== undefined && (!Number.isSafeInteger(o.settleEpochs) || o.settleEpochs < 0)) throw new UserError(`--settle-epochs must be a non-negative integer, got ${o.settleEpochs}`);
  if (o.settleLr !== undefined && !(Number.isFinite(o.settleLr) && o.settleLr > 0)) throw new UserError(`--settle-lr must be a number > 0, got ${o.settleLr}`);
  if ((o.settleEpochs ?? 0) > 0 && o.stepsPerStage !== undefined) {
    throw new UserError('--settle-epochs adds epochs to each latent stage: not with --steps, which measures the latent stages in optimizer steps');
  }
  if (o.stepsPerStage !== undefined && o.maxEpochsPerStage !== undefined) {
    throw new UserError('--steps measures the latent stages in optimizer steps: not with --max-epochs, which measures them in epochs');
  }
  const stagesToTrain = Array.from({ length: (o.mode === 'nocot' ? 0 : o.stages) + 1 }, (_, s) => s);
  if (valSamples.length === 0 && stagesToTrain.some((s) => maxEpochsOfStage(o, s) > epochsOfStage(o, s))) {
    throw new UserError(`--max-epochs: ${o.data} has no validation problems to decide when a stage has finished learning`);
  }
  const resuming = o.resume && latestTag(o.out) !== null;
  await E.initEngine();
  const model = new IvtModel(cfg, tok.pad);
  const opt = new E.AdamW(model.ps.list(), { lr: o.lr, weightDecay: o.weightDecay, maxGradNorm: o.clip, beta1: 0.9, beta2: 0.999 });
  // The optimizer holds the model's weights, gradients and moments in pool buffers: freed however
  // the run ends (a stop after some steps, an abort, bad input found after this point).
  let failure: unknown = null;
  try {
    const metricsPath = join(o.out, 'metrics.jsonl');
    let state: TrainState = { stage: o.startStage ?? 0, epoch: 0, batchIndex: 0, step: 0, skippedSteps: 0, done: false };
    let resumedFrom: { tag: string; batchIndex: number } | null = null;
    if (resuming) {
      const ck = await loadCheckpoint(o.out, { params: model.ps.params, optimizer: opt });
      const stageOf = Number((ck.trainState as { stage?: unknown }).stage);
      state = checkTrainState(ck.trainState, join(ck.dir, 'train_state.json'), batchesPerEpochOf(groupsOf(Number.isInteger(stageOf) ? stageOf : 0).map((g) => g.length), o.batch));
      resumedFrom = { tag: ck.tag, batchIndex: state.batchIndex };
    } else if (o.initFrom) {
      const ck = await loadCheckpoint(o.initFrom, { params: model.ps.params, tag: o.initTag, ignore: cfg.adaptiveLatents ? undefined : (n) => n.startsWith('latent.count.') });
      log(`initialised weights from ${o.initFrom} (${ck.tag})`);
    }
    // Inputs are good: now the run folder is written.
    mkdirSync(o.out, { recursive: true });
    // A run that starts (not one that resumes) owns the folder's checkpoints: any there are left
    // by a run killed before its first `latest` (a stage's best weights, kept aside while it may be
    // extended), and `--tag stage-0-best` would otherwise load that other run's weights.
    if (!resuming && !(o.initFrom && sameFolder(o.initFrom, o.out))) rmSync(join(o.out, 'checkpoints'), { recursive: true, force: true });
    // The run's own files. options.json first, since a resume reads its recipe there: written
    // where missing. The tokenizer and the config are read from the folder where config.json,
    // written last, exists (prepareRun); otherwise they were built here and are written, both,
    // so a run killed between them resumes with a matching pair.
    const modelFromFolder = o.resume && existsSync(join(o.out, 'config.json'));
    // adaptiveLatents as the model has it: a branch of an adaptive run inherits its count head.
    if (!o.resume || !existsSync(join(o.out, 'options.json'))) writeJsonAtomic(join(o.out, 'options.json'), { ...o, adaptiveLatents: cfg.adaptiveLatents === true, dataFingerprint: fingerprint, log: undefined });
    if (!modelFromFolder) {
      tok.save(join(o.out, 'tokenizer.json'));
      writeJsonAtomic(join(o.out, 'config.json'), cfg);
    }
    if (resumedFrom) {
      log(`resumed from checkpoint ${resumedFrom.tag}: stage ${state.stage}, epoch ${state.epoch}, batch ${state.batchIndex}, step ${state.step}`);
      truncateMetrics(metricsPath, state.step, resumedFrom.batchIndex === 0);
    } else {
      writeFileSync(metricsPath, '');
    }
    const evals: { stage: number; result: EvalResult }[] = [];
    const batchesOf = (stage: number) => batchesPerEpochOf(groupsOf(stage).map((g) => g.length), o.batch);
    if (o.mixStages && o.mode === 'ivt' && o.stages > 0) log(`stage mixing: in the latent stages, ${o.mixStages} of the batches are trained at an earlier stage`);
    if (cfg.adaptiveLatents && o.mode === 'ivt' && o.stages > 0) log('adaptive latent steps: a problem of m steps trains with min(s, m) latent steps at stage s; in validation the count head chooses each question\'s');
    if (scenes && (alignWeight > 0 || captionSamples.length)) {
      log(`grounding: ${alignWeight > 0 ? `alignment objective (weight ${alignWeight})` : 'no alignment objective'}, ${captionSamples.length ? `${captionSamples.length} captions mixed into stage 0` : 'no captions'}`);
    }
    const lastStage = o.mode === 'nocot' ? 0 : o.stages;
    let stepsThisRun = 0, tokens = 0, loggedStep = false;
    const t0 = performance.now();
    const tty = process.stdout.isTTY;
    const epochsOf = (stage: number) => epochsOfStage(o, stage);
    // A stage may run past its epochs while validation says it is still learning (extendStage).
    const maxEpochsOf = (stage: number) => maxEpochsOfStage(o, stage);
    const extensible = (stage: number) => maxEpochsOf(stage) > epochsOf(stage);
    const modeOf = (stage: number): EvalMode => (o.mode === 'nocot' ? 'nocot' : stage === 0 ? 'cot' : !o.latent.latentText ? 'ivt-no-text' : !o.latent.latentVision ? 'ivt-no-vision' : o.latent.randomVision ? 'ivt-random-vision' : 'ivt');
    // Each question's own number of choices: an answer E on a five-choice question is an answer.
    const validate = (stage: number) => evaluate(model, valSamples, tok, modeOf(stage), { latentSteps: stage, batch: Math.min(o.batch * 2, 64), numChoices: (i) => valRecs[i]!.choices.length });
    const pct = (r: EvalResult) => 100 * r.accuracy;
    const patience = o.extendPatience ?? EXTEND_PATIENCE;
    // A stage's new best must beat the old one by the minimum gain. Its weights are kept aside
    // (checkpoint bestTag(stage), not `latest`), and the stage may end with them (the restore at
    // the stage's end). Stage 0's last epoch had fallen from 100% to 68% on the demo's seed 2; a
    // latent stage can end below its best only when it runs out of epochs (it stops at the first
    // epoch within the tolerance, and every epoch before was below it).
    const noteBest = async (stage: number, accuracy: number, epoch: number) => {
      if (state.bestAccuracy === undefined || accuracy >= state.bestAccuracy + (o.extendMinGain ?? EXTEND_MIN_GAIN)) {
        state.bestAccuracy = accuracy;
        state.bestEpoch = epoch;
        state.bestStep = state.step;
        await checkpoint(bestTag(stage), false);
      }
    };
    const gateRecord = (stage: number, epoch: number, r: EvalResult, extend?: boolean, reference = false, settled = false) =>
      appendFileSync(metricsPath, JSON.stringify({ gate: true, step: state.step, stage, epoch, mode: modeOf(stage), accuracy: r.accuracy, ...(extend !== undefined ? { extend } : {}), ...(reference ? { reference: true } : {}), ...(settled ? { settled: true } : {}) }) + '\n');
    // A latent stage's settle epochs (TrainOptions.settleEpochs) run at the settle rate.
    const settleEpochs = o.mode === 'nocot' ? 0 : (o.settleEpochs ?? 0);
    const settleOf = (stage: number) => (stage > 0 ? settleEpochs : 0);
    const settleLr = o.settleLr ?? (o.latentLr ?? o.lr) * SETTLE_LR_FRACTION;
    const lrOf = (stage: number) => (stage > 0 && state.settling ? settleLr : stage > 0 && o.latentLr !== undefined ? o.latentLr : o.lr);
    // Steps of the whole run: a resumed run counts the epochs its finished stages trained and the
    // epochs the current stage has been extended to, as the uninterrupted run had counted them.
    let totalSteps = 0;
    for (let s = o.startStage ?? 0; s <= lastStage; s++) {
      // (A stage in its settle epochs has them in stageEpochs already.)
      const epochs = s < state.stage ? (state.trainedEpochs?.[s] ?? epochsOf(s)) + settleOf(s) : s === state.stage ? (state.stageEpochs ?? epochsOf(s)) + (state.settling ? 0 : settleOf(s)) : epochsOf(s) + settleOf(s);
      totalSteps += stepsOfStage(o, s) ?? epochs * batchesOf(s);
    }
    const stageStepsReached = () => { const n = stepsOfStage(o, state.stage); return n !== null && (state.stageStep ?? 0) >= n; };
    const faultAt = faultStep();

    const checkpoint = async (tag: string, setLatest = true) => {
      try {
        // The metrics lines the checkpoint's step covers reach the disk first (a resume keeps them).
        await fsyncFile(metricsPath);
        await saveCheckpoint(o.out, { tag, setLatest, params: model.ps.params, optimizer: opt, config: cfg, trainState: { ...state } as unknown as Record<string, unknown>, tokenizerJson: tok.toJSON() as unknown as Record<string, unknown> });
      } catch (e) {
        if (e instanceof GpuError || e instanceof UserError) throw e;
        // e.g. refused non-finite weights, disk full: the previous checkpoint is untouched.
        throw new TrainingAborted(`${(e as Error).message}`);
      }
    };

    // The last step whose results were read: a GPU failure belongs to the one after it.
    let settledStep = state.step;
    try {
      while (!state.done) {
        // A latent stage that may be extended compares itself with the best stage before it. Where
        // the stage before was not measured (a run that starts here, branching off another run, or
        // a stage that ended without validation), it is measured first, on the same weights.
        if (state.epoch === 0 && state.batchIndex === 0 && state.stage > 0 && extensible(state.stage) && state.referenceStage !== state.stage - 1) {
          const r = await validate(state.stage - 1);
          state.referenceAccuracy = referenceAfterStage(state.referenceAccuracy, pct(r));
          state.referenceStage = state.stage - 1;
          gateRecord(state.stage - 1, 0, r, undefined, true);
          log(`stage ${state.stage - 1} (starting weights): val accuracy ${pct(r).toFixed(1)}% (${modeOf(state.stage - 1)}); the reference for stage ${state.stage}: ${state.referenceAccuracy.toFixed(1)}%`);
        }
        // Stage 0's rule looks back `patience` epochs from the end of its own: here, to the starting weights.
        if (state.stage === 0 && state.epoch === 0 && state.batchIndex === 0 && extensible(0) && epochsOf(0) - patience <= 0 && state.bestEpoch === undefined) {
          const r = await validate(0);
          await noteBest(0, pct(r), 0);
          gateRecord(0, 0, r);
          log(`stage 0 (starting weights): val accuracy ${pct(r).toFixed(1)}% (${modeOf(0)})`);
        }
        const stageSamples = samplesOf(state.stage);
        const batches = epochBatches(groupsOf(state.stage), o.batch, o.seed, state.stage, state.epoch);
        // One step in flight: step n+1 is recorded before step n's results are read, so the GPU
        // is busy while the host builds the graph. A step whose weights or results are needed
        // right away (a checkpoint, the epoch's end, a stop, an injected fault) is settled at once.
        // trainAt: the stage the batch trained at; mixedAt: the stage stage mixing drew (they differ
        // where adaptive latent steps give a batch of shorter problems fewer latent steps).
        let pending: { finish: () => Promise<StepResult>; batch: Sample[]; step: number; epoch: number; trainAt: number; mixedAt: number; stageStep?: number } | null = null;
        let lastSettled = performance.now();
        const settle = async (p: NonNullable<typeof pending>) => {
          const { loss, norm, alignLoss, countLoss } = await p.finish();
          settledStep = p.step;
          const now = performance.now();
          const ms = now - lastSettled;
          lastSettled = now;
          const batchTokens = p.batch.reduce((a, s) => a + s.prompt.length + model.J + s.steps.flat().length + s.answer.length, 0);
          tokens += batchTokens;
          let bad: boolean;
          try {
            bad = checkStepFinite(state, loss, norm, log, p.step);
          } catch (e) {
            // The step that stops a diverged run is logged too (the last line says how it ended).
            if (e instanceof TrainingAborted) appendFileSync(metricsPath, JSON.stringify({ step: p.step, stage: state.stage, epoch: p.epoch, loss, grad_norm: norm, skipped: true, aborted: true }) + '\n');
            throw e;
          }
          const pool = rt().stats().pool;
          const rec = {
            step: p.step, stage: state.stage, ...(p.mixedAt !== state.stage ? { mixed_stage: p.mixedAt } : {}), ...(p.trainAt !== p.mixedAt ? { latent_steps: p.trainAt } : {}), epoch: p.epoch, lr: lrOf(state.stage), loss, ...(alignLoss !== null ? { align_loss: alignLoss } : {}), ...(countLoss !== null ? { count_loss: countLoss } : {}), grad_norm: norm, ...(bad ? { skipped: true } : {}), ms,
            tokens_per_s: (batchTokens / ms) * 1000, gpu_in_use_bytes: pool.inUseBytes, gpu_allocated_bytes: pool.allocatedBytes,
          };
          appendFileSync(metricsPath, JSON.stringify(rec) + '\n');
          const elapsed = (now - t0) / 1000;
          const done = stepsThisRun - (pending && pending !== p ? 1 : 0);
          const eta = (elapsed / Math.max(done, 1)) * Math.max(totalSteps - p.step, 0);
          const within = p.stageStep !== undefined ? `step ${p.stageStep}/${stepsOfStage(o, state.stage)} of the stage (epoch ${p.epoch + 1})` : `epoch ${p.epoch + 1}/${state.stageEpochs ?? epochsOf(state.stage)}`;
          const line = `stage ${state.stage} ${within} step ${p.step}/${totalSteps}  loss ${loss.toFixed(4)}  ${(rec.tokens_per_s).toFixed(0)} tok/s  ETA ${eta.toFixed(0)}s` +
            (o.verbose ? `  | ${poolLine()}` : '');
          if (tty && !o.verbose) process.stdout.write(`\r${line}   `);
          // Off a terminal every --log-every steps, and the run's first and last steps, so that a
          // run shorter than --log-every still says it is alive and how it ended.
          else if (o.verbose || p.step % o.logEvery === 0 || !loggedStep || p.step === totalSteps) {
            log(line);
            loggedStep = true;
          }
        };
        while (state.batchIndex < batches.length && !stageStepsReached()) {
          const batch: Sample[] = batches[state.batchIndex]!.map((i) => stageSamples[i]!);
          if (faultAt === state.step + 1) injectFault(faultAt, log);
          const mixedAt = o.mode === 'nocot' ? state.stage : mixedStage(o.mixStages ?? 0, o.seed, state.stage, state.epoch, state.batchIndex);
          // Adaptive latent steps: no more latent steps than the batch's problems have steps (one
          // count per batch, groupsOf). Otherwise a problem shorter than the stage is given the
          // stage's latent steps and supervised on its answer alone (METHOD.md).
          const trainAt = cfg.adaptiveLatents && o.mode === 'ivt' ? Math.min(mixedAt, ...batch.map((b) => b.steps.length)) : mixedAt;
          const finish = startTrainStep(model, opt, batch, trainAt, o.latent, o.mode === 'nocot', alignWeight, lrOf(state.stage));
          state.batchIndex++;
          state.step++;
          if (stepsOfStage(o, state.stage) !== null) state.stageStep = (state.stageStep ?? 0) + 1;
          stepsThisRun++;
          const previous = pending;
          pending = { finish, batch, step: state.step, epoch: state.epoch, trainAt, mixedAt, stageStep: state.stageStep };
          if (previous) await settle(previous);
          const checkpointNow = o.checkpointEvery > 0 && state.step % o.checkpointEvery === 0;
          const stopNow = o.stopAfterSteps !== undefined && stepsThisRun >= o.stopAfterSteps;
          if (checkpointNow || stopNow || state.batchIndex >= batches.length || stageStepsReached() || faultAt === state.step + 1) {
            await settle(pending);
            pending = null;
          }
          if (checkpointNow) await checkpoint(`step-${String(state.step).padStart(6, '0')}`);
          if (stopNow) {
            if (tty) process.stdout.write('\n');
            return { runDir: o.out, state, evals, trainedEpochs: state.trainedEpochs ?? [], msPerStep: (performance.now() - t0) / stepsThisRun, tokensPerSecond: tokens / ((performance.now() - t0) / 1000) };
          }
        }
        state.batchIndex = 0;
        state.epoch++;
        const ownEpochs = epochsOf(state.stage);
        // Stage 0's rule needs the accuracies of the `patience` epochs before its own end.
        if (state.stage === 0 && extensible(0) && state.epoch >= ownEpochs - patience && state.epoch < ownEpochs) {
          if (tty) process.stdout.write('\n');
          const r = await validate(0);
          await noteBest(0, pct(r), state.epoch);
          gateRecord(0, state.epoch, r);
          log(`stage 0 epoch ${state.epoch}: val accuracy ${pct(r).toFixed(1)}% (${modeOf(0)})`);
        }
        const stepsOfThis = stepsOfStage(o, state.stage);
        if (stepsOfThis !== null ? !stageStepsReached() : state.epoch < (state.stageEpochs ?? ownEpochs)) continue;
        if (tty) process.stdout.write('\n');
        let stageResult: EvalResult | null = null;
        if (extensible(state.stage) && state.settling) {
          // After the settle epochs: the stage's own figure (the next stage's reference), no rule.
          stageResult = await validate(state.stage);
          gateRecord(state.stage, state.epoch, stageResult, undefined, false, true);
          log(`stage ${state.stage} epoch ${state.epoch}: val accuracy ${pct(stageResult).toFixed(1)}% (${modeOf(state.stage)}) after ${settleEpochs} settle epoch${settleEpochs === 1 ? '' : 's'}`);
        } else if (extensible(state.stage)) {
          stageResult = await validate(state.stage);
          const accuracy = pct(stageResult);
          await noteBest(state.stage, accuracy, state.epoch);
          const more = extendStage({
            stage: state.stage, epoch: state.epoch, maxEpochs: maxEpochsOf(state.stage), accuracy, bestEpoch: state.bestEpoch, patience,
            referenceAccuracy: state.referenceAccuracy, tolerance: o.extendTolerance ?? EXTEND_TOLERANCE,
          });
          gateRecord(state.stage, state.epoch, stageResult, more);
          const against = state.stage === 0
            ? (state.bestEpoch !== undefined ? `; best ${state.bestAccuracy!.toFixed(1)}% after ${state.bestEpoch === 0 ? 'no training' : `epoch ${state.bestEpoch}`}` : '')
            : (state.referenceAccuracy !== undefined ? `; ${state.stage === 1 ? 'stage 0' : 'best stage before'}: ${state.referenceAccuracy.toFixed(1)}%` : '');
          const verdict = more ? 'one more epoch' : state.epoch >= maxEpochsOf(state.stage) ? `stage done (its most epochs, ${maxEpochsOf(state.stage)})` : 'stage done';
          log(`stage ${state.stage} epoch ${state.epoch}: val accuracy ${accuracy.toFixed(1)}% (${modeOf(state.stage)}${against}): ${verdict}`);
          if (more) {
            state.stageEpochs = state.epoch + 1;
            totalSteps += batchesOf(state.stage);
            continue;
          }
        }
        // A stage ends with its best weights (noteBest) when its last epoch fell below them: stage
        // 0 when its best is older than the last epoch, a latent stage when its last accuracy is
        // lower (a last epoch at or above the best, even one the minimum gain did not count as a
        // new best, is kept).
        const lastAccuracy = stageResult ? pct(stageResult) : undefined;
        const wantRestore = !state.settling && extensible(state.stage) && state.bestEpoch !== undefined && state.bestEpoch < state.epoch &&
          (state.stage === 0 || (lastAccuracy !== undefined && lastAccuracy < state.bestAccuracy!));
        const keptAside = wantRestore ? await keptAsideMismatch(o.out, state) : null;
        if (keptAside !== null) {
          // Not this run's weights: gone, so that no --tag stage-N-best loads them as its.
          rmSync(join(o.out, 'checkpoints', bestTag(state.stage)), { recursive: true, force: true });
          appendFileSync(metricsPath, JSON.stringify({ gate: true, step: state.step, stage: state.stage, epoch: state.bestEpoch, mode: modeOf(state.stage), accuracy: state.bestAccuracy! / 100, restored: false, reason: keptAside }) + '\n');
          log(`stage ${state.stage}: its best weights (epoch ${state.bestEpoch}) are not on disk: ${keptAside}; the stage ends with its last weights`);
        }
        const restore = wantRestore && keptAside === null;
        if (restore) {
          await loadCheckpoint(o.out, { params: model.ps.params, tag: bestTag(state.stage) });
          appendFileSync(metricsPath, JSON.stringify({ gate: true, step: state.step, stage: state.stage, epoch: state.bestEpoch, mode: modeOf(state.stage), accuracy: state.bestAccuracy! / 100, restored: true }) + '\n');
          log(`stage ${state.stage}: the weights after ${state.bestEpoch === 0 ? 'no training' : `epoch ${state.bestEpoch}`} restored (validation ${state.bestAccuracy!.toFixed(1)}%, the best)`);
          stageResult = null;
        }
        if (settleOf(state.stage) > 0 && !state.settling) {
          // The settle epochs, from the weights the stage would have ended with.
          state.settling = true;
          state.settleFrom = state.epoch;
          state.stageEpochs = state.epoch + settleEpochs;
          log(`stage ${state.stage}: ${settleEpochs} settle epoch${settleEpochs === 1 ? '' : 's'} at lr ${settleLr}`);
          continue;
        }
        // Stage end: evaluate, checkpoint, advance.
        const finished = state.stage;
        const trained = [...(state.trainedEpochs ?? [])];
        while (trained.length < finished) trained.push(null);
        // The epochs at the stage's own rate (what a run replaying it gives as --stage-epochs).
        trained[finished] = state.settleFrom ?? state.epoch;
        state.trainedEpochs = trained;
        if (o.evalEachStage && valSamples.length) {
          const mode = modeOf(finished);
          const result = stageResult ?? await validate(finished);
          stageResult = result;
          evals.push({ stage: finished, result });
          appendFileSync(metricsPath, JSON.stringify({ eval: true, step: state.step, stage: finished, ...result }) + '\n');
          log(`stage ${finished} done: val accuracy ${(result.accuracy * 100).toFixed(1)}% (${mode}, ${result.avg_passes.toFixed(1)} passes/question)`);
        }
        const finishedAccuracy = stageResult ? pct(stageResult) : restore || (finished === 0 && state.bestEpoch !== undefined && extensible(0)) ? state.bestAccuracy : undefined;
        if (finishedAccuracy !== undefined) {
          state.referenceAccuracy = referenceAfterStage(state.referenceAccuracy, finishedAccuracy);
          state.referenceStage = finished;
        }
        state.stageEpochs = undefined;
        state.stageStep = undefined;
        state.settling = undefined;
        state.settleFrom = undefined;
        state.bestAccuracy = undefined;
        state.bestEpoch = undefined;
        state.bestStep = undefined;
        state.epoch = 0;
        state.stage++;
        state.done = state.stage > lastStage;
        // Reset before the checkpoint, so a resumed run continues with the same optimizer state.
        if (!state.done && o.resetOptimizer) opt.resetState();
        await checkpoint(`stage-${finished}`);
      }
    } catch (e) {
      if (tty) process.stdout.write('\n');
      if (e instanceof GpuError) {
        let last: string | null = null;
        try { last = latestTag(o.out); } catch { /* reported below as none */ }
        // A failed readback often carries no message of its own: name the device loss if that is what happened.
        const lost = await Promise.race([rt().dev.gpu.lost, new Promise<null>((r) => setTimeout(() => r(null), 200))]);
        const what = lost ? `GPU device lost (${lost.reason}${lost.message ? `: ${lost.message}` : ''})` : e.message.split('\n')[0];
        throw new TrainingAborted(`GPU failure during step ${settledStep + 1}: ${what.trim().replace(/\.$/, '')}. ` +
          (last ? `The last checkpoint (${last}) is intact: continue with --resume` : 'No checkpoint was written yet'));
      }
      throw e;
    }
    const msPerStep = stepsThisRun ? (performance.now() - t0) / stepsThisRun : 0;
    const result = { runDir: o.out, state, evals, trainedEpochs: state.trainedEpochs ?? [], msPerStep, tokensPerSecond: tokens / ((performance.now() - t0) / 1000) };
    return result;
  } catch (e) {
    failure = e;
    throw e;
  } finally {
    try {
      opt.destroy();
    } catch (e) {
      // After a failure (a lost device) freeing may fail too: the run's own error is the one to report.
      if (failure === null) throw e;
    }
  }
}

/**
 * What decides which batch trains at which stage must match the run being resumed, or the
 * resumed run silently becomes another curriculum: stage mixing and stages measured in steps.
 * (A run's options.json written before these options existed reads as their defaults.)
 */
function checkResumedSchedule(o: TrainOptions, file: string, fingerprint: string, unresolved: string): void {
  if (!existsSync(file)) return;
  const had = readJsonObject(file);
  // The same problems in the same order, or "continues exactly" would be a run on other data.
  // (Runs written before the fingerprint existed have none.)
  if (typeof had.dataFingerprint === 'string' && had.dataFingerprint !== fingerprint && had.dataFingerprint !== unresolved) {
    throw new UserError(`--resume: the run in ${o.out} was trained on other problems than --data ${o.data} holds (with --max-train ${o.maxTrain ?? 0} --max-val ${o.maxVal ?? 0}; data fingerprint ${String(had.dataFingerprint).slice(0, 12)} in ${file}, ${fingerprint.slice(0, 12)} now); resume with the run's own dataset`);
  }
  const flags: [string, keyof TrainOptions, unknown][] = [['--mix-stages', 'mixStages', 0], ['--steps', 'stepsPerStage', undefined], ['--steps0', 'stepsStage0', undefined], ['--settle-epochs', 'settleEpochs', 0]];
  for (const [flag, key, dflt] of flags) {
    const before = had[key] ?? dflt, now = o[key] ?? dflt;
    if (before !== now) {
      throw new UserError(`--resume: the run in ${o.out} was trained with ${flag} ${before === undefined ? '(not given)' : String(before)}, this command gives ${now === undefined ? 'none' : String(now)} (${file}); resume with the same ${flag}`);
    }
  }
  // The settle rate as it takes effect (a rate given that equals the default is the same schedule).
  const settleRate = (x: Partial<TrainOptions>) => ((x.settleEpochs ?? 0) > 0 ? x.settleLr ?? ((x.latentLr ?? x.lr ?? 0) * SETTLE_LR_FRACTION) : null);
  if (settleRate(had as Partial<TrainOptions>) !== settleRate(o)) {
    throw new UserError(`--resume: the run in ${o.out} settled its latent stages at lr ${settleRate(had as Partial<TrainOptions>) ?? '(no settle epochs)'}, this command at ${settleRate(o) ?? '(none)'} (${file}); resume with the same --settle-lr`);
  }
  // The latent mode too: resuming a run without its ablation or control flag would switch what
  // the latent steps feed back or insert half-way through.
  // Each option with the flag that sets it and the value the flag gives.
  const latentFlags: [keyof LatentOptions, string, boolean][] = [['latentText', '--no-latent-text', false], ['latentVision', '--no-latent-vision', false], ['randomVision', '--random-latent-vision', true], ['detach', '--detach-latents', true]];
  const hadLatent = (typeof had.latent === 'object' && had.latent !== null ? had.latent : {}) as Partial<LatentOptions>;
  for (const [key, flag, flagValue] of latentFlags) {
    const flagGiven = (value: boolean | undefined) => (value ?? !flagValue) === flagValue;
    const before = flagGiven(hadLatent[key]), now = flagGiven(o.latent[key]);
    if (before !== now) {
      throw new UserError(`--resume: the run in ${o.out} was trained ${before ? 'with' : 'without'} ${flag}, this command is ${now ? 'with' : 'without'} it (${file}); resume with the same latent mode`);
    }
  }
}

/**
 * What a run trains and validates on, as one hash: every problem's id, split, question, hint,
 * choices, answer, rationale and image file (path within the dataset, and size), in order.
 */
export function dataFingerprint(dataDir: string, train: ProblemRecord[], val: ProblemRecord[], resolveFolder = true): string {
  const h = createHash('sha256');
  const root = resolveFolder ? realpathSync(dataDir) : dataDir;
  for (const r of [...train, ...val]) {
    // Image paths are resolved through links (resolveInside): so is the folder, which may be
    // reached another way on resume.
    const image = r.imagePath && existsSync(r.imagePath) ? [relative(root, r.imagePath), statSync(r.imagePath).size] : null;
    h.update(JSON.stringify([r.id, r.split, r.question, r.hint, r.choices, r.answerIndex, r.rationale, image]));
    h.update('\n');
  }
  return h.digest('hex');
}

/**
 * Why the snapshot of the current stage's best (checkpoint bestTag(stage)) is not the one the
 * state names, or null when it is: same stage, same best epoch, kept at the same step (states
 * written before bestStep existed are matched by stage and epoch).
 */
async function keptAsideMismatch(runDir: string, state: TrainState): Promise<string | null> {
  const tag = bestTag(state.stage);
  const kept = await readCheckpointState(runDir, tag);
  if (kept === null) return `checkpoint ${tag} is missing`;
  const same = kept.stage === state.stage && kept.bestEpoch === state.bestEpoch && (state.bestStep === undefined || kept.bestStep === state.bestStep);
  return same ? null : `checkpoint ${tag} holds the best of epoch ${JSON.stringify(kept.bestEpoch)} kept at step ${JSON.stringify(kept.bestStep ?? kept.step)}, written by an interrupted run after the checkpoint this one resumed from`;
}

/** A checkpoint's train_state.json, checked field by field (it decides where training resumes). */
function checkTrainState(raw: Record<string, unknown>, where: string, batchesPerEpoch: number): TrainState {
  for (const k of ['stage', 'epoch', 'batchIndex', 'step', 'skippedSteps'] as const) {
    const v = raw[k];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new UserError(`${where}: field "${k}" must be a non-negative integer, got ${JSON.stringify(v)}`);
  }
  if (typeof raw.done !== 'boolean') throw new UserError(`${where}: field "done" must be true or false, got ${JSON.stringify(raw.done)}`);
  // Written by runs that extend stages (TrainOptions.maxEpochsPerStage); absent otherwise.
  if (raw.stageEpochs !== undefined && (typeof raw.stageEpochs !== 'number' || !Number.isSafeInteger(raw.stageEpochs) || raw.stageEpochs < 1)) {
    throw new UserError(`${where}: field "stageEpochs" must be a positive integer, got ${JSON.stringify(raw.stageEpochs)}`);
  }
  if (raw.stageStep !== undefined && (typeof raw.stageStep !== 'number' || !Number.isSafeInteger(raw.stageStep) || raw.stageStep < 0)) {
    throw new UserError(`${where}: field "stageStep" must be a non-negative integer, got ${JSON.stringify(raw.stageStep)}`);
  }
  if (raw.settling !== undefined && typeof raw.settling !== 'boolean') throw new UserError(`${where}: field "settling" must be true or false, got ${JSON.stringify(raw.settling)}`);
  for (const k of ['bestEpoch', 'bestStep', 'settleFrom'] as const) {
    const v = raw[k];
    if (v !== undefined && (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)) throw new UserError(`${where}: field "${k}" must be a non-negative integer, got ${JSON.stringify(v)}`);
  }
  // Checkpoints written before the rule compared with the best stage held the stage before's
  // accuracy under another name; it is the best one a resumed run can know.
  if (raw.referenceAccuracy === undefined && raw.previousStageAccuracy !== undefined) {
    raw = { ...raw, referenceAccuracy: raw.previousStageAccuracy, ...((raw.stage as number) > 0 ? { referenceStage: (raw.stage as number) - 1 } : {}) };
    delete raw.previousStageAccuracy;
  }
  if (raw.referenceStage !== undefined && (typeof raw.referenceStage !== 'number' || !Number.isSafeInteger(raw.referenceStage) || raw.referenceStage < 0)) {
    throw new UserError(`${where}: field "referenceStage" must be a non-negative integer, got ${JSON.stringify(raw.referenceStage)}`);
  }
  for (const k of ['bestAccuracy', 'referenceAccuracy'] as const) {
    const v = raw[k];
    if (v !== undefined && (typeof v !== 'number' || !(v >= 0 && v <= 100))) throw new UserError(`${where}: field "${k}" must be an accuracy between 0 and 100, got ${JSON.stringify(v)}`);
  }
  if (raw.trainedEpochs !== undefined && (!Array.isArray(raw.trainedEpochs) || !raw.trainedEpochs.every((e) => e === null || (typeof e === 'number' && Number.isSafeInteger(e) && e >= 1)))) {
    throw new UserError(`${where}: field "trainedEpochs" must be a list of positive integers or nulls, got ${JSON.stringify(raw.trainedEpochs)}`);
  }
  const st = raw as unknown as TrainState;
  if (st.batchIndex > batchesPerEpoch) {
    throw new UserError(`${where}: batch ${st.batchIndex} is past the end of an epoch of ${batchesPerEpoch} batches: the training data or --batch differ from the run being resumed`);
  }
  return { ...st };
}

/**
 * Fault injection for tests: IVT_FAULT_AT_STEP=n destroys the device before step n (device
 * loss); with IVT_FAULT_KIND=error it instead provokes an uncaptured GPU validation error (a
 * buffer both MAP_READ and MAP_WRITE), which the engine raises at the next sync.
 */
function injectFault(step: number, log: (line: string) => void): void {
  const gpu = rt().dev.gpu;
  if (process.env.IVT_FAULT_KIND === 'error') {
    log(`IVT_FAULT_AT_STEP=${step}: provoking an uncaptured GPU validation error`);
    gpu.createBuffer({ size: 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.MAP_WRITE, label: 'IVT_FAULT_AT_STEP' });
  } else {
    log(`IVT_FAULT_AT_STEP=${step}: destroying the GPU device (simulated device loss)`);
    gpu.destroy();
  }
}

/** IVT_FAULT_AT_STEP=n (fault injection for tests): the optimizer step at which to inject a fault. */
function faultStep(): number | null {
  const v = process.env.IVT_FAULT_AT_STEP;
  if (v === undefined || v === '') return null;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1) throw new UserError(`IVT_FAULT_AT_STEP must be a positive integer, got "${v}"`);
  return n;
}

/**
 * On resume, drop metric lines past the checkpoint so the log has each step once. A stage's
 * eval line carries the stage's last step; it was written before the checkpoint only when the
 * checkpoint is the stage-end one (its state starts the next stage: batch index 0). A step
 * checkpoint at that same step precedes the eval, which the resumed run repeats.
 */
export function truncateMetrics(path: string, step: number, stageEnd: boolean): void {
  if (!existsSync(path)) return;
  const keep = readFileSync(path, 'utf8').split('\n').filter((l) => {
    if (!l.trim()) return false;
    try {
      const r = JSON.parse(l) as { step: number; eval?: boolean; gate?: boolean; reference?: boolean };
      // At a stage end the stage's own checks were written before its checkpoint and are kept;
      // the next stage's reference check (of the same weights, written after the checkpoint,
      // which then does not record it) is made again by the resumed run.
      return r.eval || r.gate ? r.step < step || (r.step === step && stageEnd && !r.reference) : r.step <= step;
    } catch {
      return false; // a line cut by a crash
    }
  });
  // Rewritten beside and renamed: a crash here must not cost the history already logged.
  writeFileAtomic(path, keep.map((l) => l + '\n').join(''));
}

/** `items` split by `key`, in order of each key's first item; each part keeps the items' order. */
export function groupBy(items: readonly number[], key: (i: number) => number): number[][] {
  const parts = new Map<number, number[]>();
  for (const i of items) {
    const k = key(i);
    const part = parts.get(k);
    if (part) part.push(i);
    else parts.set(k, [i]);
  }
  return [...parts.values()];
}

/** Whether two paths name the same folder (through links too); false where either does not exist. */
function sameFolder(a: string, b: string): boolean {
  if (!existsSync(a) || !existsSync(b)) return resolve(a) === resolve(b);
  return realpathSync(a) === realpathSync(b);
}
