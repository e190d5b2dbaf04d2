// `diagnose`: every supervised token is counted once, in the group its context says; an
// untrained model sits near chance on the image lookups.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { generateSplit, toProblemRecord } from '../../train/data/synth/generate.js';
import { resolveSynthOptions } from '../../train/data/synth/spec.js';
import { buildTokenizer, trainingTexts } from '../../train/tokenizer.js';
import { toSamples } from '../../train/samples.js';
import { diagnose, probeImageTokens } from '../../train/diagnose.js';
import { IvtModel } from '../../model/ivt.js';
import { preset } from '../../model/config.js';
import { setup } from '../helpers.js';

test.before(setup);

test('diagnose groups every supervised token of synthetic rationales', async () => {
  const problems = generateSplit(resolveSynthOptions({ seed: 11 }), 'train', 12);
  const recs = problems.map((p) => toProblemRecord(p));
  const tok = buildTokenizer(trainingTexts(recs));
  const cfg = preset('tiny', tok.vocabSize);
  const samples = await toSamples(recs, tok, cfg);
  const model = new IvtModel(cfg, tok.pad);
  const groups = await diagnose(model, samples, tok, { batch: 5, synthetic: true });
  const names = groups.map((g) => g.group);
  for (const want of ['start object (copied from the question)', 'start cell (image lookup)', 'move (copied from the question)', 'cell after a move (arithmetic)', 'object at a cell (image lookup)', 'answer letter', 'template words']) {
    assert.ok(names.includes(want), `missing group "${want}" in ${names.join(', ')}`);
  }
  const total = groups.reduce((a, g) => a + g.total, 0);
  assert.is(total, samples.reduce((a, s) => a + s.steps.flat().length + s.answer.length, 0));
  for (const g of groups) assert.ok(g.accuracy >= 0 && g.accuracy <= 1 && g.correct <= g.total);
  // Two start-cell digits per problem, one answer letter per problem.
  assert.is(groups.find((g) => g.group === 'start cell (image lookup)')!.total, 2 * recs.length);
  assert.is(groups.find((g) => g.group === 'answer letter')!.total, recs.length);
  const generic = await diagnose(model, samples, tok, { batch: 5, synthetic: false });
  assert.equal(generic.map((g) => g.group), ['answer line', 'step 1', 'step 2', 'step 3']);
  // The probe: one row per image token of every picture whose grid matches the model's.
  const probe = await probeImageTokens(model, samples, problems.map((p) => p.scene));
  assert.ok(probe, 'probe returned nothing');
  assert.is(probe!.tokens, 12 * model.J);
  for (const v of [probe!.colour, probe!.shape]) assert.ok(v >= 0 && v <= 1);
  model.ps.dispose();
});

test.run();
