// `diagnose`: every supervised token is counted once, in the group its context says; an
// untrained model sits near chance on the image lookups.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { generateSplit, toProblemRecord } from '../../train/data/synth/generate.js';
import { resolveSynthOptions } from '../../train/data/synth/spec.js';
import { cellName, cellWords, pathCells } from '../../train/data/synth/scene.js';
import { buildTokenizer, trainingTexts } from '../../train/tokenizer.js';
import { toSamples } from '../../train/samples.js';
import { chainTokens, diagnose, imageDependentShare, inputNorms, probeImageTokens, tallyVisionFocus, visionFocus, visionFocusLines, visionFocusMarkdown, withNextPicture } from '../../train/diagnose.js';
import { generate } from '../../model/generate.js';
import { KvCache } from '../../model/kv_cache.js';
import { FULL_LATENT, IvtModel, concatPatches } from '../../model/ivt.js';
import * as E from '../../engine/index.js';
import { preset } from '../../model/config.js';
import { setup } from '../helpers.js';

test.before(setup);

/** n synthetic problems (no images rendered: blank patches), their tokenizer, config and samples. */
async function synthetic(seed: number, n: number, startBy: 'object' | 'cell' = 'object', wording: 'classic' | 'cell-first' | 'cell-value' = 'classic') {
  const problems = generateSplit(resolveSynthOptions({ seed, startBy, wording }), 'train', n);
  const recs = problems.map((p) => toProblemRecord(p));
  const tok = buildTokenizer(trainingTexts(recs));
  const cfg = preset('tiny', tok.vocabSize);
  return { problems, recs, tok, cfg, samples: await toSamples(recs, tok, cfg) };
}

test('diagnose groups every supervised token of synthetic rationales', async () => {
  const { problems, tok, cfg, samples } = await synthetic(11, 12);
  const model = new IvtModel(cfg, tok.pad);
  const groups = await diagnose(model, samples, tok, { batch: 5, synthetic: true });
  const names = groups.map((g) => g.group);
  for (const want of ['start object (copied from the question)', 'start cell (image lookup)', 'move (copied from the question)', 'cell after a move (arithmetic)', 'object at a cell (image lookup)', 'answer letter (colour question)', 'answer letter (shape question)', 'answer letter (count question)', 'template words']) {
    assert.ok(names.includes(want), `missing group "${want}" in ${names.join(', ')}`);
  }
  const total = groups.reduce((a, g) => a + g.total, 0);
  assert.is(total, samples.reduce((a, s) => a + s.steps.flat().length + s.answer.length, 0));
  for (const g of groups) assert.ok(g.accuracy >= 0 && g.accuracy <= 1 && g.accuracyOtherImage >= 0 && g.accuracyOtherImage <= 1 && g.correct <= g.total);
  // One start-cell name per problem, one answer letter per problem; colour and shape at every
  // cell reached by a move (counted where the cell's name is one token of this small vocabulary).
  const oneToken = (r: number, c: number) => tok.encode(' ' + cellName(4, r, c)).length === 1;
  const starts = problems.filter((p) => oneToken(p.scene.start[0], p.scene.start[1])).length;
  const reached = problems.flatMap((p) => pathCells(p.scene).slice(1)).filter(([r, c]) => oneToken(r, c)).length;
  assert.ok(starts >= 6 && reached >= 12, 'too few one-token cell names to test');
  assert.is(groups.find((g) => g.group === 'start cell (image lookup)')!.total, starts);
  assert.is(groups.find((g) => g.group === 'object at a cell (image lookup)')!.total, 2 * reached);
  assert.is(groups.find((g) => g.group === 'cell after a move (arithmetic)')!.total, reached);
  // One answer letter per problem, scored by what the question asks.
  for (const kind of ['colour', 'shape', 'count']) {
    assert.is(groups.find((g) => g.group === `answer letter (${kind} question)`)!.total, problems.filter((p) => p.scene.query === kind).length);
  }
  const generic = await diagnose(model, samples, tok, { batch: 5, synthetic: false });
  assert.equal(generic.map((g) => g.group), ['answer line', 'step 1', 'step 2', 'step 3']);
  // The probe: one row per image token of every picture whose grid matches the model's.
  const probe = await probeImageTokens(model, samples, problems.map((p) => p.scene));
  assert.ok(probe, 'probe returned nothing');
  assert.is(probe!.tokens, 12 * model.J);
  for (const v of [probe!.colour, probe!.shape]) assert.ok(v >= 0 && v <= 1);
  model.ps.dispose();
});

