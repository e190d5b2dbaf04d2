// The synthetic generator: determinism, knob validation, atomic writing, ScienceQA layout
// read back by the loader, pictures that match their scenes, and problems whose steps each
// look at a different part of the picture.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import sharp from 'sharp';
import { writeSynthDataset } from '../../train/data/synth/write.js';
import { generateProblem, generateSplit } from '../../train/data/synth/generate.js';
import { resolveSynthOptions, COLOURS, SHAPES } from '../../train/data/synth/spec.js';
import { objectAt, pathCells, solveScene, countColour, cellName, captionSentences, cellWords, rationaleSentences, sceneProblem } from '../../train/data/synth/scene.js';
import { buildTokenizer } from '../../train/tokenizer.js';
import { imageWordIds } from '../../train/samples.js';
import { IMAGE_WORDS } from '../../model/ivt.js';
import { readScenes, inconsistentRecords, withScenes } from '../../train/data/synth/lookups.js';
import { sceneImageDifference } from '../../train/data/synth/verify.js';
import { COLOUR_HEX } from '../../train/data/synth/render.js';
import { writeFolderAtomically } from '../../train/data/atomic.js';
import { loadScienceQA } from '../../train/data/scienceqa.js';
import { rejectsUserError, tempDir, throwsUserError } from './util.js';

const small = { train: 24, val: 8, test: 12 };

function digest(dir: string): string {
  const h = createHash('sha256');
  const walk = (d: string): void => {
    for (const entry of readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = join(d, entry.name);
      if (entry.isDirectory()) walk(p);
      else { h.update(p.slice(dir.length)); h.update(readFileSync(p)); }
    }
  };
  walk(dir);
  return h.digest('hex');
}

test('same seed, same bytes (problems.json, splits and every PNG); another seed differs', async () => {
  const root = tempDir('synth-det');
  await writeSynthDataset(join(root, 'a'), { ...small, seed: 7 });
  await writeSynthDataset(join(root, 'b'), { ...small, seed: 7 });
  await writeSynthDataset(join(root, 'c'), { ...small, seed: 8 });
  assert.is(digest(join(root, 'a')), digest(join(root, 'b')));
  assert.is.not(readFileSync(join(root, 'a', 'problems.json'), 'utf8'), readFileSync(join(root, 'c', 'problems.json'), 'utf8'));
});

test('a problem depends only on (seed, split, index): changing other split sizes keeps it', () => {
  const o1 = resolveSynthOptions({ train: 10, test: 5, seed: 3 });
  const o2 = resolveSynthOptions({ train: 500, test: 50, seed: 3 });
  assert.equal(generateSplit(o1, 'test', 5), generateSplit(o2, 'test', 50).slice(0, 5));
  assert.equal(generateProblem(o1, 'train', 4), generateProblem(o2, 'train', 4));
});

test('written in ScienceQA layout and read back by the ScienceQA loader', async () => {
  const dir = join(tempDir('synth-layout'), 'ds');
  const summary = await writeSynthDataset(dir, { ...small, seed: 2 });
  assert.equal(summary.counts, { train: 24, val: 8, test: 12 });
  const splits = JSON.parse(readFileSync(join(dir, 'pid_splits.json'), 'utf8')) as Record<string, string[]>;
  assert.equal(Object.keys(splits), ['train', 'val', 'test']);
  const problems = JSON.parse(readFileSync(join(dir, 'problems.json'), 'utf8')) as Record<string, Record<string, unknown>>;
  for (const pid of splits['test']!) {
    const p = problems[pid]!;
    for (const f of ['question', 'choices', 'answer', 'hint', 'image', 'lecture', 'solution', 'split']) assert.ok(f in p, `field ${f}`);
    assert.is(p['image'], 'image.png');
    assert.ok(existsSync(join(dir, 'images', 'test', pid, 'image.png')));
  }
  const { records, report } = loadScienceQA(dir);
  assert.is(records.length, 44);
  assert.is(report.withImage, 44);
  const scenes = readScenes(dir);
  assert.equal(inconsistentRecords(withScenes(records, scenes)!), []);
  for (const r of records) {
    assert.is(r.choices.length, 4);
    assert.is(r.steps.length, 3, 'default: 3 steps, one sentence each');
    assert.is(r.choices[r.answerIndex], solveScene(scenes.get(r.id)!));
  }
  const meta = await sharp(records[0]!.imagePath!).metadata();
  assert.equal([meta.width, meta.height, meta.channels], [32, 32, 3]);
});

