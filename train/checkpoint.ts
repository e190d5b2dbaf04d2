// Run checkpoints: RUN/checkpoints/<tag>/ holds
//   model.safetensors      weights by PyTorch-style parameter name (metadata format=pt)
//   optimizer.safetensors  "<name>.exp_avg", "<name>.exp_avg_sq" (PyTorch AdamW state names), metadata step
//   config.json            model config
//   train_state.json       trainer state (step, stage, epoch, data position, RNG): opaque JSON
//   tokenizer.json         (when given)
// and RUN/checkpoints/latest is a one-line text file naming the tag to resume from.
//
// Crash safety: a checkpoint is written into checkpoints/.tmp-<tag>-<pid>/ (every file fsynced),
// renamed to checkpoints/<tag>, and only then is `latest` replaced (temp file + rename). So at
// any crash point `latest` names either the previous complete checkpoint or the new complete
// one. Re-saving an existing tag moves the old one to .old-<tag>-<pid> first; if a crash strikes
// between the two renames, the next call restores it. Leftovers of dead processes (.tmp-, .old-,
// .del-) are cleaned up on the next save; those of live processes are left alone.
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { UserError } from '../engine/errors.js';
import type { AdamW } from '../engine/optim.js';
import { fsyncDir, processRunning } from '../engine/atomic_file.js';
import { firstNonFinite, readSafetensors, writeFileAtomic, writeSafetensors, type NamedSafeTensor, type SafeData, type SafeDType } from '../engine/safetensors.js';
import { rt, type DType, type Tensor } from '../engine/tensor.js';

export interface SaveCheckpointOptions {
  /** e.g. 'step-000120' (pruned, see keep) or 'stage-2' (kept forever). */
  tag: string;
  params: Map<string, Tensor>;
  optimizer?: AdamW;
  config: object;
  trainState: object;
  tokenizerJson?: object;
  /** How many step-N checkpoints to keep (newest by N); default 3. Other tags and the one `latest` names are never deleted. */
  keep?: number;
  /**
   * Point `latest` at this checkpoint (default true). False for a snapshot kept aside, e.g. the
   * best weights of a stage so far, which --resume must not continue from.
   */
  setLatest?: boolean;
}

export interface LoadCheckpointOptions {
  /** The model's parameters: values are uploaded into these tensors. */
  params: Map<string, Tensor>;
  /** When given, its moments and step are restored from optimizer.safetensors. */
  optimizer?: AdamW;
  /** Default: the tag `latest` names. */
  tag?: string;
  /** Tensors of the file the model may lack and that are then not loaded (a branch dropping a head). */
  ignore?: (name: string) => boolean;
}

export interface LoadedCheckpoint {
  tag: string;
  dir: string;
  config: Record<string, unknown>;
  trainState: Record<string, unknown>;
  tokenizerJson: Record<string, unknown> | null;
}

const MODEL = 'model.safetensors', OPTIM = 'optimizer.safetensors', CONFIG = 'config.json';
const STATE = 'train_state.json', TOKENIZER = 'tokenizer.json', LATEST = 'latest';
// A tag is a plain directory name: no separators, no leading dot (hidden names are ours).
const TAG_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const STEP_RE = /^step-(\d+)$/;
const LEFTOVER_RE = /^\.(tmp|old|del)-(.+)-(\d+)$/;
const LATEST_TMP_RE = /^latest\.tmp-(\d+)-[0-9a-f]+$/; // writeFileAtomic's temp for `latest`

const TO_SAFE: Record<DType, SafeDType> = { f32: 'F32', f16: 'F16', i32: 'I32', u32: 'U32' };

/** Saves in progress in this process: their leftovers are not stale. */
let savesInFlight = 0;

function checkTag(tag: string): void {
  if (typeof tag !== 'string' || !TAG_RE.test(tag) || tag === LATEST) {
    throw new UserError(`invalid checkpoint tag "${tag}" (letters, digits, '.', '_', '-'; not starting with '.'; not "latest")`);
  }
}

const rootOf = (runDir: string) => join(runDir, 'checkpoints');

function pidAlive(pid: number): boolean {
  if (pid === process.pid) return savesInFlight > 0;
  return processRunning(pid);
}

/**
 * Repairs what a crashed save can leave: restores `.old-<tag>` when `<tag>` is missing (crash
 * between moving the old copy aside and renaming the new one in), removes other leftovers.
 * Only touches leftovers of processes that are no longer running.
 */
