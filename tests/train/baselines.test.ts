// The evidence that the synthetic problems need the image AND the steps: honest shortcut
// rules, fitted on a training split and scored on a test split, stay near chance (25%),
// while the oracle that follows every step scores 100%. Negative controls show the rules
// are not toothless: on deliberately leaky data they find the leak.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveSynthOptions } from '../../train/data/synth/spec.js';
import { generateSplit, toProblemRecord, type SynthProblem } from '../../train/data/synth/generate.js';
import { textOnlyBaselines } from '../../train/data/baselines.js';
import { lookupBaselines, type Example } from '../../train/data/synth/lookups.js';
import { judgeStats } from '../../train/data/check.js';
import { datasetStats } from '../../train/data/stats.js';
import { objectAt, type Scene } from '../../train/data/synth/scene.js';

// 4000 training and 2000 test problems: the standard error of an accuracy near 25% on the
// test set is about 1%, so "near chance" below means within 4 standard errors for text rules.
const options = resolveSynthOptions({ seed: 20240601 });
const train = generateSplit(options, 'train', 4000);
const testSet = generateSplit(options, 'test', 2000);
const records = (ps: SynthProblem[]) => ps.map((p) => toProblemRecord(p));
const examples = (ps: SynthProblem[]): Example[] => ps.map((p) => ({ record: toProblemRecord(p), scene: p.scene }));

const TEXT_LIMIT = 0.25 + 0.04;
const LOOKUP_LIMIT = 0.25 + 0.08; // one random cell is the asked-about cell 1 time in ~10

test('every text-only rule is near chance (the image is needed)', () => {
  const results = textOnlyBaselines(records(train), records(testSet));
  assert.ok(results.length >= 6);
  for (const b of results) {
    assert.is(b.chance, 0.25);
    assert.ok(b.accuracy <= TEXT_LIMIT, `${b.name}: ${b.accuracy}`);
    assert.ok(b.accuracy >= 0.25 - 0.05, `${b.name}: ${b.accuracy} (far below chance would itself be a leak)`);
  }
});

test('every single-lookup rule is near chance and the all-steps oracle is perfect (the steps are needed)', () => {
  const results = lookupBaselines(examples(train), examples(testSet));
  const oracle = results.find((b) => b.name === 'oracle-all-steps')!;
  assert.is(oracle.accuracy, 1);
  const rules = results.filter((b) => b !== oracle);
  assert.ok(rules.length >= 8);
  for (const b of rules) assert.ok(b.accuracy <= LOOKUP_LIMIT, `${b.name}: ${b.accuracy}`);
});

test('the same holds for each question kind separately', () => {
  for (const kind of options.queries) {
    const tr = train.filter((p) => p.scene.query === kind);
    const te = testSet.filter((p) => p.scene.query === kind);
    for (const b of textOnlyBaselines(records(tr), records(te))) assert.ok(b.accuracy <= 0.25 + 0.06, `${kind} ${b.name}: ${b.accuracy}`);
    for (const b of lookupBaselines(examples(tr), examples(te))) {
      if (b.name === 'oracle-all-steps') assert.is(b.accuracy, 1);
      else assert.ok(b.accuracy <= 0.25 + 0.1, `${kind} ${b.name}: ${b.accuracy}`);
    }
  }
});

test('judgeStats passes the generated data', () => {
  const all = [...records(train), ...records(testSet)];
  const scenes = new Map<string, Scene>([...train, ...testSet].map((p) => [p.pid, p.scene]));
  const stats = datasetStats({ records: all, report: {} as never }, scenes);
  const verdict = judgeStats(stats);
  assert.equal(verdict.failures, []);
  assert.ok(verdict.ok);
});

