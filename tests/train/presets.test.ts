// The presets' roles: `tiny` for smoke runs and tests (and `ivt train --preset tiny` a smoke run
// by default: the first TINY_SMOKE problems), `small` the demo's model, `medium` and `base` larger.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TINY_SMOKE } from '../../cli/train_commands.js';
import { PRESET_NAMES, preset } from '../../model/config.js';
import { ivt, tempDir } from '../reliability/cli.js';
import { metricsLines } from './util.js';

const base = tempDir('presets');
const DS = join(base, 'ds');

test('presets grow from tiny to base; small is the demo and training default', async () => {
  assert.equal([...PRESET_NAMES], ['tiny', 'small', 'medium', 'base']);
  const width = PRESET_NAMES.map((p) => preset(p, 64).dim * preset(p, 64).layers);
  for (let i = 1; i < width.length; i++) assert.ok(width[i]! > width[i - 1]!, `${PRESET_NAMES[i]} larger than ${PRESET_NAMES[i - 1]}`);
  // The demo's model: the size the lavapipe demo and its reports are measured with.
  const small = preset('small', 64);
  assert.equal([small.dim, small.layers, small.mlpRatio, small.visionDim, small.visionLayers], [32, 2, 2, 32, 1]);
  const help = await ivt(['train', '--help']);
  assert.match(help.stdout.replace(/\s+/g, ' '), /--preset <name> model size \(choices: "tiny", "small", "medium", "base", default: "small"\)/s);
  const demoHelp = await ivt(['demo', '--help']);
  assert.match(demoHelp.stdout.replace(/\s+/g, ' '), /--preset <name> model preset \(choices: "tiny", "small", "medium", "base", default: "small"\)/);
});

test('`ivt train --preset tiny` caps the data unless told otherwise, and says so', async () => {
  const made = await ivt(['data', 'synth', '--out', DS, '--train', String(TINY_SMOKE.maxTrain + 40), '--val', String(TINY_SMOKE.maxVal + 10), '--test', '4']);
  assert.is(made.code, 0, made.stderr);
  const common = ['--stages', '1', '--epochs', '1', '--checkpoint-every', '0', '--no-eval'];
  const smoke = join(base, 'smoke');
  const r = await ivt(['train', '--data', DS, '--out', smoke, '--preset', 'tiny', ...common]);
  assert.is(r.code, 0, r.stderr);
  assert.ok(r.stdout.includes(`--preset tiny: a smoke run (--max-train ${TINY_SMOKE.maxTrain} --max-val ${TINY_SMOKE.maxVal};`), r.stdout);
  const opts = JSON.parse(readFileSync(join(smoke, 'options.json'), 'utf8')) as { maxTrain: number; maxVal: number };
  assert.equal([opts.maxTrain, opts.maxVal], [TINY_SMOKE.maxTrain, TINY_SMOKE.maxVal]);
  // Stage 1 (stage 0 adds the pictures' captions): one epoch of batch 16 over the capped problems.
  const stage1 = (run: string) => metricsLines<{ stage: number; eval?: boolean }>(run).filter((m) => !m.eval && m.stage === 1).length;
  assert.is(stage1(smoke), Math.ceil(TINY_SMOKE.maxTrain / 16));

  // A limit given on the command line wins and is not announced; the other is still capped.
  const own = join(base, 'own');
  const r2 = await ivt(['train', '--data', DS, '--out', own, '--preset', 'tiny', '--max-train', '32', ...common]);
  assert.is(r2.code, 0, r2.stderr);
  assert.ok(r2.stdout.includes(`--preset tiny: a smoke run (--max-val ${TINY_SMOKE.maxVal};`), r2.stdout);
  const opts2 = JSON.parse(readFileSync(join(own, 'options.json'), 'utf8')) as { maxTrain: number; maxVal: number };
  assert.equal([opts2.maxTrain, opts2.maxVal], [32, TINY_SMOKE.maxVal]);
  assert.is(stage1(own), 2);
});

test.run();