test('start by cell: the start cell is copied from the question, and its object is an image lookup', async () => {
  const { problems, tok, cfg, samples } = await synthetic(11, 12, 'cell');
  const model = new IvtModel(cfg, tok.pad);
  const groups = await diagnose(model, samples, tok, { batch: 6, synthetic: true });
  const names = groups.map((g) => g.group);
  assert.ok(names.includes('start cell (copied from the question)'), names.join(', '));
  assert.not.ok(names.includes('start cell (image lookup)') || names.includes('start object (copied from the question)'), names.join(', '));
  const oneToken = (r: number, c: number) => tok.encode(' ' + cellName(4, r, c)).length === 1;
  const cells = problems.flatMap((p) => pathCells(p.scene)).filter(([r, c]) => oneToken(r, c)).length;
  // Colour and shape at every cell of the path, the start included.
  assert.is(groups.find((g) => g.group === 'object at a cell (image lookup)')!.total, 2 * cells);
  model.ps.dispose();
});

/**
 * Diagnoses the first `take` of 300 start-by-cell problems in `wording` with an untrained
 * model (vocabulary from all 300, so every cell name is one token): the problems, samples,
 * tokenizer, the groups' totals by name and the model (the caller disposes its parameters).
 */
async function diagnoseWording(wording: 'cell-first' | 'cell-value', take: number, batch: number, mixed: { queries: ['colour'], minSteps: number } | object = {}) {
  const all = generateSplit(resolveSynthOptions({ seed: 13, startBy: 'cell', wording, ...mixed }), 'train', 300);
  const tok = buildTokenizer(trainingTexts(all.map((p) => toProblemRecord(p))));
  const cfg = preset('tiny', tok.vocabSize);
  const problems = all.slice(0, take);
  const samples = await toSamples(problems.map((p) => toProblemRecord(p)), tok, cfg);
  const model = new IvtModel(cfg, tok.pad);
  const groups = await diagnose(model, samples, tok, { batch, synthetic: true });
  const count = (name: string) => groups.find((g) => g.group === name)?.total ?? 0;
  return { problems, samples, tok, groups, count, model };
}

test('cell-first wording: each step\'s first token is its cell (copied, then arithmetic), then the object (image), then the move', async () => {
  const { problems, samples, tok, groups, count, model } = await diagnoseWording('cell-first', 12, 6);
  const oneToken = (r: number, c: number) => tok.encode(' ' + cellName(4, r, c)).length === 1;
  assert.ok(problems.every((p) => pathCells(p.scene).every(([r, c]) => oneToken(r, c))), 'a cell name is not one token');
  const moves = problems.reduce((a, p) => a + p.scene.moves.length, 0);
  assert.is(count('start cell (copied from the question)'), problems.length);
  assert.is(count('cell after a move (arithmetic)'), moves);
  assert.is(count('move (copied from the question)'), moves);
  assert.is(count('object at a cell (image lookup)'), 2 * (problems.length + moves));
  assert.is(groups.reduce((a, g) => a + g.total, 0), samples.reduce((a, s) => a + s.steps.flat().length + s.answer.length, 0));
  // The step's first token is the cell's own token, the one the question uses.
  samples.forEach((s, i) => {
    const [r, c] = problems[i]!.scene.start;
    assert.is(s.steps[0]![0], tok.encode(' ' + cellName(4, r, c))[0], 'first token of step 1');
  });
  model.ps.dispose();
});

