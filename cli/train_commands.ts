// `ivt train`, `ivt eval`, `ivt infer`: thin wrappers over train/ and model/.
import { Command, Option } from 'commander';
import sharp from 'sharp';
import { existsSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { UserError } from '../engine/errors.js';
import { writeFileAtomic as writeAtomic } from '../engine/atomic_file.js';
import { shutdownEngine } from '../engine/tensor.js';
import * as E from '../engine/index.js';
import { IvtConfig, PRESET_NAMES, imageTokens, validateConfig } from '../model/config.js';
import { IvtModel, FULL_LATENT, type LatentOptions, type Sample } from '../model/ivt.js';
import { generate } from '../model/generate.js';
import { loadDataset, isSplit, MISSING_IMAGE_POLICIES, type MissingImagePolicy, type ProblemRecord } from '../train/data/index.js';
import { choosesLatentSteps, evaluate, EVAL_MODES, EvalMode, generatedText, modeSettings, stepsLabel } from '../train/eval.js';
import { toSamples, extractAnswer } from '../train/samples.js';
import { diagnose, imageDependentShare, inputNorms, probeImageTokens, visionFocus, visionFocusLines } from '../train/diagnose.js';
import { readScenes } from '../train/data/synth/lookups.js';
import { answerStops, Tokenizer } from '../train/tokenizer.js';
import { selectionPng } from '../train/charts.js';
import { latestTag, loadCheckpoint } from '../train/checkpoint.js';
import { epochsOfStage, EXTEND_MIN_GAIN, EXTEND_PATIENCE, EXTEND_TOLERANCE, maxEpochsOfStage, readJsonObject, SETTLE_LR_FRACTION, train, TrainOptions } from '../train/trainer.js';

export function intArg(name: string, min = 0) {
  return (v: string): number => {
    if (!/^[+-]?\d+$/.test(v.trim())) throw new UserError(`--${name} must be an integer, got "${v}"`);
    const n = Number(v);
    // Past 2^53 a decimal string no longer names one integer (a seed would silently change).
    if (!Number.isSafeInteger(n)) throw new UserError(`--${name} must be an integer below 2^53, got "${v}"`);
    if (n < min) throw new UserError(`--${name} must be >= ${min}, got ${n}`);
    return n;
  };
}
/**
 * A decimal number (Number() would also take hexadecimal "0x10" or binary "0b1"), at least
 * `min`, or above it where `above` (a learning rate of 0 trains nothing).
 */
export function floatArg(name: string, min = 0, above = false) {
  return (v: string): number => {
    const n = Number(v);
    const decimal = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(v.trim());
    if (!decimal || !Number.isFinite(n) || n < min || (above && n === min)) throw new UserError(`--${name} must be a number ${above ? '>' : '>='} ${min}, got "${v}"`);
    return n;
  };
}

/**
 * Which stage's weights a checkpoint holds: stage-s and stage-s-best by name; a step checkpoint
 * (and `latest`, resolved) by its train_state.json, which is mid-stage, or at the start of the
 * next stage for the checkpoint written at a stage's end. Null where it cannot be told.
 */
export function weightsStage(run: string, tag: string | undefined): number | null {
  const t = tag === undefined || tag === 'latest' ? latestTag(run) : tag;
  if (t === null) return null;
  const named = /^stage-(\d+)(-best)?$/.exec(t);
  if (named) return Number(named[1]);
  const file = join(run, 'checkpoints', t, 'train_state.json');
  if (!existsSync(file)) return null;
  const st = readJsonObject(file);
  const stage = st.stage;
  if (typeof stage !== 'number' || !Number.isSafeInteger(stage) || stage < 0) return null;
  const atStageStart = st.epoch === 0 && st.batchIndex === 0 && (st.stageStep ?? 0) === 0;
  return atStageStart && stage > 0 ? stage - 1 : stage;
}

/**
 * The mode a run's weights were trained for, when eval or infer are given no --mode: a no-CoT
 * run answers directly; stage-0 weights (and a run without latent stages) write their
 * rationale; latent weights run their own ablation or control if they were trained with one.
 */
export function trainedMode(run: string, tag: string | undefined, cfg: IvtConfig): EvalMode {
  const file = join(run, 'options.json');
  const opts = existsSync(file) ? readJsonObject(file) : {};
  if (opts.mode === 'nocot') return 'nocot';
  if (cfg.latentSteps === 0 || weightsStage(run, tag) === 0) return 'cot';
  const lo = (typeof opts.latent === 'object' && opts.latent !== null ? opts.latent : {}) as Partial<LatentOptions>;
  if (lo.latentText === false) return 'ivt-no-text';
  if (lo.latentVision === false) return 'ivt-no-vision';
  if (lo.randomVision) return 'ivt-random-vision';
  return 'ivt';
}

/** Latent steps when --latent-steps is not given: stage-s weights (weightsStage) run s; a last stage's or unknown weights the model's N. */
export function defaultLatentSteps(run: string, tag: string | undefined, mode: EvalMode, cfg: IvtConfig): number | undefined {
  if (mode === 'cot' || mode === 'nocot') return undefined;
  const s = weightsStage(run, tag);
  return s !== null && s >= 1 && s < cfg.latentSteps ? s : undefined;
}

/** --latent-steps: only for latent modes; each latent step inserts top-k image tokens, never one twice. */
function checkLatentSteps(n: number | undefined, mode: string, cfg: IvtConfig, modeGiven = true): void {
  if (n !== undefined && (mode === 'cot' || mode === 'nocot')) throw new UserError(`--latent-steps with --mode ${mode}${modeGiven ? '' : ' (the mode this run trained for; give --mode to choose another)'}: that mode has no latent steps`);
  if (n !== undefined && n * cfg.topK > imageTokens(cfg)) {
    throw new UserError(`--latent-steps ${n}: ${n} steps x top-${cfg.topK} exceed the model's ${imageTokens(cfg)} image tokens`);
  }
}

/** A probability in [0, 1): 1 would never train the stage itself. */
export function probabilityArg(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || n < 0 || n >= 1) throw new UserError(`--${name} must be a probability in [0, 1), got "${v}"`);
    return n;
  };
}

