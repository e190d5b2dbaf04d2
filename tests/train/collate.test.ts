// Batch collation: shapes, right and left padding, masks, positions, labels with the ignore
// index, and next-token labels.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { collate, IGNORE_INDEX, nextTokenLabels } from '../../train/data/collate.js';
import { throwsUserError } from './util.js';

const seqs = [[5, 6, 7], [8], [9, 10, 11, 12, 13]];

test('right padding: tokens first, pads after; mask, lengths, positions', () => {
  const b = collate(seqs, { padId: 0, side: 'right' });
  assert.is(b.batchSize, 3);
  assert.is(b.seqLen, 5);
  assert.equal(Array.from(b.ids), [5, 6, 7, 0, 0, 8, 0, 0, 0, 0, 9, 10, 11, 12, 13]);
  assert.equal(Array.from(b.mask), [1, 1, 1, 0, 0, 1, 0, 0, 0, 0, 1, 1, 1, 1, 1]);
  assert.equal(Array.from(b.lengths), [3, 1, 5]);
  assert.equal(Array.from(b.offsets), [0, 0, 0]);
  assert.equal(Array.from(b.positions), [0, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4]);
  assert.is(b.labels, null);
  assert.ok(b.ids instanceof Int32Array && b.mask instanceof Uint8Array);
});

test('left padding: every row ends at the last column; positions start at 0 per row', () => {
  const b = collate(seqs, { padId: 99, side: 'left' });
  assert.equal(Array.from(b.ids), [99, 99, 5, 6, 7, 99, 99, 99, 99, 8, 9, 10, 11, 12, 13]);
  assert.equal(Array.from(b.mask), [0, 0, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1]);
  assert.equal(Array.from(b.offsets), [2, 4, 0]);
  assert.equal(Array.from(b.positions), [0, 0, 0, 1, 2, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4]);
  for (let r = 0; r < 3; r++) assert.is(b.ids[r * 5 + 4], seqs[r]!.at(-1), 'last token in the last column');
});

test('labels are aligned with ids and IGNORE_INDEX at pads (both sides)', () => {
  const labels = [[-1, 6, 7], [8], [-1, -1, 11, 12, 13]];
  const r = collate(seqs, { padId: 0, side: 'right' }, labels);
  assert.equal(Array.from(r.labels!), [-1, 6, 7, -1, -1, 8, -1, -1, -1, -1, -1, -1, 11, 12, 13]);
  const l = collate(seqs, { padId: 0, side: 'left' }, labels);
  assert.equal(Array.from(l.labels!), [-1, -1, -1, 6, 7, -1, -1, -1, -1, 8, -1, -1, 11, 12, 13]);
  assert.is(IGNORE_INDEX, -1);
});

test('minLength and multipleOf grow T; maxLength caps it and rejects long rows', () => {
  assert.is(collate(seqs, { padId: 0, side: 'right', minLength: 8 }).seqLen, 8);
  assert.is(collate(seqs, { padId: 0, side: 'right', multipleOf: 4 }).seqLen, 8);
  assert.is(collate(seqs, { padId: 0, side: 'right', multipleOf: 4, maxLength: 6 }).seqLen, 6);
  throwsUserError(() => collate(seqs, { padId: 0, side: 'right', maxLength: 4 }), '5 tokens', 'context of 4');
  assert.throws(() => collate([], { padId: 0, side: 'right' }));
  assert.throws(() => collate(seqs, { padId: 0, side: 'right' }, [[1]]));
  assert.throws(() => collate([[1, 2]], { padId: 0, side: 'right' }, [[1]]));
});

test('typed-array rows are accepted', () => {
  const b = collate([Int32Array.from([1, 2]), new Int32Array([3])], { padId: 0, side: 'left' });
  assert.equal(Array.from(b.ids), [1, 2, 0, 3]);
});

test('nextTokenLabels supervises exactly the flagged targets, shifted by one', () => {
  const ids = [10, 11, 12, 13, 14];
  const supervised = [false, false, true, true, true]; // prompt = 10, 11; targets = 12, 13, 14
  assert.equal(Array.from(nextTokenLabels(ids, supervised)), [-1, 12, 13, 14, -1]);
  assert.throws(() => nextTokenLabels(ids, [true]));
});

test.run();