function recover(root: string, removeLeftovers: boolean): void {
  if (!existsSync(root)) return;
  for (const name of readdirSync(root)) {
    const t = LATEST_TMP_RE.exec(name);
    if (t && removeLeftovers && !pidAlive(Number(t[1]))) rmSync(join(root, name), { force: true });
    const m = LEFTOVER_RE.exec(name);
    if (!m || pidAlive(Number(m[3]))) continue;
    const [, kind, tag] = m;
    const path = join(root, name);
    if (kind === 'old' && TAG_RE.test(tag) && !existsSync(join(root, tag))) renameSync(path, join(root, tag));
    else if (removeLeftovers) rmSync(path, { recursive: true, force: true });
  }
}

/** The tag `checkpoints/latest` names, or null when the run has no checkpoint yet. */
export function latestTag(runDir: string): string | null {
  const root = rootOf(runDir);
  recover(root, false);
  const file = join(root, LATEST);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new UserError(`${file}: cannot read (${(e as Error).message})`);
  }
  const tag = text.trim();
  if (!TAG_RE.test(tag) || tag === LATEST) throw new UserError(`${file}: does not name a checkpoint (${JSON.stringify(text.slice(0, 80))})`);
  return tag;
}

/** Complete checkpoints (folders holding model.safetensors), in numeric-aware name order. */
export function listCheckpoints(runDir: string): string[] {
  const root = rootOf(runDir);
  recover(root, false);
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .filter((n) => TAG_RE.test(n) && n !== LATEST && existsSync(join(root, n, MODEL)) && statSync(join(root, n)).isDirectory())
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
}

/** Raw bytes of a tensor as the typed array safetensors stores (f16 stays half bits). */
async function readRaw(t: Tensor): Promise<SafeData> {
  t.assertAlive();
  const empty = { f32: Float32Array, f16: Uint16Array, i32: Int32Array, u32: Uint32Array }[t.dtype];
  if (t.size === 0) return new empty(0);
  return new empty(await rt().read({ buffer: t.storage.buffer, offset: t.byteOffset }, t.byteLength));
}

const toJson = (x: object) => JSON.stringify(x, null, 2) + '\n';

/**
 * Writes checkpoints/<tag> and then points `latest` at it; prunes old step checkpoints.
 * Refuses non-finite weights or moments (the error names the tensor; nothing is written and
 * `latest` is unchanged). Returns the checkpoint folder.
 */
export async function saveCheckpoint(runDir: string, o: SaveCheckpointOptions): Promise<string> {
  checkTag(o.tag);
  const root = rootOf(runDir);
  await mkdir(root, { recursive: true });
  recover(root, true);
  savesInFlight++;
  const tmp = join(root, `.tmp-${o.tag}-${process.pid}`);
  const old = join(root, `.old-${o.tag}-${process.pid}`);
  const dest = join(root, o.tag);
  try {
    // Read everything back from the GPU before touching the disk.
    const model: NamedSafeTensor[] = [];
    for (const [name, t] of o.params) model.push({ name, dtype: TO_SAFE[t.dtype], shape: [...t.shape], data: await readRaw(t) });
    let optim: NamedSafeTensor[] | null = null;
    if (o.optimizer) {
      const nameOf = new Map([...o.params].map(([n, t]) => [t, n]));
      optim = [];
      for (const [t, { m, v }] of await o.optimizer.exportState()) {
        const name = nameOf.get(t);
        if (name === undefined) throw new Error(`saveCheckpoint: optimizer parameter ${t.name ?? t.id} [${t.shape}] is not in params`);
        optim.push({ name: `${name}.exp_avg`, dtype: 'F32', shape: [...t.shape], data: m });
        optim.push({ name: `${name}.exp_avg_sq`, dtype: 'F32', shape: [...t.shape], data: v });
      }
    }
    await rm(tmp, { recursive: true, force: true });
    await mkdir(tmp);
    try {
      await writeSafetensors(join(tmp, MODEL), model, { format: 'pt' }, { requireFinite: true });
      if (optim && o.optimizer) {
        const op = o.optimizer.opts;
        await writeSafetensors(join(tmp, OPTIM), optim, {
          format: 'pt', step: String(o.optimizer.step), lr: String(o.optimizer.lastLr ?? op.lr), beta1: String(op.beta1), beta2: String(op.beta2),
          eps: String(op.eps), weight_decay: String(op.weightDecay), max_grad_norm: String(op.maxGradNorm),
        }, { requireFinite: true });
      }
      await writeFileAtomic(join(tmp, CONFIG), toJson(o.config));
      await writeFileAtomic(join(tmp, STATE), toJson(o.trainState));
      if (o.tokenizerJson) await writeFileAtomic(join(tmp, TOKENIZER), toJson(o.tokenizerJson));
      await fsyncDir(tmp);
    } catch (e) {
      await rm(tmp, { recursive: true, force: true });
      throw e;
    }
    // Swap in. A directory cannot be renamed over a non-empty one, so an existing copy of this
    // tag is moved aside first (and restored by recover() if we die before the next rename).
    const replacing = existsSync(dest);
    if (replacing) await rename(dest, old);
    try {
      await rename(tmp, dest);
    } catch (e) {
      if (replacing) await rename(old, dest).catch(() => {});
      await rm(tmp, { recursive: true, force: true });
      throw e;
    }
    await fsyncDir(root);
    if (o.setLatest !== false) await writeFileAtomic(join(root, LATEST), o.tag + '\n');
    if (replacing) await rm(old, { recursive: true, force: true });
    if (o.setLatest !== false) await prune(root, o.keep ?? 3, o.tag);
    return dest;
  } catch (e) {
    if (e instanceof Error) e.message = `checkpoint ${o.tag} not saved (latest unchanged): ${e.message}`;
    throw e;
  } finally {
    savesInFlight--;
  }
}

