// Epoch batching: batches of one sample kind each (problems apart from captions), every sample
// once per epoch, the same batches for the same (seed, stage, epoch), others for another epoch.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { batchesPerEpochOf, epochBatches, epochOrder } from '../../train/trainer.js';

const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);

test('two groups: each batch holds one kind; every index once; count as batchesPerEpochOf says', () => {
  const groups = [range(0, 37), range(37, 23)];
  const b = epochBatches(groups, 8, 3, 0, 1);
  assert.is(b.length, batchesPerEpochOf([37, 23], 8));
  assert.is(b.length, 5 + 3);
  for (const batch of b) {
    const kinds = new Set(batch.map((i) => (i < 37 ? 'problem' : 'caption')));
    assert.is(kinds.size, 1, `mixed batch ${batch}`);
  }
  assert.equal(b.flat().sort((x, y) => x - y), range(0, 60));
  // The kinds are interleaved, not all problems first.
  const firstCaption = b.findIndex((batch) => batch[0]! >= 37);
  assert.ok(firstCaption >= 0 && b.slice(firstCaption).some((batch) => batch[0]! < 37), 'batches of the two kinds are not shuffled together');
});

test('deterministic per (seed, stage, epoch); one group is the shuffled order cut into batches', () => {
  const groups = [range(0, 30), range(30, 10)];
  assert.equal(epochBatches(groups, 4, 5, 0, 2), epochBatches(groups, 4, 5, 0, 2));
  assert.not.equal(epochBatches(groups, 4, 5, 0, 2), epochBatches(groups, 4, 5, 0, 3));
  const one = epochBatches([range(0, 30)], 4, 5, 1, 0);
  const order = epochOrder(30, 5, 1, 0);
  assert.equal(one, range(0, 8).map((i) => order.slice(4 * i, 4 * i + 4)));
});

test.run();
