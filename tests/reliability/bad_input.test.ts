// Bad input, tried systematically against the real CLI (one child process per case): broken
// images, malformed data files, missing or mistyped fields, non-UTF-8 text, invalid flag
// values, folders that are not datasets or runs, corrupt checkpoints, mismatched configs.
// Every case must: exit non-zero, print a message naming what is wrong (file, field or flag),
// print no stack trace, and leave no partial output behind (no run folder, no --json file, no
// dataset folder; an existing run is left byte-for-byte as it was).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32, deflateSync } from 'node:zlib';
import { ivt, pool, STACK_RE, tempDir, withoutDawnNoise, type CliResult } from './cli.js';

const T0 = Date.now();
const base = tempDir('bad-input');
const DS = join(base, 'ds');
const RUN = join(base, 'run');
const TRAIN_IMG = 'images/train/train-0/image.png';
const TEST_IMG = 'images/test/test-0/image.png';

interface Case {
  name: string;
  /** Builds the inputs (a copy of the dataset or run with one thing broken) and returns argv. */
  args: (dir: string) => string[];
  /** The message must contain each of these (names the file / field / flag). */
  expect: Array<string | RegExp>;
  /** Paths (relative to the case folder unless absolute) that must not exist afterwards. */
  absent?: string[];
  /** Folders (relative to the case folder) whose file listing and contents must be unchanged. */
  unchanged?: string[];
  /** Exit code required (default: any non-zero). Our own user errors exit 2. */
  code?: number;
}

// ---- building blocks ------------------------------------------------------------------
const copyDs = (dir: string, name = 'ds') => { const d = join(dir, name); cpSync(DS, d, { recursive: true }); return d; };
const copyRun = (dir: string, name = 'run') => { const d = join(dir, name); cpSync(RUN, d, { recursive: true }); return d; };
const problems = (ds: string) => JSON.parse(readFileSync(join(ds, 'problems.json'), 'utf8')) as Record<string, Record<string, unknown>>;
const writeJson = (path: string, v: unknown) => writeFileSync(path, JSON.stringify(v));
/** A copy of the dataset with problems.json edited. */
function dsWith(dir: string, edit: (p: Record<string, Record<string, unknown>>) => void): string {
  const d = copyDs(dir);
  const p = problems(d);
  edit(p);
  writeJson(join(d, 'problems.json'), p);
  return d;
}
function dsWithSplits(dir: string, splits: unknown): string {
  const d = copyDs(dir);
  writeFileSync(join(d, 'pid_splits.json'), typeof splits === 'string' ? splits : JSON.stringify(splits));
  return d;
}
function dsWithFile(dir: string, rel: string, bytes: string | Uint8Array | null): string {
  const d = copyDs(dir);
  rmSync(join(d, rel), { recursive: true, force: true });
  if (bytes === null) mkdirSync(join(d, rel));
  else writeFileSync(join(d, rel), bytes);
  return d;
}
function runWith(dir: string, rel: string, bytes: string | Uint8Array | ((old: Buffer) => string | Uint8Array)): string {
  const r = copyRun(dir);
  const p = join(r, rel);
  writeFileSync(p, typeof bytes === 'function' ? bytes(readFileSync(p)) : bytes);
  return r;
}
const runCfg = (dir: string, edit: (c: Record<string, unknown>) => unknown) => runWith(dir, 'config.json', (b) => JSON.stringify(edit(JSON.parse(b.toString('utf8')))));
/** The tag `latest` names in the reference run, and its folder (relative to a run). */
const latestRel = () => join('checkpoints', readFileSync(join(RUN, 'checkpoints', 'latest'), 'utf8').trim());

/** A valid PNG header claiming width x height pixels (a decompression bomb's calling card). */
function hugePng(width: number, height: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4); len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const crc = Buffer.alloc(4); crc.writeUInt32BE(crc32(td) >>> 0);
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0); ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; ihdr[9] = 2; // 8-bit RGB
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(Buffer.alloc(64))), chunk('IEND', Buffer.alloc(0))]);
}

// `ivt train` on a (broken) dataset: tiny and short, so a case that wrongly trains still ends.
const TRAIN = ['--stages', '0', '--epochs', '1', '--batch', '12', '--no-eval', '--checkpoint-every', '0'];
const trainOn = (ds: string, dir: string) => ['train', '--data', ds, '--out', join(dir, 'out'), ...TRAIN];
const evalOn = (run: string, dir: string, ds = DS) => ['eval', '--run', run, '--data', ds, '--limit', '2', '--json', join(dir, 'res.json')];
const NO_RUN = ['out'];
const NO_JSON = ['res.json'];