/** Deletes all but the newest `keep` step-N checkpoints; never stage or other tags, never `latest`'s. */
async function prune(root: string, keep: number, latest: string): Promise<void> {
  const steps = readdirSync(root)
    .map((n) => ({ n, m: STEP_RE.exec(n) }))
    .filter((x): x is { n: string; m: RegExpExecArray } => x.m !== null)
    .sort((a, b) => Number(b.m[1]) - Number(a.m[1]));
  for (const { n } of steps.slice(Math.max(0, keep))) {
    if (n === latest) continue;
    // Rename first, so a crash mid-delete never leaves a half-deleted folder that looks complete.
    const del = join(root, `.del-${n}-${process.pid}`);
    await rename(join(root, n), del);
    await rm(del, { recursive: true, force: true });
  }
}

async function readJsonObject(path: string, optional: boolean): Promise<Record<string, unknown> | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if (optional && (e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new UserError(`${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new UserError(`${path}: not valid JSON (${(e as Error).message})`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new UserError(`${path}: not a JSON object`);
  return v as Record<string, unknown>;
}

/** A checkpoint's train_state.json, or null when there is no such checkpoint (weights only are not read). */
export async function readCheckpointState(runDir: string, tag: string): Promise<Record<string, unknown> | null> {
  checkTag(tag);
  recover(rootOf(runDir), false);
  const dir = join(rootOf(runDir), tag);
  if (!existsSync(join(dir, MODEL))) return null;
  return readJsonObject(join(dir, STATE), false);
}

const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);

function listSome(names: string[], max = 10): string {
  return names.slice(0, max).join(', ') + (names.length > max ? ` (and ${names.length - max} more)` : '');
}

/**
 * Loads a checkpoint into existing parameter tensors (and optimizer). Everything is validated
 * before anything is uploaded, so a mismatch leaves the model as it was.
 */
export async function loadCheckpoint(runDir: string, o: LoadCheckpointOptions): Promise<LoadedCheckpoint> {
  // "latest" names the tag its file holds (as every --tag flag's default does).
  const tag = o.tag === undefined || o.tag === LATEST ? latestTag(runDir) : o.tag;
  if (tag === null) throw new UserError(`${runDir}: no checkpoint to load (no ${join(rootOf(runDir), LATEST)})`);
  checkTag(tag);
  recover(rootOf(runDir), false);
  const dir = join(rootOf(runDir), tag);
  if (!existsSync(join(dir, MODEL))) {
    const have = listCheckpoints(runDir);
    throw new UserError(`${dir}: no such checkpoint (available: ${have.length ? have.join(', ') : 'none'})`);
  }

  const modelPath = join(dir, MODEL);
  const model = (await readSafetensors(modelPath)).tensors;
  const problems: string[] = [];
  for (const [name, t] of o.params) {
    const s = model.get(name);
    if (!s) problems.push(`parameter "${name}" [${t.shape}] is missing`);
    else if (!sameShape(s.shape, t.shape) || s.dtype !== TO_SAFE[t.dtype]) {
      problems.push(`parameter "${name}": checkpoint has ${s.dtype} [${s.shape}], model has ${TO_SAFE[t.dtype]} [${t.shape}]`);
    }
  }
  // A NaN or infinity in the weights would show up much later as 0% accuracy, or as a diverged
  // step blamed on the run that loaded them: name the file and tensor here instead.
  for (const [name, t] of model) {
    const at = firstNonFinite(t);
    if (at >= 0) throw new UserError(`${modelPath}: tensor "${name}" holds a NaN or infinity (element ${at}); these weights cannot be used`);
  }
  const extra = [...model.keys()].filter((n) => !o.params.has(n) && !o.ignore?.(n));
  if (extra.length) problems.push(`${extra.length} tensor(s) the model does not have: ${listSome(extra)}`);
  if (problems.length) throw new UserError(`${modelPath} does not match the model:\n  ${problems.slice(0, 20).join('\n  ')}${problems.length > 20 ? `\n  (and ${problems.length - 20} more)` : ''}`);

  const config = (await readJsonObject(join(dir, CONFIG), false))!;
  const trainState = (await readJsonObject(join(dir, STATE), false))!;
  const tokenizerJson = await readJsonObject(join(dir, TOKENIZER), true);

  let optState: { step: number; moments: Map<Tensor, { m: Float32Array; v: Float32Array }>; lr: number | null } | null = null;
  if (o.optimizer) {
    const path = join(dir, OPTIM);
    if (!existsSync(path)) throw new UserError(`${dir}: checkpoint has no optimizer state (${OPTIM}); load it without an optimizer to use the weights only`);
    const f = await readSafetensors(path);
    const step = Number(f.metadata.step);
    if (f.metadata.step === undefined || !Number.isSafeInteger(step) || step < 0) throw new UserError(`${path}: metadata "step" must be a non-negative integer, got ${JSON.stringify(f.metadata.step)}`);
    const nameOf = new Map([...o.params].map(([n, t]) => [t, n]));
    const moments = new Map<Tensor, { m: Float32Array; v: Float32Array }>();
    const used = new Set<string>();
    for (const t of o.optimizer.params) {
      const name = nameOf.get(t);
      if (name === undefined) throw new Error(`loadCheckpoint: optimizer parameter ${t.name ?? t.id} [${t.shape}] is not in params`);
      const pair = ['exp_avg', 'exp_avg_sq'].map((k) => {
        const key = `${name}.${k}`;
        used.add(key);
        const s = f.tensors.get(key);
        if (!s) problems.push(`"${key}" is missing`);
        else if (s.dtype !== 'F32' || !sameShape(s.shape, t.shape)) problems.push(`"${key}": checkpoint has ${s.dtype} [${s.shape}], expected F32 [${t.shape}]`);
        else if (firstNonFinite(s) >= 0) throw new UserError(`${path}: tensor "${key}" holds a NaN or infinity (element ${firstNonFinite(s)}); this optimizer state cannot be used`);
        else return s.data as Float32Array;
        return null;
      });
      if (pair[0] && pair[1]) moments.set(t, { m: pair[0], v: pair[1] });
    }
    const extraOpt = [...f.tensors.keys()].filter((n) => !used.has(n));
    if (extraOpt.length) problems.push(`${extraOpt.length} tensor(s) for parameters the optimizer does not have: ${listSome(extraOpt)}`);
    if (problems.length) throw new UserError(`${path} does not match the optimizer:\n  ${problems.slice(0, 20).join('\n  ')}`);
    // The learning rate of the update before the checkpoint, as saveCheckpoint wrote it: a
    // resumed run that checkpoints before its next update writes the same value again.
    const lr = Number(f.metadata.lr);
    optState = { step, moments, lr: f.metadata.lr !== undefined && Number.isFinite(lr) ? lr : null };
  }

  // Upload. writeBuffer runs before any recorded-but-unsubmitted commands, which may still
  // read or write these parameters: submit those first so the loaded values land after them.
  // (Uploads pad to 4 bytes; parameters own their buffer or a 256-byte-aligned arena slot, so
  // the padding of an odd-length f16 tensor lands in slack.)
  rt().flush();
  for (const [name, t] of o.params) {
    t.assertAlive();
    if (t.size > 0) rt().upload(t.storage.buffer, t.byteOffset, model.get(name)!.data);
  }
  if (o.optimizer && optState) o.optimizer.importState(optState.step, optState.moments, optState.lr);
  return { tag, dir, config, trainState, tokenizerJson };
}