test('cell-value wording: each move\'s cell (arithmetic) and object (image), then the asked value (copied) and, for counts, the count', async () => {
  const { problems, samples, groups, count, model } = await diagnoseWording('cell-value', 15, 8);
  const moves = problems.reduce((a, p) => a + p.scene.moves.length, 0);
  const counts = problems.filter((p) => p.scene.query === 'count').length;
  assert.ok(counts > 0 && counts < problems.length, 'want count and other questions');
  assert.is(count('start cell (copied from the question)'), 0);
  assert.is(count('cell after a move (arithmetic)'), moves);
  assert.is(count('move (copied from the question)'), moves);
  assert.is(count('object at a cell (image lookup)'), 2 * moves);
  assert.is(count('asked value (copied from the step before)'), problems.length);
  assert.is(count('colour count (image)'), counts);
  assert.is(groups.reduce((a, g) => a + g.total, 0), samples.reduce((a, s) => a + s.steps.flat().length + s.answer.length, 0));
  model.ps.dispose();
});

test('cell-value wording, chains of 1-3 steps: a chain without moves reads its value at the named cell', async () => {
  const { problems, groups, samples, count, model } = await diagnoseWording('cell-value', 15, 8, { queries: ['colour'], minSteps: 1 });
  const moves = problems.reduce((a, p) => a + p.scene.moves.length, 0);
  const still = problems.filter((p) => p.scene.moves.length === 0).length;
  assert.ok(still > 0 && still < problems.length, 'want chains with and without moves');
  assert.is(count('value at the start cell (image lookup)'), still);
  assert.is(count('asked value (copied from the step before)'), problems.length - still);
  assert.is(count('cell after a move (arithmetic)'), moves);
  assert.is(count('object at a cell (image lookup)'), 2 * moves);
  assert.is(groups.reduce((a, g) => a + g.total, 0), samples.reduce((a, s) => a + s.steps.flat().length + s.answer.length, 0));
  model.ps.dispose();
});

test('image dependence: another picture changes nothing when all pictures are the same, and the share is 0', async () => {
  const { tok, cfg, samples: own } = await synthetic(12, 6);
  // Random patches per problem (the loader's images are not rendered here).
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1;
  const varied = own.map((s) => ({ ...s, patches: Float32Array.from(s.patches, () => rnd()) }));
  const same = varied.map((s) => ({ ...s, patches: varied[0]!.patches }));
  const model = new IvtModel(cfg, tok.pad);
  assert.is(await imageDependentShare(model, same), 0);
  const share = await imageDependentShare(model, varied);
  assert.ok(share > 0.01 && share < 1, `share of random pictures ${share}`);
  for (const g of await diagnose(model, same, tok, { batch: 4, synthetic: true })) assert.is(g.accuracyOtherImage, g.accuracy, g.group);
  // The other-picture pass shows problem i the picture of problem i + 1, text unchanged.
  const next = withNextPicture(varied);
  next.forEach((s, i) => {
    assert.ok(s.patches === varied[(i + 1) % varied.length]!.patches && s.prompt === varied[i]!.prompt && s.steps === varied[i]!.steps);
  });
  model.ps.dispose();
});