const cases: Case[] = [
  // ---- images inside a dataset (decoded before training: no run folder may appear) --------
  { name: 'image truncated', args: (d) => trainOn(dsWithFile(d, TRAIN_IMG, readFileSync(join(DS, TRAIN_IMG)).subarray(0, 60)), d), expect: [TRAIN_IMG, 'not a readable image'], absent: NO_RUN, code: 2 },
  { name: 'image empty', args: (d) => trainOn(dsWithFile(d, TRAIN_IMG, ''), d), expect: [TRAIN_IMG, 'empty file'], absent: NO_RUN, code: 2 },
  { name: 'image is text', args: (d) => trainOn(dsWithFile(d, TRAIN_IMG, 'this is not a picture\n'), d), expect: [TRAIN_IMG, 'not a readable image'], absent: NO_RUN, code: 2 },
  { name: 'image huge (100000x100000 header)', args: (d) => trainOn(dsWithFile(d, TRAIN_IMG, hugePng(100000, 100000)), d), expect: [TRAIN_IMG, /more than \d+ pixels/], absent: NO_RUN, code: 2 },
  { name: 'image is a folder', args: (d) => trainOn(dsWithFile(d, TRAIN_IMG, null), d), expect: ['"train-0"', 'field "image"', 'not a regular file'], absent: NO_RUN, code: 2 },
  { name: 'validation image truncated', args: (d) => trainOn(dsWithFile(d, 'images/val/val-0/image.png', readFileSync(join(DS, TRAIN_IMG)).subarray(0, 100)), d), expect: ['val-0/image.png', 'not a readable image'], absent: NO_RUN, code: 2 },
  { name: 'eval: test image is garbage', args: (d) => evalOn(RUN, d, dsWithFile(d, TEST_IMG, Buffer.from([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]))), expect: [TEST_IMG, 'not a readable image'], absent: NO_JSON, code: 2 },
  // ---- problems.json ------------------------------------------------------------------
  { name: 'problems.json empty', args: (d) => trainOn(dsWithFile(d, 'problems.json', ''), d), expect: ['problems.json', 'not valid JSON'], absent: NO_RUN, code: 2 },
  { name: 'problems.json truncated', args: (d) => trainOn(dsWithFile(d, 'problems.json', readFileSync(join(DS, 'problems.json')).subarray(0, 500)), d), expect: ['problems.json', 'not valid JSON'], absent: NO_RUN, code: 2 },
  { name: 'problems.json is an array', args: (d) => trainOn(dsWithFile(d, 'problems.json', '[1, 2]'), d), expect: ['problems.json', 'must be an object'], absent: NO_RUN, code: 2 },
  { name: 'problems.json not UTF-8 (Latin-1 byte)', args: (d) => trainOn(dsWithFile(d, 'problems.json', Buffer.concat([Buffer.from('{"train-0":{"question":"Caf'), Buffer.from([0xe9]), readFileSync(join(DS, 'problems.json')).subarray(24)])), d), expect: ['problems.json', 'not valid UTF-8', '0xe9'], absent: NO_RUN, code: 2 },
  { name: 'record not an object', args: (d) => trainOn(dsWith(d, (p) => { (p as Record<string, unknown>)['train-0'] = 5; }), d), expect: ['record "train-0"', 'must be an object'], absent: NO_RUN, code: 2 },
  { name: 'field question missing', args: (d) => trainOn(dsWith(d, (p) => { delete p['train-3']!.question; }), d), expect: ['"train-3"', 'field "question" is missing'], absent: NO_RUN, code: 2 },
  { name: 'field question a number', args: (d) => trainOn(dsWith(d, (p) => { p['train-3']!.question = 42; }), d), expect: ['"train-3"', 'field "question" must be a string'], absent: NO_RUN, code: 2 },
  { name: 'field choices a string', args: (d) => trainOn(dsWith(d, (p) => { p['val-1']!.choices = 'red, blue'; }), d), expect: ['"val-1"', 'field "choices" must be an array'], absent: NO_RUN, code: 2 },
  { name: 'field choices one option', args: (d) => trainOn(dsWith(d, (p) => { p['train-2']!.choices = ['red']; }), d), expect: ['"train-2"', 'field "choices" needs at least 2'], absent: NO_RUN, code: 2 },
  { name: 'field answer out of range', args: (d) => trainOn(dsWith(d, (p) => { p['train-1']!.answer = 7; }), d), expect: ['"train-1"', 'field "answer" is 7, out of range'], absent: NO_RUN, code: 2 },
  { name: 'field answer a letter', args: (d) => trainOn(dsWith(d, (p) => { p['train-1']!.answer = 'B'; }), d), expect: ['"train-1"', 'field "answer" must be an integer'], absent: NO_RUN, code: 2 },
  { name: 'field image a number', args: (d) => trainOn(dsWith(d, (p) => { p['train-4']!.image = 3; }), d), expect: ['"train-4"', 'field "image" must be a string or null'], absent: NO_RUN, code: 2 },
  { name: 'field image climbs out', args: (d) => trainOn(dsWith(d, (p) => { p['train-4']!.image = '../../../../etc/passwd'; }), d), expect: ['"train-4"', 'field "image"', 'without "/" or ".."'], absent: NO_RUN, code: 2 },
  { name: 'field split contradicts pid_splits.json', args: (d) => trainOn(dsWith(d, (p) => { p['train-5']!.split = 'val'; }), d), expect: ['"train-5"', 'field "split" is "val"', 'pid_splits.json'], absent: NO_RUN, code: 2 },
  { name: 'record longer than the model', args: (d) => trainOn(dsWith(d, (p) => { p['train-6']!.solution = 'The red circle is in row 1, column 1. '.repeat(20); }), d), expect: ['"train-6"', 'positions', 'maxLen'], absent: NO_RUN, code: 2 },
  // Moved to the test split, the records name images under images/test/ that do not exist.
  { name: 'no training problems', args: (d) => [...trainOn(dsWith(d, (p) => { for (const r of Object.values(p)) r.split = 'test'; rmSync(join(d, 'ds', 'pid_splits.json')); }), d), '--missing-image', 'text-only'], expect: ['no training problems'], absent: NO_RUN, code: 2 },
  { name: 'image file missing', args: (d) => { const ds = copyDs(d); rmSync(join(ds, TRAIN_IMG)); return trainOn(ds, d); }, expect: ['1 record(s) name an image file that does not exist', 'train-0', '--missing-image'], absent: NO_RUN, code: 2 },
  // ---- pid_splits.json -----------------------------------------------------------------
  { name: 'pid_splits.json malformed', args: (d) => trainOn(dsWithSplits(d, '{"train": ["train-0",'), d), expect: ['pid_splits.json', 'not valid JSON'], absent: NO_RUN, code: 2 },
  { name: 'pid_splits.json train not an array', args: (d) => trainOn(dsWithSplits(d, { train: 'train-0' }), d), expect: ['pid_splits.json', 'field "train" must be an array'], absent: NO_RUN, code: 2 },
  { name: 'pid_splits.json unknown id', args: (d) => trainOn(dsWithSplits(d, { train: ['train-0', 'nope'] }), d), expect: ['pid_splits.json', '"nope"', 'not in problems.json'], absent: NO_RUN, code: 2 },
  { name: 'pid_splits.json id in two splits', args: (d) => trainOn(dsWithSplits(d, { train: ['train-0'], val: ['train-0'] }), d), expect: ['pid_splits.json', '"train-0"', 'both'], absent: NO_RUN, code: 2 },
  // ---- --data that is not a dataset --------------------------------------------------------
  { name: '--data missing', args: (d) => trainOn(join(d, 'nowhere'), d), expect: ['--data', 'no such folder'], absent: NO_RUN, code: 2 },
  { name: '--data an empty folder', args: (d) => { mkdirSync(join(d, 'empty')); return trainOn(join(d, 'empty'), d); }, expect: ['empty', 'not a dataset'], absent: NO_RUN, code: 2 },
  { name: '--data a file', args: (d) => trainOn(join(copyDs(d), 'problems.json'), d), expect: ['problems.json', 'expected a dataset folder'], absent: NO_RUN, code: 2 },
  { name: 'M3CoT .jsonl not UTF-8', args: (d) => { writeFileSync(join(d, 'train.jsonl'), Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d, 0x0a])); return ['data', 'inspect', join(d, 'train.jsonl'), '--no-sheet']; }, expect: ['train.jsonl', 'not valid UTF-8', '0xff'], code: 2 },
  // ---- `ivt train` flags -------------------------------------------------------------------
  { name: 'train --batch negative', args: (d) => ['train', '--data', DS, '--out', join(d, 'out'), '--batch=-4'], expect: ['--batch must be >= 1'], absent: NO_RUN, code: 2 },
  { name: 'train --batch not an integer', args: (d) => ['train', '--data', DS, '--out', join(d, 'out'), '--batch', '2.5'], expect: ['--batch must be an integer', '2.5'], absent: NO_RUN, code: 2 },
  { name: 'train --epochs 0', args: (d) => ['train', '--data', DS, '--out', join(d, 'out'), '--epochs', '0'], expect: ['--epochs must be >= 1'], absent: NO_RUN, code: 2 },
  { name: 'train --lr not a number', args: (d) => ['train', '--data', DS, '--out', join(d, 'out'), '--lr', 'fast'], expect: ['--lr must be a number', 'fast'], absent: NO_RUN, code: 2 },
  { name: 'train --lr negative', args: (d) => ['train', '--data', DS, '--out', join(d, 'out'), '--lr=-0.001'], expect: ['--lr must be a number > 0'], absent: NO_RUN, code: 2 },
  { name: 'train --stages past the limit', args: (d) => ['train', '--data', DS, '--out', join(d, 'out'), '--stages', '100'], expect: ['--stages 100', 'at most 64 latent stages'], absent: NO_RUN, code: 2 },
  { name: 'train --lr zero', args: (d) => ['train', '--data', DS, '--out', join(d, 'out'), '--lr', '0'], expect: ['--lr must be a number > 0', '"0"'], absent: NO_RUN, code: 2 },
  { name: 'train --lr hexadecimal', args: (d) => ['train', '--data', DS, '--out', join(d, 'out'), '--lr', '0x10'], expect: ['--lr', '"0x10"'], absent: NO_RUN, code: 2 },
  { name: 'train --seed past 2^53', args: (d) => ['train', '--data', DS, '--out', join(d, 'out'), '--seed', '99999999999999999999'], expect: ['--seed', 'below 2^53'], absent: NO_RUN, code: 2 },
  { name: 'train --seed huge', args: (d) => ['train', '--data', DS, '--out', join(d, 'out'), '--seed', '1e400'], expect: ['--seed must be an integer'], absent: NO_RUN, code: 2 },
  { name: 'train --preset unknown', args: (d) => ['train', '--data', DS, '--out', join(d, 'out'), '--preset', 'huge'], expect: ['--preset', 'huge', 'tiny, small, medium, base'], absent: NO_RUN, code: 2 },
  { name: 'train --mode unknown', args: (d) => ['train', '--data', DS, '--out', join(d, 'out'), '--mode', 'latent'], expect: ['--mode', 'latent'], absent: NO_RUN, code: 2 },
  { name: 'train --stages too many for the image', args: (d) => trainOn(DS, d).concat(['--stages', '9']), expect: ['--stages 9', 'exceed the 16 image tokens'], absent: NO_RUN, code: 2 },
  { name: 'train without --out', args: () => ['train', '--data', DS], expect: ['--out'], code: 2 },
  { name: 'train unknown flag', args: (d) => ['train', '--data', DS, '--out', join(d, 'out'), '--bogus'], expect: ['--bogus'], absent: NO_RUN, code: 2 },
  { name: 'train --out is a file', args: (d) => { writeFileSync(join(d, 'out'), 'x'); return trainOn(DS, d); }, expect: ['--out', 'not a folder'], code: 2 },
  { name: 'train --init-from not a run', args: (d) => { mkdirSync(join(d, 'empty')); return trainOn(DS, d).concat(['--init-from', join(d, 'empty')]); }, expect: ['--init-from', 'not a training run'], absent: NO_RUN, code: 2 },
  { name: 'train --adaptive-latents from a run without a count head', args: (d) => trainOn(DS, d).concat(['--init-from', RUN, '--adaptive-latents']), expect: ['--adaptive-latents', 'no count head', 'config.json'], absent: NO_RUN, code: 2 },
  { name: 'train --adaptive-latents with --mode nocot', args: (d) => trainOn(DS, d).concat(['--mode', 'nocot', '--adaptive-latents']), expect: ['--adaptive-latents', 'nocot'], absent: NO_RUN, code: 2 },
  { name: 'train --steps 0', args: (d) => trainOn(DS, d).concat(['--steps', '0']), expect: ['--steps must be >= 1'], absent: NO_RUN, code: 2 },
  { name: 'train --steps with --max-epochs', args: (d) => ['train', '--data', DS, '--out', join(d, 'out'), '--stages', '1', '--steps', '3', '--max-epochs', '4'], expect: ['--steps', '--max-epochs'], absent: NO_RUN, code: 2 },
  { name: 'train --steps with --epochs', args: (d) => trainOn(DS, d).concat(['--steps', '3']), expect: ['--steps and --epochs'], absent: NO_RUN, code: 2 },
  { name: 'train --top-k 0', args: (d) => trainOn(DS, d).concat(['--top-k', '0']), expect: ['--top-k must be >= 1'], absent: NO_RUN, code: 2 },
  { name: 'train --top-k too many for the image', args: (d) => trainOn(DS, d).concat(['--stages', '3', '--top-k', '9']), expect: ['--top-k 9', 'exceed the 16 image tokens'], absent: NO_RUN, code: 2 },
  { name: 'train --top-k more than the image has', args: (d) => trainOn(DS, d).concat(['--top-k', '17']), expect: ['--top-k 17', 'top-17 exceeds the 16 image tokens'], absent: NO_RUN, code: 2 },
  { name: 'train --random-latent-vision with --no-latent-vision', args: (d) => trainOn(DS, d).concat(['--random-latent-vision', '--no-latent-vision']), expect: ['--random-latent-vision and --no-latent-vision'], absent: NO_RUN, code: 2 },
  { name: 'train --random-latent-vision with --no-latent-text', args: (d) => trainOn(DS, d).concat(['--random-latent-vision', '--no-latent-text']), expect: ['--random-latent-vision and --no-latent-text'], absent: NO_RUN, code: 2 },
  { name: 'train --mix-stages 1', args: (d) => trainOn(DS, d).concat(['--mix-stages', '1']), expect: ['--mix-stages', 'probability'], absent: NO_RUN, code: 2 },
  { name: 'train --settle-lr without --settle-epochs', args: (d) => trainOn(DS, d).concat(['--settle-lr', '0.0001']), expect: ['--settle-lr without --settle-epochs'], absent: NO_RUN, code: 2 },
  { name: 'train --settle-epochs with --mode nocot', args: (d) => trainOn(DS, d).concat(['--settle-epochs', '2', '--mode', 'nocot']), expect: ['--settle-epochs with --mode nocot'], absent: NO_RUN, code: 2 },
  { name: 'train --settle-lr zero', args: (d) => trainOn(DS, d).concat(['--settle-epochs', '1', '--settle-lr', '0']), expect: ['--settle-lr must be a number > 0', '"0"'], absent: NO_RUN, code: 2 },
  { name: 'train into an existing run without --resume', args: (d) => ['train', '--data', DS, '--out', copyRun(d), ...TRAIN], expect: ['already holds a training run', '--resume'], unchanged: ['run'], code: 2 },
  { name: 'train --resume with a flag the run was not trained with', args: (d) => ['train', '--data', DS, '--out', copyRun(d), ...TRAIN, '--resume', '--lr', '0.0123'], expect: ['--resume', '--lr', '0.0123', 'options.json', "the run's own"], unchanged: ['run'], code: 2 },
  { name: 'train --resume with an ablation flag the run was not trained with', args: (d) => ['train', '--data', DS, '--out', copyRun(d), ...TRAIN, '--resume', '--no-latent-vision'], expect: ['--resume', '--no-latent-vision', 'the full latent mode'], unchanged: ['run'], code: 2 },
  { name: 'train --resume in a folder without a run', args: (d) => ['train', '--data', DS, '--out', join(d, 'typo'), ...TRAIN, '--resume'], expect: ['--resume', 'typo', 'no training run'], absent: ['typo'], code: 2 },
  { name: 'train --resume with --no-eval on a run trained with validation', args: (d) => { const r = copyRun(d); const f = join(r, 'options.json'); writeFileSync(f, JSON.stringify({ ...JSON.parse(readFileSync(f, 'utf8')), evalEachStage: true })); return ['train', '--data', DS, '--out', r, '--resume', '--no-eval']; }, expect: ['--resume', 'was trained with no --no-eval; this command gives --no-eval'], unchanged: ['run'], code: 2 },
  { name: 'train --resume with another --max-len', args: (d) => ['train', '--data', DS, '--out', copyRun(d), ...TRAIN, '--resume', '--max-len', '300'], expect: ['--resume with --max-len 300', 'has maxLen'], unchanged: ['run'], code: 2 },
  { name: 'train a problem longer than --max-len', args: (d) => trainOn(DS, d).concat(['--max-len', '20']), expect: ['needs', 'positions', "more than the model's maxLen 20", '--max-len'], absent: NO_RUN, code: 2 },
  { name: 'train --resume with other stage lengths', args: (d) => ['train', '--data', DS, '--out', copyRun(d), '--resume', '--epochs0', '3'], expect: ['--resume', 'epochs by stage 1', 'epochs by stage 3', '--epochs0'], unchanged: ['run'], code: 2 },
  { name: 'train a near-miss flag', args: (d) => ['train', '--data', DS, '--out', join(d, 'out'), '--epoch', '2'], expect: ['--epoch', 'Did you mean'], absent: NO_RUN, code: 2 },
  { name: 'train --resume: model.safetensors truncated', args: (d) => { const r = runWith(d, join(latestRel(), 'model.safetensors'), (b) => b.subarray(0, b.length - 100)); return ['train', '--data', DS, '--out', r, ...TRAIN, '--resume']; }, expect: ['model.safetensors', 'not a valid safetensors file'], unchanged: ['run'], code: 2 },
  { name: 'train --resume: train_state.json field mistyped', args: (d) => { const r = runWith(d, join(latestRel(), 'train_state.json'), (b) => JSON.stringify({ ...JSON.parse(b.toString('utf8')), batchIndex: 'two' })); return ['train', '--data', DS, '--out', r, ...TRAIN, '--resume']; }, expect: ['train_state.json', 'field "batchIndex"'], unchanged: ['run'], code: 2 },
  { name: 'train --resume: config.json does not match the weights', args: (d) => { const r = runCfg(d, (c) => ({ ...c, layers: 3 })); return ['train', '--data', DS, '--out', r, ...TRAIN, '--resume']; }, expect: ['model.safetensors', 'does not match the model', 'missing'], unchanged: ['run'], code: 2 },
  { name: 'train --resume: checkpoints/latest garbage', args: (d) => { const r = runWith(d, 'checkpoints/latest', '../../etc\n'); return ['train', '--data', DS, '--out', r, ...TRAIN, '--resume']; }, expect: ['latest', 'does not name a checkpoint'], unchanged: ['run'], code: 2 },
  // ---- `ivt eval` / `ivt infer`: runs that are not runs, corrupt weights, bad flags ---------
  { name: 'eval --run missing', args: (d) => evalOn(join(d, 'nowhere'), d), expect: ['--run', 'no such folder'], absent: NO_JSON, code: 2 },
  { name: 'eval --run not a run', args: (d) => { mkdirSync(join(d, 'empty')); return evalOn(join(d, 'empty'), d); }, expect: ['not a training run', 'config.json'], absent: NO_JSON, code: 2 },
  { name: 'eval: a NaN in model.safetensors', args: (d) => evalOn(runWith(d, join(latestRel(), 'model.safetensors'), (b) => { const c = Buffer.from(b); c.writeFloatLE(NaN, c.length - 4); return c; }), d), expect: ['model.safetensors', 'NaN or infinity', 'tensor "'], absent: NO_JSON, unchanged: ['run'], code: 2 },
  { name: 'train --resume: a NaN in optimizer.safetensors', args: (d) => { const r = runWith(d, join(latestRel(), 'optimizer.safetensors'), (b) => { const c = Buffer.from(b); c.writeFloatLE(Infinity, c.length - 4); return c; }); return ['train', '--data', DS, '--out', r, ...TRAIN, '--resume']; }, expect: ['optimizer.safetensors', 'NaN or infinity'], unchanged: ['run'], code: 2 },
  { name: 'eval: model.safetensors truncated', args: (d) => evalOn(runWith(d, join(latestRel(), 'model.safetensors'), (b) => b.subarray(0, Math.floor(b.length / 2))), d), expect: ['model.safetensors', 'not a valid safetensors file'], absent: NO_JSON, unchanged: ['run'], code: 2 },
  { name: 'eval: model.safetensors empty', args: (d) => evalOn(runWith(d, join(latestRel(), 'model.safetensors'), ''), d), expect: ['model.safetensors', 'shorter than the 8-byte header'], absent: NO_JSON, code: 2 },
  { name: 'eval: model.safetensors header garbage', args: (d) => evalOn(runWith(d, join(latestRel(), 'model.safetensors'), (b) => { const c = Buffer.from(b); c.fill(0x41, 8, 40); return c; }), d), expect: ['model.safetensors', 'header'], absent: NO_JSON, code: 2 },
  { name: 'eval: config.json does not match the weights', args: (d) => evalOn(runCfg(d, (c) => ({ ...c, dim: 64 })), d), expect: ['model.safetensors', 'does not match the model'], absent: NO_JSON, code: 2 },
  { name: 'eval: config.json not JSON', args: (d) => evalOn(runWith(d, 'config.json', '{"dim": 32,'), d), expect: ['config.json', 'not valid JSON'], absent: NO_JSON, code: 2 },
  { name: 'eval: config.json field mistyped', args: (d) => evalOn(runCfg(d, (c) => ({ ...c, dim: '32' })), d), expect: ['config.json', 'field "dim"'], absent: NO_JSON, code: 2 },
  { name: 'eval: config.json is null', args: (d) => evalOn(runWith(d, 'config.json', 'null'), d), expect: ['config.json', 'must be a JSON object'], absent: NO_JSON, code: 2 },
  { name: 'eval: config.json vocab differs from tokenizer', args: (d) => evalOn(runCfg(d, (c) => ({ ...c, vocab: 7 })), d), expect: ['tokenizer has', 'vocab 7'], absent: NO_JSON, code: 2 },
  { name: 'eval: tokenizer.json not JSON', args: (d) => evalOn(runWith(d, 'tokenizer.json', '{'), d), expect: ['tokenizer.json', 'not valid JSON'], absent: NO_JSON, code: 2 },
  { name: 'eval --tag missing', args: (d) => evalOn(RUN, d).concat(['--tag', 'stage-7']), expect: ['stage-7', 'no such checkpoint'], absent: NO_JSON, code: 2 },
  { name: 'eval --split unknown', args: (d) => evalOn(RUN, d).concat(['--split', 'dev']), expect: ['--split', 'dev'], absent: NO_JSON, code: 2 },
  { name: 'eval unknown flag', args: (d) => evalOn(RUN, d).concat(['--bogus']), expect: ['--bogus'], absent: NO_JSON, code: 2 },
  { name: 'eval --mode unknown', args: (d) => evalOn(RUN, d).concat(['--mode', 'fast']), expect: ['--mode', 'fast'], absent: NO_JSON, code: 2 },
  { name: 'eval --limit negative', args: (d) => evalOn(RUN, d).concat(['--limit=-1']), expect: ['--limit must be >= 0'], absent: NO_JSON, code: 2 },
  { name: 'eval --latent-steps too many', args: (d) => evalOn(RUN, d).concat(['--mode', 'ivt', '--latent-steps', '50']), expect: ['--latent-steps 50', 'image tokens'], absent: NO_JSON, code: 2 },
  { name: 'eval --latent-steps on a run without latent stages', args: (d) => evalOn(RUN, d).concat(['--latent-steps', '1']), expect: ['--latent-steps', 'cot', 'the mode this run trained for'], absent: NO_JSON, code: 2 },
  { name: 'eval --latent-steps with --mode cot', args: (d) => evalOn(RUN, d).concat(['--mode', 'cot', '--latent-steps', '1']), expect: ['--latent-steps with --mode cot'], absent: NO_JSON, code: 2 },
  { name: 'eval --json is a folder', args: (d) => { mkdirSync(join(d, 'res.json')); return evalOn(RUN, d); }, expect: ['--json', 'is a folder'], code: 2 },
  { name: 'infer --image missing', args: (d) => ['infer', '--run', RUN, '--image', join(d, 'nope.png'), '--question', 'q?', '--choices', 'a|b'], expect: ['nope.png', 'cannot read image'], code: 2 },
  { name: 'infer --latent-steps too many', args: () => ['infer', '--run', RUN, '--image', join(DS, TEST_IMG), '--question', 'q?', '--choices', 'a|b', '--mode', 'ivt', '--latent-steps', '50'], expect: ['--latent-steps 50', 'image tokens'], code: 2 },
  { name: 'train --start-stage past the last stage', args: (d) => trainOn(DS, d).concat(['--start-stage', '1']), expect: ['--start-stage 1', 'stages 0..0'], absent: NO_RUN, code: 2 },
  { name: 'train --mode nocot --start-stage 1', args: (d) => trainOn(DS, d).concat(['--mode', 'nocot', '--start-stage', '1']), expect: ['--start-stage 1', 'no-CoT run has stage 0 only'], absent: NO_RUN, code: 2 },
  { name: 'train --out under a file', args: (d) => { writeFileSync(join(d, 'file'), 'x'); return ['train', '--data', DS, '--out', join(d, 'file', 'run'), ...TRAIN]; }, expect: ['--out', 'is a file, not a folder'], code: 2 },
  { name: 'train --out is the dataset folder', args: (d) => { const ds = copyDs(d); return ['train', '--data', ds, '--out', ds, ...TRAIN]; }, expect: ['--out', 'is the dataset folder'], unchanged: ['ds'], code: 2 },
  { name: 'train --resume on other problems', args: (d) => { const ds = dsWith(d, (p) => { p['train-0']!.question = 'Start at cell one. Move right. What colour is the object you reach?'; }); return ['train', '--data', ds, '--out', copyRun(d), ...TRAIN, '--resume']; }, expect: ['--resume', 'other problems', 'data fingerprint'], unchanged: ['run'], code: 2 },
  { name: 'infer --question empty', args: () => ['infer', '--run', RUN, '--image', join(DS, TEST_IMG), '--question', '  ', '--choices', 'a|b'], expect: ['--question is empty'], code: 2 },
  { name: 'infer --choices repeated', args: () => ['infer', '--run', RUN, '--image', join(DS, TEST_IMG), '--question', 'q?', '--choices', 'red|blue|red'], expect: ['--choices', '"red" is given twice'], code: 2 },
  { name: 'infer --choices one option', args: () => ['infer', '--run', RUN, '--image', join(DS, TEST_IMG), '--question', 'q?', '--choices', 'a'], expect: ['--choices needs at least two'], code: 2 },
  // ---- `ivt data synth`: nothing written on failure ---------------------------------------------
  { name: 'demo --preset unknown', args: (d) => ['demo', '--out', join(d, 'X'), '--preset', 'huge', '--train', '16'], expect: ['--preset', 'huge', 'tiny, small, medium, base'], absent: ['X'], code: 2 },
  { name: 'synth --train negative', args: (d) => ['data', 'synth', '--out', join(d, 'X'), '--train=-5'], expect: ['--train must be in'], absent: ['X'], code: 2 },
  { name: 'synth --image-size not a multiple of --grid', args: (d) => ['data', 'synth', '--out', join(d, 'X'), '--image-size', '50'], expect: ['--image-size', '--grid'], absent: ['X'], code: 2 },
  { name: 'synth --out under a file', args: (d) => { writeFileSync(join(d, 'file'), 'x'); return ['data', 'synth', '--out', join(d, 'file', 'X'), '--train', '3']; }, expect: ['is a file, not a folder'], code: 2 },
  { name: 'inspect --sheet is a folder', args: (d) => { mkdirSync(join(d, 'sheet', 'inner'), { recursive: true }); return ['data', 'inspect', DS, '--sheet', join(d, 'sheet')]; }, expect: ['cannot write the contact sheet', '--sheet FILE'], code: 2 },
  { name: 'synth --out an existing non-empty folder', args: (d) => ['data', 'synth', '--out', copyDs(d), '--train', '3'], expect: ['--force'], unchanged: ['ds'], code: 2 },
];

