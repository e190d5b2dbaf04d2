// The ScienceQA-layout loader: the 150 real sample problems (no image files) under each
// missing-image policy, a small fixture with real images, and malformed records, each of which
// must be a UserError naming the file, the record and the field.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { loadScienceQA } from '../../train/data/scienceqa.js';
import { firstDuplicateKey } from '../../train/data/validate.js';
import { loadDataset } from '../../train/data/load.js';
import { SCIENCEQA_SAMPLE, tempDir, throwsUserError } from './util.js';

const haveSample = existsSync(join(SCIENCEQA_SAMPLE, 'problems.json'));
const sampleTest = haveSample ? test : test.skip;

sampleTest('real sample, policy error: refuses, naming the count and how to proceed', () => {
  throwsUserError(() => loadScienceQA(SCIENCEQA_SAMPLE), '67 record(s) name an image file that does not exist', '--missing-image skip or text-only');
});

sampleTest('real sample, policy skip: the 83 text-only problems load, 67 skipped and counted', () => {
  const { records, report } = loadScienceQA(SCIENCEQA_SAMPLE, { missingImage: 'skip' });
  assert.is(report.total, 150);
  assert.is(records.length, 83);
  assert.is(report.skippedMissingImage, 67);
  assert.is(report.missingImage, 67);
  assert.is(report.textOnly, 83);
  assert.is(report.perSplit.train + report.perSplit.val + report.perSplit.test, 83);
  assert.ok(records.every((r) => r.imagePath === null));
});

sampleTest('real sample, policy text-only: all 150 load; fields and steps are sound', () => {
  const { records, report } = loadScienceQA(SCIENCEQA_SAMPLE, { missingImage: 'text-only' });
  assert.is(records.length, 150);
  assert.is(report.convertedToTextOnly, 67);
  assert.equal(report.perSplit, { train: 50, val: 50, test: 50 });
  const raw = JSON.parse(readFileSync(join(SCIENCEQA_SAMPLE, 'problems.json'), 'utf8')) as Record<string, { answer: number; choices: string[]; lecture: string; solution: string }>;
  for (const r of records) {
    const src = raw[r.id]!;
    assert.is(r.answerIndex, src.answer);
    assert.equal(r.choices, src.choices);
    assert.ok(r.choices.length >= 2 && r.answerIndex < r.choices.length);
    assert.ok(r.steps.length <= 3);
    // Steps are the rationale (lecture then solution), merged, nothing lost.
    assert.is(r.steps.join(' ').replace(/\s+/g, ' '), [src.lecture, src.solution].join(' ').replace(/\s+/g, ' ').trim());
  }
  // Order: train, then val, then test.
  const order = records.map((r) => r.split);
  assert.equal(order, [...order].sort((a, b) => ['train', 'val', 'test'].indexOf(a) - ['train', 'val', 'test'].indexOf(b)));
});

sampleTest('real sample: rationale "solution" uses the solution alone; split filter works', () => {
  const { records, report } = loadScienceQA(SCIENCEQA_SAMPLE, { missingImage: 'skip', rationale: 'solution', splits: ['test'] });
  assert.ok(records.every((r) => r.split === 'test'));
  assert.ok(report.otherSplits > 0);
  const raw = JSON.parse(readFileSync(join(SCIENCEQA_SAMPLE, 'problems.json'), 'utf8')) as Record<string, { solution: string }>;
  for (const r of records) assert.is(r.rationale, raw[r.id]!.solution.trim());
});

/** A small valid dataset with one image problem and one text-only problem. */
async function fixture(): Promise<{ dir: string; problems: Record<string, Record<string, unknown>> }> {
  const dir = tempDir('sqa');
  const problems: Record<string, Record<string, unknown>> = {
    '1': { question: 'Which colour is shown?', choices: ['red', 'blue'], answer: 0, hint: '', image: 'image.png', lecture: 'Colours have names.', solution: 'The picture is red. So red.', split: 'train' },
    '2': { question: 'Is ice cold?', choices: ['yes', 'no', 'maybe'], answer: 2, hint: 'Think.', image: null, lecture: '', solution: 'Ice is cold.', split: 'test' },
  };
  mkdirSync(join(dir, 'images', 'train', '1'), { recursive: true });
  await sharp({ create: { width: 16, height: 16, channels: 3, background: '#ff0000' } }).png().toFile(join(dir, 'images', 'train', '1', 'image.png'));
  write(dir, problems, { train: ['1'], val: [], test: ['2'] });
  return { dir, problems };
}

function write(dir: string, problems: unknown, splits?: unknown): void {
  writeFileSync(join(dir, 'problems.json'), JSON.stringify(problems));
  if (splits !== undefined) writeFileSync(join(dir, 'pid_splits.json'), JSON.stringify(splits));
}

