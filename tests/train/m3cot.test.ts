// The M3CoT-layout loader (JSON lines): valid fixtures, split handling, and malformed lines,
// each a UserError naming the file, the line and the field.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { loadM3CoT } from '../../train/data/m3cot.js';
import { loadDataset } from '../../train/data/load.js';
import { tempDir, throwsUserError } from './util.js';

type Line = Record<string, unknown>;

const good = (id: string, extra: Line = {}): Line => ({
  id, question: `Question ${id}?`, choices: ['alpha', 'beta', 'gamma'], answer: 'B',
  rationale: 'First look. Then think. Then more. And more. Finally answer.', image: 'img/a.png', ...extra,
});

async function fixture(lines: Record<string, Line[] | string>): Promise<string> {
  const dir = tempDir('m3cot');
  mkdirSync(join(dir, 'img'));
  await sharp({ create: { width: 8, height: 8, channels: 3, background: '#00ff00' } }).png().toFile(join(dir, 'img', 'a.png'));
  for (const [file, content] of Object.entries(lines)) {
    writeFileSync(join(dir, file), typeof content === 'string' ? content : content.map((l) => JSON.stringify(l)).join('\n') + '\n');
  }
  return dir;
}

test('a folder of train/dev/test .jsonl loads; letter answers become indices; steps merge to 3', async () => {
  const dir = await fixture({
    'train.jsonl': [good('t1'), good('t2', { answer: 'C', context: 'Some context.' })],
    'dev.jsonl': [good('v1', { image: null })],
    'test.jsonl': [good('x1', { answer: 'A' })],
  });
  const { records, report } = loadDataset(dir);
  assert.is(report.layout, 'm3cot');
  assert.equal(records.map((r) => [r.id, r.split, r.answerIndex]), [['t1', 'train', 1], ['t2', 'train', 2], ['v1', 'val', 1], ['x1', 'test', 0]]);
  assert.is(records[1]!.hint, 'Some context.');
  assert.is(records[2]!.imagePath, null);
  assert.ok(records[0]!.imagePath!.endsWith(join('img', 'a.png')));
  assert.equal(records[0]!.steps, ['First look. Then think.', 'Then more. And more.', 'Finally answer.']);
  assert.equal(report.perSplit, { train: 2, val: 1, test: 1 });
});

test('a single .jsonl file uses each line\'s "split"; blank lines are ignored', async () => {
  const dir = await fixture({ 'all.jsonl': `${JSON.stringify(good('a', { split: 'train' }))}\n\n${JSON.stringify(good('b', { split: 'test' }))}\n` });
  const { records } = loadM3CoT(join(dir, 'all.jsonl'));
  assert.equal(records.map((r) => r.split), ['train', 'test']);
});

test('a line\'s split may say dev or validation for val; "image_path" stands for "image"', async () => {
  const dir = await fixture({ 'all.jsonl': [good('a', { split: 'dev' }), good('b', { split: 'validation' }), good('c', { split: 'train' })] });
  assert.equal(loadM3CoT(join(dir, 'all.jsonl')).records.map((r) => [r.id, r.split]), [['c', 'train'], ['a', 'val'], ['b', 'val']]);
  const dev = await fixture({ 'dev.jsonl': [good('d', { split: 'dev' })] });
  assert.equal(loadM3CoT(dev).records.map((r) => r.split), ['val']);
  const other = await fixture({ 'train.jsonl': [(({ image, ...rest }) => ({ ...rest, image_path: image }))(good('e'))] });
  assert.ok(loadM3CoT(other).records[0]!.imagePath!.endsWith(join('img', 'a.png')));
});

test('missing images follow the policy and are counted', async () => {
  const dir = await fixture({ 'train.jsonl': [good('a', { image: 'img/none.png' }), good('b')] });
  throwsUserError(() => loadM3CoT(dir), '1 record(s) name an image file that does not exist', 'a:');
  assert.is(loadM3CoT(dir, { missingImage: 'skip' }).records.length, 1);
  const kept = loadM3CoT(dir, { missingImage: 'text-only' });
  assert.is(kept.records.length, 2);
  assert.is(kept.report.convertedToTextOnly, 1);
  assert.is(kept.records[0]!.imagePath, null);
});

const malformed: Array<[string, string, Array<string | RegExp>]> = [
  ['bad JSON', '{"id": "z", "question": ', [':2:', 'not valid JSON']],
  ['not an object', '[1, 2]', [':2:', 'must be a JSON object']],
  ['missing id', JSON.stringify({ ...good('q'), id: undefined }), [':2:', 'field "id"']],
  ['missing question', JSON.stringify({ ...good('q'), question: undefined }), [':2:', 'record "q"', 'field "question" is missing']],
  ['choices wrong type', JSON.stringify(good('q', { choices: { a: 1 } })), [':2:', 'record "q"', 'field "choices" must be an array']],
  ['answer not a letter', JSON.stringify(good('q', { answer: 1 })), [':2:', 'record "q"', 'field "answer" must be a string']],
  ['answer lowercase', JSON.stringify(good('q', { answer: 'b' })), [':2:', 'record "q"', 'one capital letter']],
  ['answer out of range', JSON.stringify(good('q', { answer: 'D' })), [':2:', 'record "q"', '"D" but there are only 3 choices']],
  ['rationale missing', JSON.stringify({ ...good('q'), rationale: undefined }), [':2:', 'record "q"', 'field "rationale" is missing']],
  ['path traversal', JSON.stringify(good('q', { image: '../outside.png' })), [':2:', 'record "q"', 'field "image"', '".."']],
  ['absolute image path', JSON.stringify(good('q', { image: '/etc/passwd' })), [':2:', 'record "q"', 'absolute path']],
  ['split disagrees with the file', JSON.stringify(good('q', { split: 'test' })), [':2:', 'record "q"', 'the file is the train split']],
  ['bad split value', JSON.stringify(good('q', { split: 'holdout' })), [':2:', 'record "q"', 'field "split"']],
  ['duplicate id', JSON.stringify(good('first')), [':2:', 'record "first"', 'duplicate id', ':1)']],
];

for (const [name, line2, patterns] of malformed) {
  test(`malformed: ${name}`, async () => {
    const dir = await fixture({ 'train.jsonl': `${JSON.stringify(good('first'))}\n${line2}\n` });
    throwsUserError(() => loadM3CoT(dir), join(dir, 'train.jsonl'), ...patterns);
  });
}

test('malformed: a single file without split fields', async () => {
  const dir = await fixture({ 'mixed.jsonl': [good('a')] });
  throwsUserError(() => loadM3CoT(join(dir, 'mixed.jsonl')), 'record "a"', 'field "split" is missing');
});

test('a symlinked image escaping the folder is refused', async () => {
  const dir = await fixture({ 'train.jsonl': [good('a', { image: 'img/link.png' })] });
  const outside = tempDir('outside');
  writeFileSync(join(outside, 'x.png'), 'x');
  symlinkSync(join(outside, 'x.png'), join(dir, 'img', 'link.png'));
  throwsUserError(() => loadM3CoT(dir), 'record "a"', 'symlink', 'outside the dataset folder');
});

test('a folder with both val.jsonl and dev.jsonl is ambiguous', async () => {
  const dir = await fixture({ 'val.jsonl': [good('a')], 'dev.jsonl': [good('b')] });
  throwsUserError(() => loadM3CoT(dir), 'both val.jsonl and dev.jsonl');
});

test.run();
