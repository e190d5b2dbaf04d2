// `ivt infer` end to end through the real CLI: one picture and question in, the answer out, with
// the rationale (cot), the patches each latent step selected (ivt), and, with --latent-steps
// fewer than the model's, the steps written after the latent ones; --json and --show.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import sharp from 'sharp';
import { join } from 'node:path';
import { ivt, tempDir, withoutDawnNoise } from './cli.js';

const base = tempDir('infer');
const DS = join(base, 'ds');
const RUN = join(base, 'run');

test('ivt infer: answer, rationale, selected patches and fewer latent steps', async () => {
  const synth = await ivt(['data', 'synth', '--out', DS, '--train', '8', '--val', '2', '--test', '2', '--start-by', 'cell', '--queries', 'colour', '--wording', 'cell-value']);
  assert.is(synth.code, 0, synth.stderr);
  const made = await ivt(['train', '--data', DS, '--out', RUN, '--stages', '2', '--epochs', '1', '--batch', '8', '--no-eval', '--checkpoint-every', '0', '--mix-stages', '0.5']);
  assert.is(made.code, 0, made.stdout + made.stderr);
  const problems = JSON.parse(readFileSync(join(DS, 'problems.json'), 'utf8')) as Record<string, { question: string; choices: string[]; split: string }>;
  const [id, p] = Object.entries(problems).find(([, q]) => q.split === 'test')!;
  const args = ['infer', '--run', RUN, '--image', join(DS, 'images', 'test', id, 'image.png'), '--question', p.question, '--choices', p.choices.join('|')];
  const run = async (extra: string[]) => {
    const r = await ivt([...args, ...extra]);
    const out = withoutDawnNoise(r.stdout + r.stderr);
    assert.is(r.code, 0, out);
    assert.match(out, /^answer: (\([A-D]\) \w+|none could be extracted from "[^]*?"( \(decoding reached its limit, (\d+ new tokens in mode [\w-]+|the model's \d+ positions), before an answer line\))?)$/m);
    return out;
  };
  const latent = await run([]);
  assert.equal(latent.match(/^latent step \d selected patches: #\d+ \(row \d, col \d\)(, #\d+ \(row \d, col \d\)){3}$/gm)?.length, 2, latent);
  assert.ok(!latent.includes('written after'), latent);
  const fewer = await run(['--latent-steps', '1']);
  assert.equal(fewer.match(/^latent step \d selected patches/gm)?.length, 1, fewer);
  assert.match(fewer, /^written after the 1 latent step:$/m);
  // --json holds what was printed; --show draws it; both land whole in folders made for them.
  const json = join(base, 'out', 'r.json'), png = join(base, 'out', 'pic', 'show.png');
  const shown = await run(['--json', json, '--show', png]);
  const r = JSON.parse(readFileSync(json, 'utf8')) as { mode: string; latent_steps: number; passes: number; text: string; answer: string | null; selected_patches: number[][]; patch_grid: number };
  assert.equal([r.mode, r.latent_steps, r.patch_grid], ['ivt', 2, 4]);
  const printed = [...shown.matchAll(/^latent step \d selected patches: (.*)$/gm)].map((m) => [...m[1]!.matchAll(/#(\d+)/g)].map((x) => Number(x[1])));
  assert.equal(r.selected_patches, printed);
  assert.match(shown, new RegExp(`^${r.passes} forward passes \\(mode ivt, 2 latent steps\\)$`, 'm'));
  assert.match(shown, r.answer === null ? /^answer: none/m : new RegExp(`^answer: \\([A-D]\\) ${r.answer}$`, 'm'));
  const meta = await sharp(png).metadata();
  assert.equal([meta.format, meta.width! >= 256, meta.height! > 256], ['png', true, true]);
  assert.equal(readdirSync(join(base, 'out', 'pic')), ['show.png']);
  const jpg = await ivt([...args, '--show', join(base, 'out', 'show.jpg')]);
  assert.is(jpg.code, 2);
  assert.match(jpg.stderr, /--show .*show\.jpg: the picture is written as PNG/);
  assert.not.ok(existsSync(join(base, 'out', 'show.jpg')));
  // "latest", the tag flags' default, may also be given; eval's JSON names the tag it resolved to.
  await run(['--tag', 'latest']);
  const evalJson = join(base, 'out', 'eval.json');
  const ev = await ivt(['eval', '--run', RUN, '--data', DS, '--limit', '2', '--tag', 'latest', '--json', evalJson]);
  assert.is(ev.code, 0, ev.stdout + ev.stderr);
  assert.is((JSON.parse(readFileSync(evalJson, 'utf8')) as { tag: string }).tag, readFileSync(join(RUN, 'checkpoints', 'latest'), 'utf8').trim());
  const cot = await run(['--mode', 'cot', '--tag', 'stage-0']);
  assert.match(cot, /^rationale:$/m);
  assert.ok(!cot.includes('selected patches'), cot);
});

test.run();
