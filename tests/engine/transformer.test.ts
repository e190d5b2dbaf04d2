// End to end: a tiny transformer learns to reverse sequences, reaching near-zero loss.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { trainToy } from '../../train/toy.js';
import { setup } from '../helpers.js';

test.before(setup);

test('a tiny transformer overfits sequence reversal to near-zero loss', async () => {
  const r = await trainToy({
    symbols: 6, length: 5, batch: 16, steps: 300, lr: 3e-3, seed: 3, logEvery: 50,
    model: { dim: 32, heads: 2, layers: 2, seed: 5 },
  });
  const first = r.losses[0].loss, last = r.losses[r.losses.length - 1].loss;
  assert.ok(first > 1.0, `initial loss ${first} should be near ln(7)`);
  assert.ok(last < 0.05, `final loss ${last} is not near zero (losses ${JSON.stringify(r.losses)})`);
  assert.ok(r.accuracy > 0.98, `reversal accuracy ${r.accuracy}`);
});

test.run();