test('input norms: token embeddings and image tokens as read back, each recycled state before and after its learned scale', async () => {
  const { tok, cfg, samples } = await synthetic(14, 7, 'cell', 'cell-value');
  const model = new IvtModel(cfg, tok.pad);
  const D = cfg.dim;
  E.rt().upload(model.latentScale.storage.buffer, model.latentScale.byteOffset, new Float32Array(D).fill(0.5));
  const got = await inputNorms(model, samples, 2);
  const norm = (a: Float32Array, r: number) => Math.sqrt(a.subarray(r * D, (r + 1) * D).reduce((x, v) => x + v * v, 0));
  const close = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) <= 1e-5 * Math.abs(b), `${what}: ${a} vs ${b}`);
  const wte = (await model.wte.toArray()) as Float32Array;
  const tokens = samples.flatMap((s) => s.prompt);
  close(got.token, tokens.reduce((x, t) => x + norm(wte, t), 0) / tokens.length, 'token embeddings');
  const img = E.noGrad(() => E.tidy(() => E.keep(model.vision.forward(concatPatches(samples), samples.length))));
  const ia = (await img.toArray()) as Float32Array;
  img.dispose();
  const rows = ia.length / D;
  close(got.image, Array.from({ length: rows }, (_, r) => norm(ia, r)).reduce((x, v) => x + v, 0) / rows, 'image tokens');
  assert.is(got.steps.length, 2);
  for (const [i, st] of got.steps.entries()) {
    // After the final layer norm at its initial gain 1 and bias 0, every row has norm sqrt(D).
    assert.ok(Math.abs(st.hidden - Math.sqrt(D)) < 1e-3 * Math.sqrt(D), `step ${i + 1} hidden ${st.hidden}`);
    close(st.input, 0.5 * st.hidden, `step ${i + 1} latent input`);
  }
  model.ps.dispose();
});

test('vision focus tally: attention shares on the chain cells, and the cells inserted so far, over the problems whose chain has them', () => {
  // Problem 0: chain 5 -> 6 -> 10; problem 1: chain 3 -> 7 (one move); problem 2: chain 0 -> 1 -> 2.
  const chains = [[5, 6, 10], [3, 7], [0, 1, 2]];
  const row = (mass: Record<number, number>) => Array.from({ length: 16 }, (_, j) => mass[j] ?? 0);
  const scores = [
    [row({ 5: 2, 9: 1, 0: 1 }), row({ 3: 1, 7: 3 }), row({ 15: 1 })],
    [row({ 10: 1, 6: 1 }), row({}), row({ 2: 3, 3: 1 })], // problem 1 attends to no image token: share 0
  ];
  const selections = [
    [[5, 9], [7, 3], [15, 14]],
    [[10, 6], [0, 1], [2, 3]],
  ];
  const f = tallyVisionFocus(scores, selections, chains, 2, 16);
  assert.equal(f.cells, ['start', 'after move 1', 'after move 2']);
  assert.equal(f.counts, [3, 3, 2]);
  assert.equal(f.attention, [[(0.5 + 0.25) / 3, 0.75 / 3, 0], [0, 0.5 / 3, (0.5 + 0.75) / 2]]);
  // Inserted counts earlier steps: by step 2 problem 0's whole chain is in, problem 2's last cell only.
  assert.equal(f.inserted, [[2 / 3, 1 / 3, 0], [2 / 3, 2 / 3, 1]]);
  // The asked cell is each chain's own last: 10, 7 and 2.
  assert.equal(f.asked, { attention: [(0 + 0.75 + 0) / 3, (0.5 + 0 + 0.75) / 3], inserted: [1 / 3, 1] });
  const lines = visionFocusLines(f);
  assert.match(lines[0]!, /16 image tokens.*spread evenly: 6\.3%/);
  // Chains of different lengths: the tables add the asked cell after the chain's cells.
  assert.match(lines[1]!, /start\s+after move 1\s+after move 2\s+asked cell/);
  assert.match(lines[3]!, /latent step 2\s+0\.0%\s+16\.7%\s+62\.5%\s+41\.7%/);
  assert.match(lines[4]!, /top-2 a step.*random: 12\.5%, 25\.0%/);
  const md = visionFocusMarkdown(f);
  assert.equal(md.slice(2, 4), ['| latent step 1 | 25.0% | 25.0% | 0.0% | 25.0% |', '| latent step 2 | 0.0% | 16.7% | 62.5% | 41.7% |']);
  assert.equal(md.slice(5), ['| inserted by then | start | after move 1 | after move 2 | asked cell |', '|---|---|---|---|---|', '| latent step 1 | 66.7% | 33.3% | 0.0% | 33.3% |', '| latent step 2 | 66.7% | 66.7% | 100.0% | 100.0% |']);
  // Chains of one length: the last cell is the asked one, and no extra column.
  const even = tallyVisionFocus(scores.map((st) => [st[0]!, st[2]!]), selections.map((st) => [st[0]!, st[2]!]), [chains[0]!, chains[2]!], 2, 16);
  assert.equal(even.asked, { attention: even.attention.map((r) => r[2]), inserted: even.inserted.map((r) => r[2]) });
  assert.is(visionFocusMarkdown(even)[0], '| attention share | start | after move 1 | after move 2 |');
});