test('pictures show exactly their scenes (re-rendered and compared, and cell centres read back)', async () => {
  const dir = join(tempDir('synth-pixels'), 'ds');
  await writeSynthDataset(dir, { train: 6, val: 0, test: 6, seed: 5 });
  const { records } = loadScienceQA(dir);
  const scenes = readScenes(dir);
  const hex = (c: string) => [1, 3, 5].map((i) => parseInt(c.slice(i, i + 2), 16));
  for (const r of records) {
    const scene = scenes.get(r.id)!;
    assert.is(await sceneImageDifference(r.imagePath!, scene), 0);
    // Independent of the renderer: every occupied cell shows its object's colour, every
    // empty cell is background, read from the decoded PNG.
    const { data } = await sharp(r.imagePath!).raw().toBuffer({ resolveWithObject: true });
    const cell = 32 / scene.grid;
    for (let row = 0; row < scene.grid; row++) {
      for (let col = 0; col < scene.grid; col++) {
        const o = objectAt(scene, row, col);
        // The circle is a ring, so sample its rim (left of centre); other shapes are solid at the centre.
        const x = Math.floor(col * cell + cell / 2) - (o?.shape === 'circle' ? 3 : 0);
        const y = Math.floor(row * cell + cell / 2);
        const px = [0, 1, 2].map((c) => data[(y * 32 + x) * 3 + c]!);
        const want = o ? hex(COLOUR_HEX[o.colour]) : [255, 255, 255];
        const diff = Math.max(...px.map((v, i) => Math.abs(v - want[i]!)));
        assert.ok(diff <= 60, `${r.id} cell (${row},${col}) ${o ? o.colour : 'empty'}: pixel ${px} vs ${want}`);
      }
    }
  }
});

test('scene invariants: unique start, walk on objects, distinct cells, every colour and shape present', () => {
  const o = resolveSynthOptions({ train: 600, seed: 11 });
  for (const p of generateSplit(o, 'train', 600)) {
    const s = p.scene;
    assert.is(s.objects.length, o.objects);
    const start = objectAt(s, s.start[0], s.start[1])!;
    assert.is(s.objects.filter((x) => x.colour === start.colour && x.shape === start.shape).length, 1);
    const cells = pathCells(s).map(([r, c]) => `${r},${c}`);
    assert.is(new Set(cells).size, cells.length, 'each step visits a different cell');
    for (const c of pathCells(s)) assert.ok(objectAt(s, c[0], c[1]), 'walk stays on objects');
    for (const c of COLOURS) assert.ok(s.objects.some((x) => x.colour === c));
    for (const sh of SHAPES) assert.ok(s.objects.some((x) => x.shape === sh));
    if (s.query === 'count') {
      const counts = COLOURS.map((c) => countColour(s, c));
      assert.is(new Set(counts).size, 4, 'four different colour counts');
      assert.equal([...p.choices].sort(), counts.map(String).sort());
    }
    // One sentence per step: locate + one per move (+ the count).
    assert.is(p.solution.split('. ').length, 1 + s.moves.length + (s.query === 'count' ? 1 : 0));
  }
});

test('option order: fixed lists the values canonically (counts ascending); shuffled varies the order', () => {
  const fixed = generateSplit(resolveSynthOptions({ seed: 6 }), 'train', 120);
  for (const p of fixed) {
    const want = p.scene.query === 'colour' ? [...COLOURS] : p.scene.query === 'shape' ? [...SHAPES] : [...p.choices].sort((a, b) => Number(a) - Number(b));
    assert.equal(p.choices, want, `${p.pid} options`);
    assert.is(p.choices[p.answerIndex], solveScene(p.scene));
  }
  const shuffled = generateSplit(resolveSynthOptions({ seed: 6, optionOrder: 'shuffled' }), 'train', 120);
  const orders = new Set(shuffled.filter((p) => p.scene.query === 'colour').map((p) => p.choices.join(',')));
  assert.ok(orders.size > 5, `only ${orders.size} colour option orders when shuffled`);
  for (const p of shuffled) assert.is(p.choices[p.answerIndex], solveScene(p.scene));
  assert.throws(() => resolveSynthOptions({ optionOrder: 'random' as never }), /--option-order must be fixed or shuffled/);
});