test('fixture: image and text-only problems load; image path is inside the folder', async () => {
  const { dir } = await fixture();
  const { records, report } = loadDataset(dir);
  assert.is(records.length, 2);
  assert.is(report.withImage, 1);
  assert.is(report.textOnly, 1);
  const [a, b] = records;
  assert.ok(a!.imagePath!.endsWith(join('images', 'train', '1', 'image.png')));
  assert.is(a!.rationale, 'Colours have names.\nThe picture is red. So red.');
  assert.equal(a!.steps, ['Colours have names.', 'The picture is red.', 'So red.']);
  assert.is(b!.imagePath, null);
  assert.is(b!.hint, 'Think.');
  assert.is(b!.answerIndex, 2);
});

test('without pid_splits.json the record "split" field is used', async () => {
  const { dir, problems } = await fixture();
  write(dir, problems);
  const { rmSync } = await import('node:fs');
  rmSync(join(dir, 'pid_splits.json'));
  assert.equal(loadScienceQA(dir).records.map((r) => r.split), ['train', 'test']);
});

const malformed: Array<[string, (p: Record<string, Record<string, unknown>>) => void, Array<string | RegExp>]> = [
  ['missing question', (p) => { delete p['1']!['question']; }, ['record "1"', 'field "question" is missing']],
  ['choices not an array', (p) => { p['1']!['choices'] = 'red, blue'; }, ['record "1"', 'field "choices" must be an array']],
  ['a choice not a string', (p) => { p['2']!['choices'] = ['yes', 3]; }, ['record "2"', 'field "choices"[1] must be a string']],
  ['one choice only', (p) => { p['1']!['choices'] = ['red']; }, ['record "1"', 'at least 2 choices']],
  ['an empty choice', (p) => { p['1']!['choices'] = ['red', ' ']; }, ['record "1"', 'field "choices"[1] is empty']],
  ['a choice repeated', (p) => { p['2']!['choices'] = ['yes', 'no', 'yes']; }, ['record "2"', 'field "choices"[2] repeats choice 0']],
  ['answer out of range', (p) => { p['2']!['answer'] = 3; }, ['record "2"', 'field "answer" is 3, out of range [0, 2]']],
  ['answer negative', (p) => { p['2']!['answer'] = -1; }, ['record "2"', 'field "answer"']],
  ['answer a string', (p) => { p['1']!['answer'] = 'A'; }, ['record "1"', 'field "answer" must be an integer']],
  ['answer fractional', (p) => { p['1']!['answer'] = 0.5; }, ['record "1"', 'field "answer" must be an integer']],
  ['hint wrong type', (p) => { p['2']!['hint'] = 7; }, ['record "2"', 'field "hint" must be a string']],
  ['image key missing', (p) => { delete p['2']!['image']; }, ['record "2"', 'field "image" is missing']],
  ['image wrong type', (p) => { p['2']!['image'] = 5; }, ['record "2"', 'field "image" must be a string or null']],
  ['image path traversal', (p) => { p['1']!['image'] = '../../../../etc/passwd'; }, ['record "1"', 'field "image"', '..']],
  // Inside the dataset, but another problem's picture: join() would have folded the ".." away.
  ['image of another problem', (p) => { p['1']!['image'] = '../2/image.png'; }, ['record "1"', 'field "image"', 'must be a file name in the problem\'s folder']],
  ['image in a subfolder', (p) => { p['1']!['image'] = 'sub/image.png'; }, ['record "1"', 'field "image"', 'without "/"']],
  ['image absolute path', (p) => { p['1']!['image'] = '/etc/passwd'; }, ['record "1"', 'field "image"', 'absolute path']],
  ['record not an object', (p) => { (p as Record<string, unknown>)['1'] = 'oops'; }, ['record "1"', 'must be an object']],
  ['empty question', (p) => { p['1']!['question'] = '  '; }, ['record "1"', 'field "question" is empty']],
];

for (const [name, mutate, patterns] of malformed) {
  test(`malformed: ${name}`, async () => {
    const { dir, problems } = await fixture();
    mutate(problems);
    write(dir, problems);
    throwsUserError(() => loadScienceQA(dir), join(dir, 'problems.json'), ...patterns);
  });
}

test('malformed: bad JSON names the file', async () => {
  const { dir } = await fixture();
  writeFileSync(join(dir, 'problems.json'), '{"1": {"question": "x",');
  throwsUserError(() => loadScienceQA(dir), join(dir, 'problems.json'), 'not valid JSON');
});

test('malformed: a problem id twice in problems.json (JSON.parse would keep the last alone)', async () => {
  const { dir, problems } = await fixture();
  const text = JSON.stringify(problems);
  // The second record again under the first one's id, at the end: {"1": ..., "2": ..., "1": ...}.
  writeFileSync(join(dir, 'problems.json'), `${text.slice(0, -1)},"1":${JSON.stringify(problems['2'])}}`);
  throwsUserError(() => loadScienceQA(dir), join(dir, 'problems.json'), 'problem "1" occurs more than once');
});