test('mixed chain lengths (1-3 steps, start at a cell): every shortcut near chance where it skips a step, judged as passing', () => {
  const mixed = resolveSynthOptions({ seed: 20240602, startBy: 'cell', wording: 'cell-value', queries: ['colour', 'shape'], minSteps: 1 });
  const tr = generateSplit(mixed, 'train', 3000), te = generateSplit(mixed, 'test', 1500);
  const results = lookupBaselines(examples(tr), examples(te));
  const withMoves = te.filter((p) => p.scene.moves.length > 0).length;
  assert.ok(withMoves > 900 && withMoves < 1100, `${withMoves} of 1500 test problems have moves (two lengths in three)`);
  for (const b of results) {
    if (b.name === 'oracle-all-steps') { assert.is(b.accuracy, 1); assert.is(b.n, 1500); continue; }
    // Reading the start object answers every chain without moves: such rules are scored on the rest.
    if (['start-object', 'skip-last-move', 'avoid-start-object'].includes(b.name)) assert.is(b.n, withMoves, b.name);
    else assert.is(b.n, 1500, b.name);
    assert.ok(b.accuracy <= LOOKUP_LIMIT, `${b.name}: ${b.accuracy}`);
  }
  for (const b of textOnlyBaselines(records(tr), records(te))) assert.ok(b.accuracy <= TEXT_LIMIT, `${b.name}: ${b.accuracy}`);
  // Scored on every problem instead, reading the start object would pass for a shortcut.
  const startObject = results.find((b) => b.name === 'start-object')!;
  const startValue = (p: SynthProblem) => {
    const o = objectAt(p.scene, p.scene.start[0], p.scene.start[1])!;
    return p.scene.query === 'colour' ? o.colour : o.shape;
  };
  const onAll = te.filter((p) => p.choices[p.answerIndex] === startValue(p)).length / te.length;
  assert.ok(onAll > startObject.accuracy + 0.2, `start object on all problems ${onAll}, on those with moves ${startObject.accuracy}`);
  const scenes = new Map<string, Scene>([...tr, ...te].map((p) => [p.pid, p.scene]));
  const verdict = judgeStats(datasetStats({ records: [...records(tr), ...records(te)], report: {} as never }, scenes));
  assert.equal(verdict.failures, []);
});

test('negative control: text rules catch an answer leaked into the question text', () => {
  const leak = (ps: SynthProblem[]) => records(ps).map((r) => ({ ...r, question: `${r.question} (${r.choices[r.answerIndex]})` }));
  const results = textOnlyBaselines(leak(train), leak(testSet));
  const best = Math.max(...results.map((b) => b.accuracy));
  assert.ok(best > 0.9, `best text rule on leaky data: ${best}`);
});

test('negative control: lookup rules catch a picture where the answer is simply the most common value', () => {
  // Recolour every object with the target's colour: "most common colour" then answers colour questions.
  const colourOnly = (ps: SynthProblem[]): Example[] => examples(ps.filter((p) => p.scene.query === 'colour')).map((e) => {
    const answer = e.record.choices[e.record.answerIndex]!;
    return { ...e, scene: { ...e.scene, objects: e.scene.objects.map((o) => ({ ...o, colour: answer as never })) } };
  });
  const results = lookupBaselines(colourOnly(train), colourOnly(testSet));
  assert.ok(results.find((b) => b.name === 'most-common')!.accuracy > 0.99);
  const verdict = judgeStats({
    ...datasetStats({ records: records(testSet.slice(0, 8)), report: {} as never }),
    lookupBaselines: results,
  });
  assert.not.ok(verdict.ok);
  assert.ok(verdict.failures.some((f) => f.includes('most-common')));
});

test('negative controls: a train split of one answer letter, and a problem in two splits, fail the check', () => {
  const scenes = new Map<string, Scene>([...train, ...testSet].map((p) => [p.pid, p.scene]));
  const base = datasetStats({ records: [...records(train), ...records(testSet)], report: {} as never }, scenes);
  // All of train answered by A (the test split left balanced, so no baseline scored on it shows the prior).
  const skewed = judgeStats({ ...base, letters: { ...base.letters, train: { A: base.perSplit.train } } });
  assert.ok(skewed.failures.some((f) => f.startsWith('train: answer A in 100.0%')), skewed.failures.join('; '));
  const leaked = judgeStats({ ...base, crossSplitDuplicates: 3 });
  assert.ok(leaked.failures.some((f) => f.includes('3 problems also occur in another split')), leaked.failures.join('; '));
  // On a real dataset (no scenes) the duplicates are reported, not judged.
  const real = judgeStats({ ...datasetStats({ records: records(testSet.slice(0, 8)), report: {} as never }), crossSplitDuplicates: 2 });
  assert.ok(real.notes.some((n) => n.includes('2 problems also occur in another split')));
});

test.run();