for (const optionOrder of ['fixed', 'shuffled'] as const) test(`letters and answer values are balanced; all question kinds occur (${optionOrder} options)`, () => {
  const o = resolveSynthOptions({ seed: 4, optionOrder });
  const ps = generateSplit(o, 'train', 1200);
  const letters = [0, 0, 0, 0];
  const kinds: Record<string, number> = {};
  const values: Record<string, number> = {};
  for (const p of ps) {
    letters[p.answerIndex]! += 1;
    kinds[p.scene.query] = (kinds[p.scene.query] ?? 0) + 1;
    if (p.scene.query !== 'count') values[p.choices[p.answerIndex]!] = (values[p.choices[p.answerIndex]!] ?? 0) + 1;
  }
  assert.equal(letters, [300, 300, 300, 300]);
  assert.equal(kinds, { colour: 400, shape: 400, count: 400 });
  for (const v of Object.values(values)) assert.is(v, 100);
});

test('knobs: more steps means more moves; grid, objects and image size are honoured', async () => {
  const o = resolveSynthOptions({ steps: 5, grid: 5, objects: 12, imageSize: 40, queries: ['colour', 'count'] });
  for (const p of generateSplit(o, 'val', 40)) {
    assert.is(p.scene.moves.length, p.scene.query === 'count' ? 3 : 4);
    assert.is(p.scene.grid, 5);
    assert.is(p.scene.objects.length, 12);
    assert.ok(p.scene.query !== 'shape');
  }
  const dir = join(tempDir('synth-knobs'), 'ds');
  await writeSynthDataset(dir, { train: 2, val: 0, test: 0, grid: 5, imageSize: 40, objects: 12, steps: 5 });
  const meta = await sharp(join(dir, 'images', 'train', 'train-0', 'image.png')).metadata();
  assert.is(meta.width, 40);
  const { records } = loadScienceQA(dir, { maxSteps: 3 });
  assert.ok(records.every((r) => r.steps.length === 3), 'more sentences than 3 merge into 3 steps');
});

test('bad knobs are user errors', () => {
  throwsUserError(() => resolveSynthOptions({ train: -1 }), '--train', '[0, 200000]');
  throwsUserError(() => resolveSynthOptions({ train: 0, val: 0, test: 0 }), 'nothing to generate');
  throwsUserError(() => resolveSynthOptions({ steps: 2 }), '--steps', '[3, 8]');
  throwsUserError(() => resolveSynthOptions({ imageSize: 34 }), '--image-size 34 is not a multiple of --grid 4');
  throwsUserError(() => resolveSynthOptions({ imageSize: 16 }), '--image-size', '[32, 512]');
  throwsUserError(() => resolveSynthOptions({ objects: 9 }), 'count questions need --objects >= 10');
  throwsUserError(() => resolveSynthOptions({ objects: 17 }), '--objects', '[8, 16]');
  throwsUserError(() => resolveSynthOptions({ queries: ['colour', 'size' as never] }), 'unknown kind "size"');
  throwsUserError(() => resolveSynthOptions({ seed: 1.5 }), '--seed must be an integer');
});

test('atomic: an existing non-empty folder is refused without --force and left untouched', async () => {
  const dir = join(tempDir('synth-atomic'), 'ds');
  mkdirSync(dir);
  writeFileSync(join(dir, 'keep.txt'), 'mine');
  await rejectsUserError(() => writeSynthDataset(dir, small), 'not empty', '--force');
  assert.equal(readdirSync(dir), ['keep.txt']);
  await writeSynthDataset(dir, small, { force: true });
  assert.ok(!existsSync(join(dir, 'keep.txt')));
  assert.ok(existsSync(join(dir, 'problems.json')));
});

