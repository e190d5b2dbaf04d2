// The `ivt data` commands through commander, as the CLI runs them: synth, inspect (with the
// contact sheet), check, and user errors for bad flags.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import sharp from 'sharp';
import { registerDataCommands, checkCommand, inspectCommand, parseIntFlag } from '../../train/data/cli.js';
import { writeSynthDataset } from '../../train/data/synth/write.js';
import { rejectsUserError, SCIENCEQA_SAMPLE, tempDir, throwsUserError, tinyRunOptions } from './util.js';
import { prepareRun } from '../../train/trainer.js';

function program(): Command {
  const p = new Command();
  p.exitOverride();
  registerDataCommands(p);
  return p;
}

async function run(args: string[]): Promise<string> {
  const lines: string[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => { lines.push(a.join(' ')); };
  try {
    await program().parseAsync(['node', 'ivt', ...args]);
  } finally {
    console.log = log;
  }
  return lines.join('\n');
}

test('synth -> inspect -> check on a small dataset', async () => {
  const dir = join(tempDir('cli'), 'ds');
  const out = await run(['data', 'synth', '--out', dir, '--train', '200', '--val', '20', '--test', '120', '--seed', '3']);
  assert.match(out, 'train 200, val 20, test 120');
  const stats = await run(['data', 'inspect', dir]);
  assert.match(stats, 'answer letters, test: A 30 (25.0%), B 30 (25.0%), C 30 (25.0%), D 30 (25.0%)');
  assert.match(stats, 'steps per problem: 3: 340');
  assert.match(stats, 'text-only baselines');
  assert.match(stats, /oracle-all-steps\s+100\.0%/);
  const sheet = join(dir, 'contact-sheet.png');
  assert.ok(existsSync(sheet));
  const meta = await sharp(sheet).metadata();
  assert.is(meta.format, 'png');
  assert.ok(meta.width! >= 1000 && meta.height! > 1000);
  const checked = await run(['data', 'check', dir]);
  assert.match(checked, 'largest pixel difference 0');
  assert.match(checked, 'data check passed');
});

test('bad flags are user errors (exit code 2 in the CLI)', async () => {
  const dir = join(tempDir('cli-bad'), 'ds');
  for (const [args, pattern] of [
    [['--train', '-5'], '--train must be in [0, 200000], got -5'],
    [['--train', '1.5'], '--train must be an integer, got "1.5"'],
    [['--steps', 'three'], '--steps must be an integer'],
    [['--image-size', '50'], 'not a multiple of --grid'],
    [['--queries', 'colour,weight'], 'unknown kind "weight"'],
  ] as Array<[string[], string]>) {
    await rejectsUserError(() => run(['data', 'synth', '--out', dir, ...args]), pattern);
    assert.not.ok(existsSync(dir), 'nothing written on a bad flag');
  }
  await rejectsUserError(() => run(['data', 'synth']), '--out DIR is required');
  throwsUserError(() => parseIntFlag('--x', '12abc'), 'must be an integer');
  assert.is(parseIntFlag('--x', ' 42 '), 42);
});

test('a run on pictures of another grid than the model\'s patches: a clear error with the alignment objective, none without it', async () => {
  const data = join(tempDir('cli-grid5'), 'ds');
  await writeSynthDataset(data, { train: 8, val: 4, test: 4, seed: 2, grid: 5, imageSize: 40, startBy: 'cell', queries: ['colour'], wording: 'cell-value' });
  const out = join(tempDir('cli-grid5-run'), 'run');
  await rejectsUserError(() => prepareRun(tinyRunOptions(data, out, { alignWeight: 1 })), data, '5x5 cells', '4x4 patches', '--align-weight 0');
  await prepareRun(tinyRunOptions(data, out, { alignWeight: 0, captions: true }));
});

test('the data fingerprint a resume compares does not depend on the path the dataset is reached by', async () => {
  const root = tempDir('cli-fp');
  const data = join(root, 'ds');
  await writeSynthDataset(data, { train: 8, val: 4, test: 4, seed: 3 });
  symlinkSync(data, join(root, 'link'));
  const a = await prepareRun(tinyRunOptions(data, join(root, 'run')));
  const b = await prepareRun(tinyRunOptions(join(root, 'link'), join(root, 'run')));
  assert.is(b.fingerprint, a.fingerprint);
});

const haveSample = existsSync(join(SCIENCEQA_SAMPLE, 'problems.json'));
(haveSample ? test : test.skip)('training on the ScienceQA sample: its missing image files are an error unless a policy is chosen; text-only counts them', async () => {
  const run = tempDir('cli-sqa-run');
  await rejectsUserError(() => prepareRun(tinyRunOptions(SCIENCEQA_SAMPLE, run, { maxTrain: 0, overrides: { maxLen: 1024 } })), '67 record(s) name an image file that does not exist', '--missing-image');
  const r = await prepareRun(tinyRunOptions(SCIENCEQA_SAMPLE, run, { maxTrain: 0, missingImage: 'text-only', overrides: { maxLen: 1024 } }));
  assert.is(r.missingImages, 67);
  // The steps of a ScienceQA solution: sentences split where the text ends them.
  assert.ok(r.train.every((rec) => rec.steps.length <= 2));
});

(haveSample ? test : test.skip)('inspect on the real ScienceQA sample: explicit policy, report, sheet', async () => {
  await rejectsUserError(() => inspectCommand(SCIENCEQA_SAMPLE, { sheet: false }, () => undefined), '67 record(s)');
  const sheet = join(tempDir('cli-sqa'), 'sheet.png');
  const lines: string[] = [];
  await inspectCommand(SCIENCEQA_SAMPLE, { missingImage: 'skip', sheet, count: '4' }, (l) => lines.push(l));
  const out = lines.join('\n');
  assert.match(out, 'problems: 83 loaded of 150');
  assert.match(out, "missing image files: 67 (policy 'skip': 67 skipped, 0 kept text-only)");
  assert.match(out, 'text-only baselines');
  assert.ok(existsSync(sheet));
  // check on a non-synthetic dataset reports but does not judge baselines.
  const checkLines: string[] = [];
  await checkCommand(SCIENCEQA_SAMPLE, { missingImage: 'text-only' }, (l) => checkLines.push(l));
  assert.match(checkLines.join('\n'), 'not a synthetic dataset');
});

test('check fails loudly when a picture does not match its scene', async () => {
  const dir = join(tempDir('cli-tamper'), 'ds');
  await writeSynthDataset(dir, { train: 40, val: 0, test: 40, seed: 1 });
  const victim = join(dir, 'images', 'test', 'test-3', 'image.png');
  await sharp({ create: { width: 32, height: 32, channels: 3, background: '#ffffff' } }).png().toFile(victim + '.tmp');
  const { renameSync } = await import('node:fs');
  renameSync(victim + '.tmp', victim);
  await rejectsUserError(() => checkCommand(dir, {}, () => undefined), 'data check failed', 'test-3');
});

test.run();