/** A comma-separated list of positive integers, e.g. --stage-epochs 9,2,4,2. */
export function intListArg(name: string) {
  return (v: string): number[] => {
    const parts = v.split(',').map((x) => x.trim());
    if (parts.some((x) => !/^\d+$/.test(x) || Number(x) < 1)) throw new UserError(`--${name} must be a comma-separated list of positive integers, got "${v}"`);
    return parts.map(Number);
  };
}

/** A run's config and tokenizer, checked (no GPU needed): the cheap half of loadRun. */
export function readRun(run: string): { tok: Tokenizer; cfg: IvtConfig } {
  if (!existsSync(run)) throw new UserError(`--run ${run}: no such folder`);
  if (!statSync(run).isDirectory()) throw new UserError(`--run ${run}: not a folder`);
  const cfgPath = join(run, 'config.json');
  if (!existsSync(cfgPath)) throw new UserError(`${run}: not a training run (no config.json)`);
  const cfg = readJsonObject(cfgPath) as unknown as IvtConfig;
  validateConfig(cfg, cfgPath);
  const tok = Tokenizer.load(join(run, 'tokenizer.json'));
  if (tok.vocabSize !== cfg.vocab) throw new UserError(`${run}: tokenizer has ${tok.vocabSize} tokens but config.json says vocab ${cfg.vocab}`);
  return { tok, cfg };
}

/** Loads a run's config, tokenizer and latest (or tagged) weights into a fresh model. */
export async function loadRun(run: string, tag?: string, read = readRun(run)): Promise<{ model: IvtModel; tok: Tokenizer; cfg: IvtConfig; tag: string }> {
  const { tok, cfg } = read;
  await E.initEngine();
  const model = new IvtModel(cfg, tok.pad);
  const ck = await loadCheckpoint(run, { params: model.ps.params, tag });
  return { model, tok, cfg, tag: ck.tag };
}

/** The records of one split (at most `limit`; 0: all) and their samples; none is the user's error. */
async function splitSamples(o: { data: string; split: string; limit: number; missingImage: MissingImagePolicy }, tok: Tokenizer, cfg: IvtConfig): Promise<{ recs: ProblemRecord[]; samples: Sample[] }> {
  // Steps cut as the model's curriculum cut them (N = its latent stages), for per-length groups
  // and diagnosis at the step boundaries it trained on.
  const ds = await loadDataset(o.data, { missingImage: o.missingImage, maxSteps: cfg.latentSteps >= 1 ? cfg.latentSteps : undefined });
  let recs = ds.records.filter((r) => r.split === o.split);
  if (o.limit) recs = recs.slice(0, o.limit);
  if (recs.length === 0) throw new UserError(`${o.data}: no problems in the ${o.split} split`);
  const missing = ds.report.convertedToTextOnly;
  if (missing) console.log(`note: ${o.data}: ${missing} problem${missing > 1 ? 's name image files that do' : ' names an image file that does'} not exist; used text-only (a blank picture)`);
  try {
    return { recs, samples: await toSamples(recs, tok, cfg) };
  } catch (e) {
    // Name the dataset: a problem's id alone does not say where it is.
    if (e instanceof UserError && !e.message.startsWith(o.data)) throw new UserError(`${o.data}: ${e.message}`);
    throw e;
  }
}

/** An output file flag must name a file we can create: not a folder, not under a file. Checked before any work. */
export function checkOutFile(path: string, flag: string): void {
  if (existsSync(path) && statSync(path).isDirectory()) throw new UserError(`${flag} ${path}: is a folder, expected a file name`);
  let dir = dirname(resolve(path));
  while (!existsSync(dir)) dir = dirname(dir);
  if (!statSync(dir).isDirectory()) throw new UserError(`${flag} ${path}: ${dir} is a file, not a folder`);
}

/**
 * What a resumed run takes from its options.json: the whole recipe (data order seed, learning
 * rates, stage lengths, ablation flags ...), so that `ivt train --data D --out RUN --resume`
 * continues exactly what was started. Where to log, how often to checkpoint and the data
 * folder's path may change.
 *
 * Fields are compared in groups by the values they take effect as: --latent-lr not given means
 * --lr, --epochs0 not given means --epochs, and so on, so a flag restating what the run used
 * is accepted. Each group: the fields, the flags (commander attribute names) that set them, and
 * what the group amounts to for a set of options.
 */
type Opts = Partial<TrainOptions>;
interface ResumedGroup { fields: (keyof TrainOptions)[]; flags: string[]; effective: (o: Opts) => unknown; show: (o: Opts) => string }
/** Commander's attribute name of a flag: --max-epochs0 -> maxEpochs0, --no-eval -> eval. */
const attributeOf = (flag: string) => flag.replace(/^--(no-)?/, '').replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
const same = (k: keyof TrainOptions, flag: string, show?: (v: unknown) => string): ResumedGroup =>
  ({ fields: [k], flags: [attributeOf(flag)], effective: (o) => o[k] ?? null, show: (o) => (show ? show(o[k]) : `${flag} ${o[k] === undefined ? '(none)' : Array.isArray(o[k]) ? (o[k] as unknown[]).join(',') : String(o[k])}`) });
const switched = (k: keyof TrainOptions, flag: string, flagSets: boolean): ResumedGroup =>
  same(k, flag, (v) => `${(v ?? !flagSets) === flagSets ? '' : 'no '}${flag}`);