test('atomic: a failure while writing leaves neither the target nor temporary folders', async () => {
  const parent = tempDir('synth-fail');
  const target = join(parent, 'out');
  let threw = false;
  try {
    await writeFolderAtomically(target, async (tmp) => {
      writeFileSync(join(tmp, 'half.json'), '{');
      throw new Error('disk full (simulated)');
    });
  } catch (err) {
    threw = (err as Error).message.includes('simulated');
  }
  assert.ok(threw);
  assert.equal(readdirSync(parent), []);
  // And with --force over an existing folder, the old folder survives the failure intact.
  mkdirSync(target);
  writeFileSync(join(target, 'old.txt'), 'old');
  await writeFolderAtomically(target, async () => { throw new Error('simulated'); }, { force: true }).catch(() => undefined);
  assert.equal(readdirSync(parent), ['out']);
  assert.equal(readdirSync(target), ['old.txt']);
});

test('a folder written atomically has the umask\'s permissions; a killed writer\'s leftovers are cleaned up, its old folder moved back', async () => {
  const parent = tempDir('atomic-leftovers');
  const target = join(parent, 'ds');
  await writeFolderAtomically(target, async (tmp) => { writeFileSync(join(tmp, 'a.json'), '{}'); });
  const umask = process.umask();
  assert.is(statSync(target).mode & 0o777, 0o777 & ~umask, 'not mkdtemp\'s 0700');
  // A dead writer (pid 2^22 + 1 is above Linux's default pid_max) left a temporary folder, and
  // another moved this target aside before being killed.
  const dead = 4194305;
  mkdirSync(join(parent, `.ds.tmp-${dead}-abc123`));
  renameSync(target, join(parent, `.ds.old-${dead}-def456`));
  await writeFolderAtomically(target, async () => { throw new Error('simulated'); }).catch(() => undefined);
  assert.equal(readdirSync(parent), ['ds'], 'the temporary folder removed, the old one back');
  assert.equal(readdirSync(target), ['a.json']);
  // Generating a dataset checks the target before any work, after a killed writer's old folder is back.
  renameSync(target, join(parent, `.ds.old-${dead}-0a0b0c`));
  await rejectsUserError(() => writeSynthDataset(target, small), 'exists and is not empty');
  assert.equal(readdirSync(target), ['a.json'], 'the old folder moved back before the check');
  // A running writer's are left alone (this process's parent runs).
  mkdirSync(join(parent, `.ds.tmp-${process.ppid}-abc123`));
  await writeFolderAtomically(target, async (tmp) => { writeFileSync(join(tmp, 'b.json'), '{}'); }, { force: true });
  assert.equal(readdirSync(parent).sort(), ['.ds.tmp-' + process.ppid + '-abc123', 'ds']);
  assert.equal(readdirSync(target), ['b.json']);
});

test('cells are named by one word in reading order; rationales, captions and image words use the names', () => {
  assert.equal([cellName(4, 0, 0), cellName(4, 0, 3), cellName(4, 2, 1), cellName(4, 3, 3)], ['one', 'four', 'ten', 'sixteen']);
  assert.equal([cellName(5, 3, 4), cellName(5, 4, 0), cellName(6, 5, 5), cellName(8, 7, 7)], ['twenty', 'twenty-one', 'thirty-six', 'sixty-four']);
  const names = new Set<string>();
  for (let r = 0; r < 8; r++) for (let c = 0; c < 8; c++) names.add(cellName(8, r, c));
  assert.is(names.size, 64, 'every cell of an 8 x 8 grid has its own name');
  const p = generateProblem(resolveSynthOptions({ seed: 3 }), 'train', 5);
  const cells = pathCells(p.scene);
  const sentences = rationaleSentences(p.scene);
  const start = objectAt(p.scene, cells[0]![0], cells[0]![1])!;
  assert.is(sentences[0], `The ${start.colour} ${start.shape} is in cell ${cellName(4, cells[0]![0], cells[0]![1])}.`);
  const [r1, c1] = cells[1]!;
  const o1 = objectAt(p.scene, r1, c1)!;
  assert.is(sentences[1], `One cell ${p.scene.moves[0]} is ${cellName(4, r1, c1)} ${o1.colour} ${o1.shape}.`);
  // A caption lists every object once, in reading order.
  const caption = captionSentences(p.scene);
  assert.is(caption.length, p.scene.objects.length);
  const sorted = [...p.scene.objects].sort((a, b) => a.row - b.row || a.col - b.col);
  caption.forEach((t, i) => assert.is(t, `Cell ${cellName(4, sorted[i]!.row, sorted[i]!.col)} ${sorted[i]!.colour} ${sorted[i]!.shape}.`));
  // Image words: one list per cell (= image token), the name, then colour and shape where there is an object.
  const words = cellWords(p.scene);
  assert.is(words.length, 16);
  for (let j = 0; j < 16; j++) {
    const o = objectAt(p.scene, Math.floor(j / 4), j % 4);
    assert.equal(words[j], o ? [cellName(4, Math.floor(j / 4), j % 4), o.colour, o.shape] : [cellName(4, Math.floor(j / 4), j % 4)]);
  }
  // To token ids: words the vocabulary has as one token; -1 for missing slots and for words it splits.
  const tok = buildTokenizer(['the red circle in cell one two', 'the red circle in cell one two']);
  const ids = imageWordIds([['one', 'red', 'circle'], ['two'], ['twenty-one', 'blue', 'red']], tok, 3);
  const id = (w: string) => tok.encode(' ' + w)[0]!;
  assert.equal([...ids], [id('one'), id('red'), id('circle'), id('two'), -1, -1, -1, -1, id('red')]);
  assert.is(IMAGE_WORDS, 3);
  assert.throws(() => imageWordIds([['one']], tok, 3), /3 image tokens/);
});