test('chain tokens: the image tokens whose cell names are the chain\'s, and none where the patch grid is not the scene grid', () => {
  for (const p of generateSplit(resolveSynthOptions({ seed: 3, startBy: 'cell', wording: 'cell-value' }), 'train', 5)) {
    // The alignment objective's words for each image token start with its cell's name.
    const names = cellWords(p.scene).map((w) => w[0]);
    assert.equal(chainTokens(p.scene, 4)!.map((j) => names[j]), pathCells(p.scene).map(([r, c]) => cellName(4, r, c)));
    assert.is(chainTokens(p.scene, 8), null);
  }
});

test('vision focus: the latent prefix\'s scores and selections, as generation reports them, across batches of 32', async () => {
  const { problems, tok, cfg, samples } = await synthetic(15, 37, 'cell', 'cell-value');
  const model = new IvtModel(cfg, tok.pad);
  const got = await visionFocus(model, samples, problems.map((p) => p.scene), 3);
  assert.ok(got);
  // Inserted cells: the selections generation reports (the same latent prefix).
  const g = await generate(model, samples, { latentSteps: 3, latent: FULL_LATENT, maxNewTokens: 1, eos: tok.eos, withSelections: true });
  const chains = problems.map((p) => chainTokens(p.scene, 4)!);
  assert.equal(got!.inserted, tallyVisionFocus(g.selections.map((step) => step.map(() => new Array(16).fill(1))), g.selections, chains, cfg.topK, model.J).inserted);
  for (const row of got!.attention) for (const x of row) assert.ok(x > 0 && x < 1, `attention share ${x}`);
  // The scores are the selection's: step 1 excludes nothing, so it takes the k highest scores.
  const cache = new KvCache(cfg.layers, 'buffer', 5, cfg.dim, 200);
  await E.noGradAsync(() => E.tidyAsync(async () => {
    const p = model.latentPrefix(samples.slice(0, 5), 3, FULL_LATENT, cache);
    assert.is(p.scores.length, 3);
    // Each step's selection is the k best of its own scores among the tokens no earlier step took.
    const taken: Set<number>[] = Array.from({ length: 5 }, () => new Set());
    for (let step = 0; step < 3; step++) {
      const sc = await p.scores[step]!.toArray(), sel = await p.selections[step]!.toArray();
      for (let b = 0; b < 5; b++) {
        const row = Array.from(sc.slice(b * 16, (b + 1) * 16));
        const picked = Array.from(sel.slice(b * cfg.topK, (b + 1) * cfg.topK), (x) => x - b * 16);
        const best = row.map((v, j) => [v, j] as const).filter(([, j]) => !taken[b]!.has(j)).sort((x, y) => y[0] - x[0] || x[1] - y[1]).slice(0, cfg.topK).map(([, j]) => j);
        assert.equal(picked, best, `step ${step + 1}, problem ${b}`);
        for (const j of picked) taken[b]!.add(j);
      }
    }
    // The steps' scores are their own: later positions attend otherwise than the prompt's last.
    assert.not.equal(Array.from(await p.scores[0]!.toArray()), Array.from(await p.scores[1]!.toArray()));
  }));
  cache.dispose();
  // The latent mode without latent vision selects nothing.
  assert.is(await visionFocus(model, samples, problems.map((p) => p.scene), 3, { ...FULL_LATENT, latentVision: false }), null);
  model.ps.dispose();
});

test.run();