const stageCount = (o: Opts) => (o.mode === 'nocot' ? 1 : (o.stages ?? 0) + 1);
const RESUMED: ResumedGroup[] = [
  same('preset', '--preset'), same('stages', '--stages'), same('batch', '--batch'), same('seed', '--seed'), same('mode', '--mode'),
  same('weightDecay', '--weight-decay'), same('clip', '--clip'), switched('resetOptimizer', '--reset-optimizer', true),
  { fields: ['lr', 'latentLr'], flags: ['lr', 'latentLr'], effective: (o) => [o.lr, o.latentLr ?? o.lr], show: (o) => `--lr ${o.lr} --latent-lr ${o.latentLr ?? o.lr}` },
  { fields: ['latent'], flags: ['latentText', 'latentVision', 'randomLatentVision', 'detachLatents'], effective: (o) => latentFlags(o.latent ?? FULL_LATENT), show: (o) => latentFlags(o.latent ?? FULL_LATENT) },
  same('startStage', '--start-stage'), same('initFrom', '--init-from'), same('initTag', '--init-tag'), same('maxTrain', '--max-train'), same('maxVal', '--max-val'),
  switched('evalEachStage', '--no-eval', false), same('missingImage', '--missing-image'), same('alignWeight', '--align-weight'), switched('captions', '--no-captions', false),
  switched('adaptiveLatents', '--adaptive-latents', true),
  {
    fields: ['epochsPerStage', 'epochsStage0', 'stageEpochs', 'maxEpochsPerStage', 'maxEpochsStage0'], flags: ['epochs', 'epochs0', 'stageEpochs', 'maxEpochs', 'maxEpochs0'],
    effective: (o) => Array.from({ length: stageCount(o) }, (_, st) => [epochsOfStage(o as TrainOptions, st), maxEpochsOfStage(o as TrainOptions, st)]),
    show: (o) => `epochs by stage ${Array.from({ length: stageCount(o) }, (_, st) => epochsOfStage(o as TrainOptions, st)).join(' / ')} (at most ${Array.from({ length: stageCount(o) }, (_, st) => maxEpochsOfStage(o as TrainOptions, st)).join(' / ')})`,
  },
  same('extendTolerance', '--extend-tolerance'), same('extendMinGain', '--extend-min-gain'), same('extendPatience', '--extend-patience'), same('mixStages', '--mix-stages'),
  { fields: ['settleEpochs', 'settleLr'], flags: ['settleEpochs', 'settleLr'], effective: (o) => [o.settleEpochs ?? 0, o.settleLr ?? (o.latentLr ?? o.lr ?? 0) * SETTLE_LR_FRACTION], show: (o) => `--settle-epochs ${o.settleEpochs ?? 0} --settle-lr ${o.settleLr ?? (o.latentLr ?? o.lr ?? 0) * SETTLE_LR_FRACTION}` },
  { fields: ['stepsPerStage', 'stepsStage0'], flags: ['steps', 'steps0'], effective: (o) => [o.stepsStage0 ?? o.stepsPerStage ?? null, o.stepsPerStage ?? null], show: (o) => (o.stepsPerStage ?? o.stepsStage0) === undefined ? 'stages measured in epochs' : `--steps ${o.stepsPerStage ?? 'none'} --steps0 ${o.stepsStage0 ?? o.stepsPerStage}` },
];
/**
 * A field missing from options.json: written by a version without it (these values: what such
 * a run did) or left out by JSON because it had no value (undefined). topK is not restored: the
 * run's config.json holds the k it uses, and prepareRun checks a --top-k against it.
 */
const ABSENT: Partial<Record<keyof TrainOptions, unknown>> = { missingImage: 'text-only', adaptiveLatents: false, alignWeight: 0, captions: false, mixStages: 0, evalEachStage: true, resetOptimizer: false, latent: FULL_LATENT, startStage: 0, maxTrain: 0 };

/**
 * The options of a resumed run: every field of RESUMED as its options.json has it. A flag given
 * on this command line whose group takes effect differently from the run's is refused, naming
 * both; a flag restating the run's values is accepted.
 */
export function resumedOptions(opts: TrainOptions, cmd: Command): TrainOptions {
  const file = join(opts.out, 'options.json');
  if (!existsSync(file)) return opts;
  const had = readJsonObject(file) as Opts;
  const saved: Opts = { ...opts };
  for (const g of RESUMED) for (const k of g.fields) (saved as Record<string, unknown>)[k] = k in had ? had[k] : ABSENT[k];
  for (const g of RESUMED) {
    const given = g.flags.filter((a) => cmd.getOptionValueSource(a) === 'cli');
    // The group as this command would set it, everything else (e.g. the number of stages) as the run has it.
    const asGiven: Opts = { ...saved, ...Object.fromEntries(g.fields.map((k) => [k, opts[k]])) };
    if (given.length && JSON.stringify(g.effective(asGiven)) !== JSON.stringify(g.effective(saved))) {
      const flags = given.map((a) => cmd.options.find((x) => x.attributeName() === a)!.long!).join(', ');
      throw new UserError(`--resume: the run in ${opts.out} was trained with ${g.show(saved)}; this command gives ${g.show(asGiven)} (${flags}; ${file}); leave ${given.length > 1 ? 'those flags' : 'the flag'} out to continue with the run's own`);
    }
  }
  return saved as TrainOptions;
}

/** A latent mode as the flags that select it. */
function latentFlags(lo: Partial<LatentOptions>): string {
  const flags = [lo.latentText === false && '--no-latent-text', lo.latentVision === false && '--no-latent-vision', lo.randomVision === true && '--random-latent-vision', lo.detach === true && '--detach-latents'].filter(Boolean);
  return flags.length ? flags.join(' ') : 'the full latent mode (no ablation flag)';
}