test('start by cell: the question names the start cell, the first step reads its object; datasets of the original kind are unchanged', async () => {
  const byCell = generateProblem(resolveSynthOptions({ seed: 3, startBy: 'cell' }), 'train', 5);
  const byObject = generateProblem(resolveSynthOptions({ seed: 3 }), 'train', 5);
  // The same scene and answer either way: only the wording differs.
  assert.equal({ ...byCell.scene, startBy: undefined }, { ...byObject.scene, startBy: undefined });
  assert.is(byCell.answerIndex, byObject.answerIndex);
  assert.is(byCell.scene.startBy, 'cell');
  assert.not.ok('startBy' in byObject.scene, 'an object-start scene gained a field');
  const [r0, c0] = byCell.scene.start;
  const start = objectAt(byCell.scene, r0, c0)!;
  assert.ok(byCell.question.startsWith(`Start at cell ${cellName(4, r0, c0)}. Move `), byCell.question);
  assert.ok(byObject.question.startsWith(`Start at the ${start.colour} ${start.shape}. Move `), byObject.question);
  assert.is(rationaleSentences(byCell.scene)[0], `Start is cell ${cellName(4, r0, c0)} ${start.colour} ${start.shape}.`);
  assert.equal(rationaleSentences(byCell.scene).slice(1), rationaleSentences(byObject.scene).slice(1));
  throwsUserError(() => resolveSynthOptions({ startBy: 'colour' as never }), /--start-by must be object or cell/);
  // Written and read back: every record agrees with its scene (the check `ivt data check` makes).
  const dir = join(tempDir('synth-cell'), 'd');
  await writeSynthDataset(dir, { ...small, seed: 2, startBy: 'cell' });
  const examples = withScenes(loadScienceQA(dir).records, readScenes(dir))!;
  assert.is(examples.length, 44);
  assert.equal(inconsistentRecords(examples), []);
  assert.ok(examples.every((e) => e.scene.startBy === 'cell' && e.record.question.startsWith('Start at cell ')));
});