test('malformed: a field twice in one problem, or deeper (JSON.parse would keep the last)', async () => {
  const { dir, problems } = await fixture();
  const text = JSON.stringify(problems);
  // Problem "2" with "answer" given twice: {"1": ..., "2": {..., "answer": 0, "answer": 1}}.
  writeFileSync(join(dir, 'problems.json'), text.replace(/"2":\{/, '"2":{"answer":0,'));
  throwsUserError(() => loadScienceQA(dir), join(dir, 'problems.json'), 'record "2": field "answer" occurs more than once');
  // Equal keys in different objects, and strings that look like keys, are fine.
  assert.is(firstDuplicateKey('{"a":{"x":1},"b":{"x":"\\"x\\":2","y":[{"x":1},{"x":2}]}}'), null);
  assert.equal(firstDuplicateKey('{"a":{"x":[{"k":1,"k":2}]}}'), { path: ['a', 'x', '[]'], key: 'k' });
});

test('malformed: problems.json is an array', async () => {
  const { dir } = await fixture();
  writeFileSync(join(dir, 'problems.json'), '[]');
  throwsUserError(() => loadScienceQA(dir), 'must be an object keyed by problem id');
});

test('malformed: pid_splits names an unknown pid / a pid twice / disagrees with the record', async () => {
  const { dir, problems } = await fixture();
  write(dir, problems, { train: ['1', '99'], test: ['2'] });
  throwsUserError(() => loadScienceQA(dir), 'pid_splits.json', '"99"', 'not in problems.json');
  write(dir, problems, { train: ['1', '2'], test: ['2'] });
  throwsUserError(() => loadScienceQA(dir), 'problem "2" is listed in both "train" and "test"');
  write(dir, problems, { train: ['1'], val: ['2'] });
  throwsUserError(() => loadScienceQA(dir), 'record "2"', 'field "split" is "test"', 'under "val"');
});

test('malformed: a record in no split', async () => {
  const { dir, problems } = await fixture();
  delete problems['2']!['split'];
  write(dir, problems, { train: ['1'] });
  throwsUserError(() => loadScienceQA(dir), 'record "2"', 'no split');
});

test('a pid that would climb out as a folder name is refused', async () => {
  const { dir, problems } = await fixture();
  problems['..'] = { ...problems['1']! };
  write(dir, problems, { train: ['1', '..'], test: ['2'] });
  throwsUserError(() => loadScienceQA(dir), 'record ".."');
});

test('a symlinked image that escapes the dataset folder is refused; one inside is fine', async () => {
  const { dir, problems } = await fixture();
  const outside = tempDir('outside');
  const secret = join(outside, 'secret.png');
  writeFileSync(secret, 'not yours');
  mkdirSync(join(dir, 'images', 'test', '2'), { recursive: true });
  symlinkSync(secret, join(dir, 'images', 'test', '2', 'image.png'));
  problems['2']!['image'] = 'image.png';
  write(dir, problems, { train: ['1'], test: ['2'] });
  throwsUserError(() => loadScienceQA(dir), 'record "2"', 'symlink', 'outside the dataset folder');
  // A symlinked folder escaping is caught the same way.
  const { rmSync } = await import('node:fs');
  rmSync(join(dir, 'images', 'test', '2'), { recursive: true });
  symlinkSync(outside, join(dir, 'images', 'test', '2'));
  writeFileSync(join(outside, 'image.png'), 'x');
  throwsUserError(() => loadScienceQA(dir), 'record "2"', 'outside the dataset folder');
  // A link that stays inside is allowed.
  rmSync(join(dir, 'images', 'test', '2'));
  mkdirSync(join(dir, 'images', 'test', '2'));
  symlinkSync(join(dir, 'images', 'train', '1', 'image.png'), join(dir, 'images', 'test', '2', 'image.png'));
  assert.is(loadScienceQA(dir).report.withImage, 2);
});

test('missing folder / missing problems.json are user errors', () => {
  throwsUserError(() => loadDataset('/nonexistent/dataset/dir'), 'no such file or folder');
  const empty = tempDir('empty');
  throwsUserError(() => loadDataset(empty), 'not a dataset');
  throwsUserError(() => loadScienceQA(empty), 'problems.json', 'cannot read');
});

test('bad options are user errors', () => {
  throwsUserError(() => loadScienceQA(SCIENCEQA_SAMPLE, { missingImage: 'ignore' as never }), 'missing-image policy');
  throwsUserError(() => loadScienceQA(SCIENCEQA_SAMPLE, { maxSteps: 0 }), 'maxSteps');
});

test.run();