/** What `ivt train --preset tiny` trains on unless --max-train / --max-val say otherwise. */
export const TINY_SMOKE = { maxTrain: 256, maxVal: 50 } as const;

export function registerTrainCommands(program: Command): void {
  program
    .command('train')
    .description('train IVT-LR with the staged curriculum (stage 0: explicit CoT; stage s: s latent steps)')
    .requiredOption('--data <dir>', 'dataset folder (ScienceQA layout, e.g. from `ivt data synth`)')
    .requiredOption('--out <dir>', 'run folder (checkpoints, metrics.jsonl, config, tokenizer)')
    .addOption(new Option('--missing-image <policy>', 'a problem naming an image file that does not exist: error, skip it, or train on it text-only (a blank picture, no grounding)').choices([...MISSING_IMAGE_POLICIES]).default('error'))
    .addOption(new Option('--preset <name>', 'model size').choices([...PRESET_NAMES]).default('small'))
    .option('--stages <n>', 'latent stages after stage 0', intArg('stages', 0), 3)
    .option('--max-len <n>', 'positions a sequence may take: image tokens, prompt, latent slots, steps and answer (default: the preset\'s; real ScienceQA rationales need several hundred)', intArg('max-len', 8))
    .option('--top-k <n>', 'image embeddings selected per latent step (default: the preset\'s, the --init-from run\'s or the resumed run\'s; the model has no weight that depends on it)', intArg('top-k', 1))
    .option('--epochs <n>', 'epochs per stage', intArg('epochs', 1), 2)
    .option('--epochs0 <n>', 'epochs of stage 0 (explicit CoT usually needs more than a latent stage; default: --epochs)', intArg('epochs0', 1))
    .option('--batch <n>', 'batch size', intArg('batch', 1), 16)
    .option('--lr <x>', 'AdamW learning rate', floatArg('lr', 0, true), 1e-3)
    .option('--latent-lr <x>', 'AdamW learning rate of the latent stages (default: --lr)', floatArg('latent-lr', 0, true))
    .option('--weight-decay <x>', 'AdamW weight decay', floatArg('weight-decay'), 0.01)
    .option('--clip <x>', 'global gradient-norm clip (0: off)', floatArg('clip'), 1.0)
    .option('--reset-optimizer', 'reset AdamW moments at each stage switch (the reference code does not)', false)
    .option('--seed <n>', 'data order seed', intArg('seed'), 1)
    .option('--checkpoint-every <n>', 'steps between checkpoints (0: stage ends only)', intArg('checkpoint-every'), 50)
    .option('--resume', 'continue from the run folder\'s latest checkpoint', false)
    .addOption(new Option('--mode <mode>', 'ivt: the curriculum; nocot: answer-only baseline').choices(['ivt', 'nocot']).default('ivt'))
    .option('--no-latent-text', 'ablation: a learned placeholder instead of the recycled hidden state')
    .option('--no-latent-vision', 'ablation: no image embeddings inserted at latent steps')
    .option('--random-latent-vision', 'control: the image embeddings inserted at latent steps drawn at random (fixed per problem) instead of by attention', false)
    .option('--detach-latents', 'stop gradients at the recycled hidden state (the reference code\'s variant)', false)
    .option('--adaptive-latents', 'adaptive latent steps: a count head learns from the prompt how many reasoning steps a problem has; a problem of m steps trains with min(s, m) latent steps at stage s, and inference runs as many as the head chooses (a branch, --init-from, inherits its source\'s)')
    .option('--no-adaptive-latents', 'a branch of a run with adaptive latent steps trains the fixed count, without the count head')
    .option('--start-stage <n>', 'first stage to train', intArg('start-stage'), 0)
    .option('--init-from <run>', 'start from another run\'s weights (ablations branch off a stage-0 run)')
    .option('--init-tag <tag>', 'which checkpoint of --init-from (e.g. stage-0; default: its latest)')
    .option('--max-train <n>', 'use at most n training problems (0: all)', intArg('max-train'), 0)
    .option('--max-val <n>', 'use at most n validation problems (0: all)', intArg('max-val'), 200)
    .option('--no-eval', 'skip validation at stage ends')
    .option('--log-every <n>', 'progress line every n steps when not on a terminal', intArg('log-every', 1), 20)
    .option('--verbose', 'a progress line every step, with GPU memory-pool statistics (in use vs allocated, cached, peaks, buffers created/reused)', false)
    .option('--align-weight <x>', 'weight of the alignment objective: image tokens predict the words for their cell (synthetic data only; 0: off)', floatArg('align-weight', 0), 1)
    .option('--no-captions', 'do not mix a caption of every training picture into stage 0 (synthetic data only)')
    .option('--stage-epochs <list>', 'epochs of each stage, stage 0 first (e.g. 9,2,4,2; overrides --epochs0/--epochs where given)', intListArg('stage-epochs'))
    .option('--max-epochs <n>', 'let a latent stage run up to n epochs: one more at a time while its validation accuracy is more than --extend-tolerance points below the best stage before it (at n, it ends with the weights of its best check)', intArg('max-epochs', 1))
    .option('--max-epochs0 <n>', 'let stage 0 run up to n epochs: one more at a time until its best validation accuracy is --extend-patience epochs old', intArg('max-epochs0', 1))
    .option('--extend-tolerance <x>', 'points a latent stage may stay below the best stage before it and still end (with --max-epochs)', floatArg('extend-tolerance', -100), EXTEND_TOLERANCE)
    .option('--extend-patience <n>', 'stage 0 goes on (with --max-epochs0) until its best validation accuracy is n epochs old', intArg('extend-patience', 1), EXTEND_PATIENCE)
    .option('--extend-min-gain <x>', 'points by which a validation accuracy must beat the stage\'s best so far to count as a new best (stage 0 with --max-epochs0, a latent stage with --max-epochs)', floatArg('extend-min-gain', -100), EXTEND_MIN_GAIN)
    .option('--steps <n>', 'optimizer steps per stage instead of epochs (a stage may end mid-epoch or run into the next)', intArg('steps', 1))
    .option('--steps0 <n>', 'optimizer steps of stage 0 (default: --steps)', intArg('steps0', 1))
    .option('--mix-stages <p>', 'stage mixing: in a latent stage, train each batch with probability p at an earlier stage (drawn uniformly), so the final model still works with fewer latent steps (0: off)', probabilityArg('mix-stages'), 0)
    .option('--settle-epochs <n>', 'each latent stage ends with n more epochs at --settle-lr, after the epochs --epochs or the validation rule gives it, then is validated once more (0: off)', intArg('settle-epochs', 0), 0)
    .option('--settle-lr <x>', `learning rate of the settle epochs (default: ${SETTLE_LR_FRACTION} x the latent stages' rate)`, floatArg('settle-lr', 0, true))
    .action(async (o, cmd: Command) => {
      if (!existsSync(o.data)) throw new UserError(`--data ${o.data}: no such folder`);
      // An epoch count given for a stage measured in steps would be ignored without a word.
      const given = (name: string) => cmd.getOptionValueSource(name) === 'cli';
      // `--preset tiny` is the smoke-test size: unless told otherwise it trains on the first
      // TINY_SMOKE.maxTrain problems and validates on TINY_SMOKE.maxVal, so it ends in seconds.
      if (o.preset === 'tiny' && !o.resume) {
        const capped: string[] = [];
        if (!given('maxTrain')) capped.push(`--max-train ${(o.maxTrain = TINY_SMOKE.maxTrain)}`);
        if (!given('maxVal')) capped.push(`--max-val ${(o.maxVal = TINY_SMOKE.maxVal)}`);
        if (capped.length) console.log(`--preset tiny: a smoke run (${capped.join(' ')}; give --max-train 0 --max-val 0 for the whole dataset)`);
      }
      if (o.steps !== undefined && given('epochs')) throw new UserError('--steps and --epochs: give one of them (a stage is measured in optimizer steps or in epochs)');
      if ((o.steps !== undefined || o.steps0 !== undefined) && given('epochs0')) throw new UserError(`${o.steps0 !== undefined ? '--steps0' : '--steps'} and --epochs0: give one of them for stage 0`);
      if (existsSync(o.out) && !statSync(o.out).isDirectory()) throw new UserError(`--out ${o.out}: exists and is not a folder`);
      let above = dirname(resolve(o.out));
      while (!existsSync(above)) above = dirname(above);
      if (!statSync(above).isDirectory()) throw new UserError(`--out ${o.out}: ${above} is a file, not a folder`);
      if (resolve(o.out) === resolve(o.data)) throw new UserError(`--out ${o.out}: is the dataset folder (--data); a run goes in a folder of its own`);
      // Training afresh into an existing run would overwrite its metrics and mix checkpoints.
      const existing = !o.resume && existsSync(o.out) ? latestTag(o.out) : null;
      if (existing) throw new UserError(`--out ${o.out} already holds a training run (latest checkpoint ${existing}): pass --resume to continue it, or choose another --out`);
      // A mistyped run folder must not quietly become a new run. A run killed before its first
      // checkpoint (it has its options.json) starts over, with its own options.
      if (o.resume && !existsSync(join(o.out, 'options.json')) && !existsSync(join(o.out, 'config.json'))) throw new UserError(`--resume: ${o.out} holds no training run to continue; leave out --resume to start one there`);
      if (o.initFrom && !existsSync(join(o.initFrom, 'config.json'))) throw new UserError(`--init-from ${o.initFrom}: not a training run (no config.json)`);
      if (o.settleLr !== undefined && !o.settleEpochs) throw new UserError('--settle-lr without --settle-epochs: give the settle epochs it is the rate of');
      if (o.settleEpochs && o.mode === 'nocot') throw new UserError('--settle-epochs with --mode nocot: a no-CoT run has no latent stages to settle');
      if (o.adaptiveLatents && o.mode === 'nocot') throw new UserError('--adaptive-latents with --mode nocot: a no-CoT model runs no latent steps');
      if (o.randomLatentVision && !o.latentVision) throw new UserError('--random-latent-vision and --no-latent-vision: give one of them (random image embeddings, or none)');
      // One ablation or control at a time: each has its own evaluation mode, which validation uses.
      if (o.randomLatentVision && !o.latentText) throw new UserError('--random-latent-vision and --no-latent-text: give one of them (one ablation or control at a time)');
      const opts: TrainOptions = {
        data: o.data, out: o.out, preset: o.preset, stages: o.stages, topK: o.topK, ...(o.maxLen !== undefined ? { overrides: { maxLen: o.maxLen } } : {}), epochsPerStage: o.epochs, epochsStage0: o.epochs0, batch: o.batch, lr: o.lr, latentLr: o.latentLr,
        weightDecay: o.weightDecay, clip: o.clip, resetOptimizer: o.resetOptimizer, seed: o.seed, checkpointEvery: o.checkpointEvery,
        resume: o.resume, mode: o.mode, latent: { latentText: o.latentText, latentVision: o.latentVision, detach: o.detachLatents, ...(o.randomLatentVision ? { randomVision: true } : {}) },
        startStage: o.startStage, initFrom: o.initFrom, initTag: o.initTag, maxTrain: o.maxTrain, maxVal: o.maxVal, evalEachStage: o.eval, logEvery: o.logEvery,
        verbose: o.verbose, missingImage: o.missingImage, alignWeight: o.alignWeight, captions: o.captions, stageEpochs: o.stageEpochs, maxEpochsPerStage: o.maxEpochs, maxEpochsStage0: o.maxEpochs0,
        extendTolerance: o.extendTolerance, extendMinGain: o.extendMinGain, extendPatience: o.extendPatience, mixStages: o.mixStages,
        stepsPerStage: o.steps, stepsStage0: o.steps0, adaptiveLatents: o.adaptiveLatents, settleEpochs: o.settleEpochs, settleLr: o.settleLr,
      };
      const run = o.resume ? resumedOptions(opts, cmd) : opts;
      const stages = run.mode === 'nocot' ? 1 : run.stages + 1;
      if (run.stageEpochs && run.stageEpochs.length > stages) throw new UserError(`--stage-epochs ${run.stageEpochs.join(',')}: ${run.stageEpochs.length} entries, but this run has ${stages} stage${stages > 1 ? 's' : ''} (0..${stages - 1})`);
      if (o.resume && latestTag(o.out) === null) console.log(`${o.out} has no checkpoint yet: the run starts over, with its own options`);
      const r = await train(run);
      console.log(`done: ${r.state.step} steps, ${r.msPerStep.toFixed(0)} ms/step, ${r.tokensPerSecond.toFixed(0)} tokens/s; run folder ${r.runDir}`);
      await shutdownEngine();
    });

  program
    .command('eval')
    .description('accuracy (strict answer extraction), forward passes and ms per question for a mode')
    .requiredOption('--run <dir>', 'run folder')
    .requiredOption('--data <dir>', 'dataset folder')
    .addOption(new Option('--missing-image <policy>', 'a problem naming an image file that does not exist: error, skip it, or use it text-only (a blank picture)').choices([...MISSING_IMAGE_POLICIES]).default('error'))
    .option('--split <name>', 'train, val or test', 'test')
    .addOption(new Option('--mode <mode>', 'inference mode (default: what the loaded weights trained for: nocot for a no-CoT run, cot for stage-0 weights, else the run\'s latent mode)').choices(EVAL_MODES))
    .option('--latent-steps <n>', 'latent steps (default: s for stage-s weights, else the model\'s)', intArg('latent-steps'))
    .option('--batch <n>', 'batch size', intArg('batch', 1), 32)
    .option('--limit <n>', 'evaluate at most n problems (0: all)', intArg('limit'), 0)
    .option('--tag <tag>', 'checkpoint tag (default: latest)')
    .option('--json <file>', 'write the result as JSON, with accuracy by number of reasoning steps')
    .option('--draft-answer', 'verify the answer line\'s template ("Therefore, the answer is") in one pass instead of decoding it token by token: the same answers, fewer passes')
    .option('--fixed-latents', 'a model with adaptive latent steps runs the fixed number instead of the count its head chooses')
    .option('--predictions <file>', 'write each question\'s id, gold and extracted answer and decoded text (JSON lines)')
    .option('--no-warmup', 'time the first batch with everything else (by default it runs once untimed first, so shader compilation is not counted per question)')
    .action(async (o) => {
      if (!isSplit(o.split)) throw new UserError(`--split must be train, val or test, got "${o.split}"`);
      if (o.json) checkOutFile(o.json, '--json');
      if (o.predictions) checkOutFile(o.predictions, '--predictions');
      // The run's files, the data and the images are checked before the GPU starts.
      const run = readRun(o.run);
      const { tok, cfg } = run;
      const modeGiven = o.mode !== undefined;
      o.mode ??= trainedMode(o.run, o.tag, cfg);
      checkLatentSteps(o.latentSteps, o.mode, cfg, modeGiven);
      o.latentSteps ??= defaultLatentSteps(o.run, o.tag, o.mode, cfg);
      const { recs, samples } = await splitSamples(o, tok, cfg);
      const { model, tag } = await loadRun(o.run, o.tag, run);
      const res = await evaluate(model, samples, tok, o.mode as EvalMode, {
        warmup: o.warmup,
        latentSteps: o.latentSteps ?? cfg.latentSteps, batch: o.batch, numChoices: (i) => recs[i].choices.length,
        groupOf: (i) => stepsLabel(recs[i].steps.length), keepPredictions: Boolean(o.predictions), draftAnswer: Boolean(o.draftAnswer), fixedLatents: Boolean(o.fixedLatents),
      });
      console.log(`${res.mode}: accuracy ${(res.accuracy * 100).toFixed(1)}% on ${res.n} (${res.unparsed} unparsed${res.truncated ? `, ${res.truncated} of them cut off at the decoding limit` : ''}${res.unparsed ? `; with the answer line read where it does not start a line: ${(res.lenient_accuracy * 100).toFixed(1)}%` : ''}), ${res.avg_passes.toFixed(1)} forward passes and ${res.ms_per_question.toFixed(1)} ms per question`);
      if (res.latent_counts) console.log(`  latent steps chosen by the count head: ${Object.entries(res.latent_counts).map(([c, n]) => `${c}: ${n}`).join(', ')}`);
      for (const [k, v] of Object.entries(res.by_group ?? {})) console.log(`  ${k}: ${(v.accuracy * 100).toFixed(1)}% of ${v.n}${v.avg_latent_steps !== undefined ? `, ${v.avg_latent_steps.toFixed(2)} latent steps on average` : ''}`);
      const { predictions, ...summary } = res;
      if (o.predictions) {
        const lines = (predictions ?? []).map((p) => JSON.stringify({ id: recs[p.index].id, gold: recs[p.index].answerIndex, answer: p.answer, text: p.text }));
        writeAtomic(o.predictions, lines.join('\n') + '\n');
      }
      if (o.json) writeAtomic(o.json, JSON.stringify({ run: o.run, tag, split: o.split, ...summary }, null, 2) + '\n');
      await shutdownEngine();
    });

  program
    .command('diagnose')
    .description('teacher-forced token accuracy by what each token needs (synthetic data: copying, image lookups, arithmetic, answer letter)')
    .requiredOption('--run <dir>', 'run folder')
    .requiredOption('--data <dir>', 'dataset folder')
    .addOption(new Option('--missing-image <policy>', 'a problem naming an image file that does not exist: error, skip it, or use it text-only (a blank picture)').choices([...MISSING_IMAGE_POLICIES]).default('error'))
    .option('--split <name>', 'train, val or test', 'val')
    .option('--limit <n>', 'at most n problems (0: all)', intArg('limit'), 200)
    .option('--tag <tag>', 'checkpoint tag (default: latest)')
    .option('--json <file>', 'write the table as JSON')
    .action(async (o) => {
      if (!isSplit(o.split)) throw new UserError(`--split must be train, val or test, got "${o.split}"`);
      if (o.json) checkOutFile(o.json, '--json');
      const run = readRun(o.run);
      const { tok, cfg } = run;
      const { recs, samples } = await splitSamples(o, tok, cfg);
      // Synthetic data (written by `ivt data synth`, which leaves synth.json) stores each
      // picture's scene: the skill groups and the image-token probe need it.
      const scenes = existsSync(join(o.data, 'synth.json')) ? readScenes(o.data) : null;
      const synthetic = scenes !== null && recs.every((r) => scenes.has(r.id));
      const { model } = await loadRun(o.run, o.tag, run);
      const groups = await diagnose(model, samples, tok, { batch: 32, synthetic });
      console.log(`teacher-forced next-token accuracy, ${recs.length} ${o.split} problems (${o.tag ?? 'latest'} weights),`);
      console.log(`with each problem's own picture and with the next problem's picture (equal: those tokens do not use the image):`);
      console.log(`  ${'tokens'.padEnd(42)} ${'own'.padStart(7)} ${'other'.padStart(7)}  count`);
      for (const g of groups) console.log(`  ${g.group.padEnd(42)} ${(100 * g.accuracy).toFixed(1).padStart(6)}% ${(100 * g.accuracyOtherImage).toFixed(1).padStart(6)}%  ${g.total}`);
      const share = await imageDependentShare(model, samples);
      console.log(`image-dependent share of the image tokens: ${(100 * share).toFixed(1)}% (variance across pictures over mean square; the rest is the same for every picture)`);
      const probe = synthetic ? await probeImageTokens(model, samples, recs.map((r) => scenes!.get(r.id))) : null;
      if (probe) console.log(`linear probe on the image tokens (${probe.tokens} tokens, 30% held out): colour ${(100 * probe.colour).toFixed(1)}%, shape ${(100 * probe.shape).toFixed(1)}% (5 classes with "empty")`);
      // What the language model reads, by norm (METHOD.md: the recycled state against a token
      // embedding), in the run's own latent mode; not for weights never trained with latent steps.
      const runOpts = existsSync(join(o.run, 'options.json')) ? readJsonObject(join(o.run, 'options.json')) : {};
      const lo = { ...FULL_LATENT, ...(typeof runOpts.latent === 'object' && runOpts.latent !== null ? runOpts.latent as Partial<LatentOptions> : {}) };
      const latentWeights = cfg.latentSteps > 0 && runOpts.mode !== 'nocot' && !/^stage-0(-|$)/.test(o.tag ?? '');
      const norms = latentWeights ? await inputNorms(model, samples, cfg.latentSteps, lo) : null;
      if (norms) console.log(`input norms (mean L2): token embeddings ${norms.token.toFixed(3)}, image tokens ${norms.image.toFixed(3)}; ${norms.steps.map((st, i) => `latent step ${i + 1}: hidden state ${st.hidden.toFixed(3)}, fed back as ${st.input.toFixed(3)}${lo.latentText ? '' : ' (the learned placeholder: a run without latent text)'}`).join('; ')}`);
      const focus = latentWeights && synthetic ? await visionFocus(model, samples, recs.map((r) => scenes!.get(r.id)!), cfg.latentSteps, lo) : null;
      if (focus) for (const line of visionFocusLines(focus)) console.log(line);
      else if (latentWeights && synthetic) {
        const why = !lo.latentVision ? 'the run inserts no image embeddings (without latent vision)' : lo.randomVision ? 'the run inserts random image embeddings (no attention chooses them)' : 'a cell of the scene is not one image token';
        console.log(`where latent vision looked: not measured, ${why}`);
      }
      if (o.json) writeAtomic(o.json, JSON.stringify({ run: o.run, split: o.split, tag: o.tag ?? 'latest', n: recs.length, groups, image_dependent_share: share, probe, input_norms: norms, vision_focus: focus }, null, 2) + '\n');
      await shutdownEngine();
    });

  program
    .command('infer')
    .description('answer one problem: the answer, the rationale (cot) or the patches each latent step selected (ivt)')
    .requiredOption('--run <dir>', 'run folder')
    .requiredOption('--image <file>', 'image file (PNG, JPEG, WebP, ...)')
    .requiredOption('--question <text>', 'question text')
    .requiredOption('--choices <list>', 'choices separated by |, e.g. "red|green|blue|yellow"')
    .addOption(new Option('--mode <mode>', 'inference mode (default: what the loaded weights trained for: nocot for a no-CoT run, cot for stage-0 weights, else the run\'s latent mode)').choices(EVAL_MODES))
    .option('--latent-steps <n>', 'latent steps, the later steps written out (default: s for stage-s weights, else the model\'s; a model trained with --mix-stages works with fewer)', intArg('latent-steps'))
    .option('--tag <tag>', 'checkpoint tag (default: latest)')
    .option('--fixed-latents', 'a model with adaptive latent steps runs the fixed number instead of the count its head chooses')
    .option('--show <png>', 'write the image as the model sees it, with the patches each latent step selected outlined and numbered, and the answer')
    .option('--json <file>', 'write the result as JSON: the decoded text, the answer, the patches each latent step selected, forward passes')
    .action(async (o) => {
      if (o.json) checkOutFile(o.json, '--json');
      if (o.show) {
        checkOutFile(o.show, '--show');
        if (!/\.png$/i.test(o.show)) throw new UserError(`--show ${o.show}: the picture is written as PNG; name it *.png`);
      }
      const choices = String(o.choices).split('|').map((c) => c.trim()).filter(Boolean);
      if (choices.length < 2) throw new UserError('--choices needs at least two options separated by |');
      if (choices.length > 26) throw new UserError(`--choices has ${choices.length} options; at most 26 (A-Z)`);
      const twice = choices.find((c, i) => choices.indexOf(c) !== i);
      if (twice !== undefined) throw new UserError(`--choices: "${twice}" is given twice; the answer could not say which one was meant`);
      if (!String(o.question).trim()) throw new UserError('--question is empty');
      const run = readRun(o.run);
      const { tok, cfg } = run;
      const rec = { id: 'cli', split: 'test' as const, question: o.question, hint: '', choices, answerIndex: 0, rationale: '', steps: [], imagePath: o.image };
      let sample: Sample;
      try {
        [sample] = await toSamples([rec], tok, cfg);
      } catch (e) {
        // The loader names the record; here the record is the command line.
        if (e instanceof UserError && e.message.includes('problem "cli"')) throw new UserError(`--question and --choices: ${e.message.replace(/^.*?problem "cli":\s*/, '')}`);
        throw e;
      }
      // The model sees every image as a square of its input size (training did the same); say so
      // where that changes the picture, since the patch rows and columns below refer to it.
      const meta = await sharp(o.image).metadata();
      if (meta.width !== meta.height) console.log(`note: --image ${o.image} is ${meta.width}x${meta.height}; the model sees it squashed to ${cfg.imageSize}x${cfg.imageSize}, as in training (--show draws that)`);
      const modeGiven = o.mode !== undefined;
      o.mode ??= trainedMode(o.run, o.tag, cfg);
      checkLatentSteps(o.latentSteps, o.mode, cfg, modeGiven);
      o.latentSteps ??= defaultLatentSteps(o.run, o.tag, o.mode, cfg);
      const { model, tag } = await loadRun(o.run, o.tag, run);
      const s = modeSettings(o.mode as EvalMode, o.latentSteps ?? cfg.latentSteps, cfg.latentSteps);
      const adaptive = choosesLatentSteps(model, s, Boolean(o.fixedLatents));
      // The stop sequences eval uses (every letter), so the passes counted here are eval's.
      const g = await generate(model, [sample], { adaptive, latentSteps: s.steps, latent: s.latent, recompute: s.recompute, maxNewTokens: s.maxNew, eos: tok.eos, stop: answerStops(tok, 26), withSelections: true });
      const text = generatedText(tok, g.tokens[0]!);
      const idx = extractAnswer(text, choices.length);
      if (o.mode === 'cot') console.log(`rationale:\n${text}`);
      else if (s.steps < cfg.latentSteps && o.mode !== 'nocot') console.log(`written after the ${s.steps} latent step${s.steps === 1 ? '' : 's'}:\n${text}`);
      g.selections.forEach((sel, i) => {
        const side = cfg.imageSize / cfg.patch;
        console.log(`latent step ${i + 1} selected patches: ${sel[0].map((j) => `#${j} (row ${Math.floor(j / side) + 1}, col ${(j % side) + 1})`).join(', ')}`);
      });
      const answer = idx >= 0 ? `(${String.fromCharCode(65 + idx)}) ${choices[idx]}` : null;
      console.log(answer ? `answer: ${answer}` : `answer: none could be extracted from "${text}"${g.truncated[0] ? ` (decoding reached its limit, ${g.tokens[0]!.length >= s.maxNew ? `${s.maxNew} new tokens in mode ${o.mode}` : `the model's ${cfg.maxLen} positions`}, before an answer line)` : ''}`);
      const ran = g.latentCounts[0]!;
      console.log(`${g.passes[0]} forward passes (mode ${o.mode}${s.steps ? `, ${ran} latent step${ran === 1 ? '' : 's'}${adaptive ? ` chosen by the count head, of at most ${s.steps}` : ''}` : ''})`);
      const selected = g.selections.map((sel) => sel[0]);
      if (o.show) {
        await selectionPng(o.image, cfg.imageSize / cfg.patch, selected, [
          o.question.length > 90 ? `${o.question.slice(0, 87)}...` : o.question,
          `choices: ${choices.map((c, i) => `(${String.fromCharCode(65 + i)}) ${c}`).join(' ')}`,
          `mode ${o.mode}, ${ran} latent step${ran === 1 ? '' : 's'}; answer: ${answer ?? 'none'}`,
        ], o.show, cfg.imageSize);
        console.log(`wrote ${o.show}`);
      }
      if (o.json) {
        writeAtomic(o.json, JSON.stringify({
          run: o.run, tag, image: o.image, question: o.question, choices, mode: o.mode, latent_steps: ran, adaptive,
          text, answer_index: idx >= 0 ? idx : null, answer: idx >= 0 ? choices[idx] : null, passes: g.passes[0], truncated: g.truncated[0],
          // Patch j is row floor(j / side), column j % side of the image's side x side patch grid.
          selected_patches: selected, patch_grid: cfg.imageSize / cfg.patch,
        }, null, 2) + '\n');
      }
      await shutdownEngine();
    });
}