test('cell-first wording: each step starts with the cell it reaches; needs start by cell', async () => {
  const o = resolveSynthOptions({ seed: 3, startBy: 'cell', wording: 'cell-first', queries: ['colour'] });
  const p = generateProblem(o, 'train', 5);
  const classic = generateProblem(resolveSynthOptions({ seed: 3, startBy: 'cell', queries: ['colour'] }), 'train', 5);
  assert.is(p.scene.wording, 'cell-first');
  assert.not.ok('wording' in classic.scene, 'a classic scene gained a field');
  const cells = pathCells(p.scene);
  const sentences = rationaleSentences(p.scene);
  assert.is(sentences.length, cells.length);
  cells.forEach(([r, c], i) => {
    const obj = objectAt(p.scene, r, c)!;
    assert.is(sentences[i], `${cellName(4, r, c)} ${obj.colour} ${obj.shape} is ${i === 0 ? 'the start' : `one cell ${p.scene.moves[i - 1]}`}.`);
  });
  const [lr, lc] = cells[cells.length - 1]!;
  assert.is(p.choices[p.answerIndex], objectAt(p.scene, lr, lc)!.colour);
  throwsUserError(() => resolveSynthOptions({ wording: 'cell-first' }), /--wording cell-first needs --start-by cell/);
  throwsUserError(() => resolveSynthOptions({ startBy: 'cell', wording: 'terse' as never }), /--wording must be classic, cell-first or cell-value/);
  // Written and read back: every record agrees with its scene.
  const dir = join(tempDir('synth-cell-first'), 'd');
  await writeSynthDataset(dir, { ...small, seed: 2, startBy: 'cell', wording: 'cell-first' });
  const examples = withScenes(loadScienceQA(dir).records, readScenes(dir))!;
  assert.equal(inconsistentRecords(examples), []);
  assert.ok(examples.every((e) => e.scene.wording === 'cell-first' && e.record.steps[0] === rationaleSentences(e.scene)[0]));
});

test('cell-value wording: a cell-first step per move, then the asked value first; same scenes and step count', async () => {
  for (const query of ['colour', 'shape', 'count'] as const) {
    const o = resolveSynthOptions({ seed: 3, startBy: 'cell', wording: 'cell-value', queries: [query] });
    const p = generateProblem(o, 'train', 5);
    const first = generateProblem(resolveSynthOptions({ seed: 3, startBy: 'cell', wording: 'cell-first', queries: [query] }), 'train', 5);
    assert.equal({ ...p.scene, wording: undefined }, { ...first.scene, wording: undefined });
    assert.is(p.scene.wording, 'cell-value');
    const cells = pathCells(p.scene);
    const sentences = rationaleSentences(p.scene);
    assert.is(sentences.length, rationaleSentences(first.scene).length, `${query}: step count`);
    cells.slice(1).forEach(([r, c], i) => {
      const obj = objectAt(p.scene, r, c)!;
      assert.is(sentences[i], `${cellName(4, r, c)} ${obj.colour} ${obj.shape} is one cell ${p.scene.moves[i]}.`);
    });
    const [lr, lc] = cells[cells.length - 1]!;
    const last = objectAt(p.scene, lr, lc)!;
    const rest = sentences.slice(cells.length - 1);
    if (query === 'shape') assert.equal(rest, [`${last.shape} is the shape.`]);
    else if (query === 'colour') assert.equal(rest, [`${last.colour} is the colour.`]);
    else assert.equal(rest, [`${last.colour} is the colour.`, `${p.choices[p.answerIndex]} is the number of ${last.colour} objects.`]);
  }
  throwsUserError(() => resolveSynthOptions({ wording: 'cell-value' }), /--wording cell-value needs --start-by cell/);
  const dir = join(tempDir('synth-cell-value'), 'd');
  await writeSynthDataset(dir, { ...small, seed: 2, startBy: 'cell', wording: 'cell-value' });
  const examples = withScenes(loadScienceQA(dir).records, readScenes(dir))!;
  assert.equal(inconsistentRecords(examples), []);
  assert.ok(examples.every((e) => e.scene.wording === 'cell-value' && e.record.steps.join(' ') === rationaleSentences(e.scene).join(' ')));
});

test('datasets of one chain length are the ones generated before lengths could mix (the demo\'s figures rest on them)', () => {
  const sha = (o: Parameters<typeof resolveSynthOptions>[0]) => createHash('sha256').update(JSON.stringify(generateSplit(resolveSynthOptions(o), 'train', 60))).digest('hex');
  // Digests of the first 60 training problems as generated at 03426a5, before --min-steps.
  assert.is(sha({ seed: 1, startBy: 'cell', queries: ['colour'], wording: 'cell-value' }), '6e0985417e1058f88f52e4ea2c411ca095446fa92112c6eb2169abd808c8a8d5');
  assert.is(sha({ seed: 1 }), 'a6c2e3af872e4e02fb3490e18584f0b9db3e9962bb3eb553c1f88c17962a1188');
});