/** Every file under dir with its bytes, for "left as it was". */
function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else out.set(p.slice(dir.length), readFileSync(p).toString('base64'));
    }
  };
  if (existsSync(dir)) walk(dir);
  return out;
}

test(`bad input: ${cases.length} cases against the CLI, each a clear message, non-zero exit, no stack, no partial output`, async () => {
  // One tiny dataset and one tiny run (one optimizer step), made once and copied per case.
  const synth = await ivt(['data', 'synth', '--out', DS, '--train', '12', '--val', '4', '--test', '4']);
  assert.is(synth.code, 0, synth.stderr);
  const made = await ivt(['train', '--data', DS, '--out', RUN, ...TRAIN]);
  assert.is(made.code, 0, made.stdout + made.stderr);
  const setupMs = Date.now() - T0;

  const failures: string[] = [];
  const timings: Array<[string, number]> = [];
  await pool(cases, 2, async (c, i) => {
    const dir = join(base, `case-${i}`);
    mkdirSync(dir);
    const args = c.args(dir);
    const before = new Map((c.unchanged ?? []).map((u) => [u, snapshot(join(dir, u))]));
    const r: CliResult = await ivt(args);
    timings.push([c.name, r.ms]);
    const out = withoutDawnNoise(r.stdout + r.stderr).trim();
    const problems: string[] = [];
    if (r.code === 0 || r.code === null) problems.push(`exit ${r.code ?? r.signal} (expected non-zero)`);
    if (c.code !== undefined && r.code !== c.code) problems.push(`exit ${r.code}, expected ${c.code}`);
    if (STACK_RE.test(out)) problems.push('printed a stack trace');
    // A user's mistake is one line (README, "Errors, crashes and resuming"), with the details
    // indented below it where there are several.
    const lines = out.split('\n');
    if (c.code === 2 && (!lines[0]!.startsWith('ivt: ') || lines.slice(1).some((l) => !l.startsWith('  ')))) problems.push('not one line "ivt: ..." (and indented details)');
    for (const p of c.expect) if (!(typeof p === 'string' ? out.includes(p) : p.test(out))) problems.push(`message lacks ${String(p)}`);
    for (const a of c.absent ?? []) if (existsSync(join(dir, a))) problems.push(`left ${a} behind`);
    for (const [u, snap] of before) {
      const now = snapshot(join(dir, u));
      const changed = [...new Set([...snap.keys(), ...now.keys()])].filter((k) => snap.get(k) !== now.get(k));
      if (changed.length) problems.push(`changed ${u}: ${changed.slice(0, 3).join(', ')}`);
    }
    if (problems.length) failures.push(`${c.name}: ${problems.join('; ')}\n    ivt ${args.join(' ')}\n    output: ${out.slice(0, 600).replace(/\n/g, '\n    ')}`);
    rmSync(dir, { recursive: true, force: true });
  });
  timings.sort((a, b) => b[1] - a[1]);
  console.log(`bad input: ${cases.length - failures.length}/${cases.length} cases held; setup ${(setupMs / 1000).toFixed(1)}s, total ${((Date.now() - T0) / 1000).toFixed(1)}s; slowest: ${timings.slice(0, 3).map(([n, ms]) => `${n} ${(ms / 1000).toFixed(1)}s`).join(', ')}`);
  assert.ok(failures.length === 0, `${failures.length} of ${cases.length} cases failed:\n  ${failures.join('\n  ')}`);
});

test.run();