test('mixed chain lengths: every length and, within it, every answer equally often; a chain without moves reads the named cell', async () => {
  const o = resolveSynthOptions({ seed: 4, startBy: 'cell', wording: 'cell-value', queries: ['colour', 'shape'], minSteps: 1 });
  assert.is(o.minSteps, 1);
  assert.is(resolveSynthOptions({ steps: 4 }).minSteps, 4, 'default: every problem has --steps steps');
  const problems = generateSplit(o, 'train', 480);
  const perLength = new Map<number, Map<string, number>>();
  for (const p of problems) {
    const s = p.scene;
    const steps = rationaleSentences(s);
    assert.is(steps.length, s.moves.length + 1, 'a step per move, then the value');
    assert.is(s.objects.length, o.objects);
    const start = objectAt(s, s.start[0], s.start[1])!;
    assert.is(s.objects.filter((x) => x.colour === start.colour && x.shape === start.shape).length, 1, 'start unique');
    for (const c of COLOURS) assert.ok(s.objects.some((x) => x.colour === c));
    for (const sh of SHAPES) assert.ok(s.objects.some((x) => x.shape === sh));
    assert.is(p.choices[p.answerIndex], solveScene(s));
    assert.is(sceneProblem(s), null);
    if (s.moves.length === 0) {
      assert.is(p.question, `Start at cell ${cellName(4, s.start[0], s.start[1])}. What ${s.query} is the object there?`);
      assert.equal(steps, [`${s.query === 'colour' ? start.colour : start.shape} is the ${s.query}.`]);
    } else assert.ok(/ Move (left|right|up|down)(, then (left|right|up|down))*\. What /.test(p.question), p.question);
    const key = `${s.query}:${p.choices[p.answerIndex]}`;
    const m = perLength.get(steps.length) ?? new Map<string, number>();
    m.set(key, (m.get(key) ?? 0) + 1);
    perLength.set(steps.length, m);
  }
  assert.equal([...perLength.keys()].sort(), [1, 2, 3]);
  // 480 = 3 lengths x 2 kinds x 4 values x 20: balanced blocks give each exactly 20.
  for (const m of perLength.values()) {
    assert.is(m.size, 8);
    for (const n of m.values()) assert.is(n, 20);
  }
  // Starting at an object, a chain needs a move (the question would name the answer's object).
  throwsUserError(() => resolveSynthOptions({ minSteps: 1, queries: ['colour'] }), '--min-steps 1 leaves a colour question 0 moves', '--min-steps 2');
  throwsUserError(() => resolveSynthOptions({ startBy: 'cell', minSteps: 1 }), 'count question -1 moves');
  throwsUserError(() => resolveSynthOptions({ minSteps: 4 }), '--min-steps', '[1, 3]');
  // Starting at an object, 2-3 steps: one or two moves, the start object unique, every length balanced.
  const byObject = generateSplit(resolveSynthOptions({ seed: 5, queries: ['colour', 'shape'], minSteps: 2 }), 'train', 160);
  const moves = new Map<number, number>();
  for (const p of byObject) {
    assert.is(sceneProblem(p.scene), null);
    assert.is(p.choices[p.answerIndex], solveScene(p.scene));
    assert.is(rationaleSentences(p.scene).length, p.scene.moves.length + 1);
    assert.ok(p.question.startsWith('Start at the '), p.question);
    moves.set(p.scene.moves.length, (moves.get(p.scene.moves.length) ?? 0) + 1);
  }
  assert.equal([...moves.entries()].sort(), [[1, 80], [2, 80]]);
  const zero = problems.find((p) => p.scene.moves.length === 0)!;
  assert.match(sceneProblem({ ...zero.scene, startBy: undefined, wording: undefined }) ?? '', /needs at least one move/);
  // Written and read back: records agree with their scenes; the loader keeps each length's steps.
  const dir = join(tempDir('synth-mixed'), 'd');
  await writeSynthDataset(dir, { ...small, seed: 2, startBy: 'cell', wording: 'cell-value', queries: ['colour'], minSteps: 1 });
  const examples = withScenes(loadScienceQA(dir).records, readScenes(dir))!;
  assert.equal(inconsistentRecords(examples), []);
  assert.equal(new Set(examples.map((e) => e.record.steps.length)), new Set([1, 2, 3]));
  assert.is(JSON.parse(readFileSync(join(dir, 'synth.json'), 'utf8')).minSteps, 1);
});

test.run();
