// Top-k selection with exclusion across steps, ties, and the gather of the chosen rows.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as E from '../../engine/index.js';
import { randint, randn, checkOp, setup } from '../helpers.js';
import * as ref from '../ref.js';

test.before(setup);

function cpuTopK(scores: Int32Array, chosen: Uint8Array, B: number, J: number, k: number): number[] {
  const out: number[] = [];
  for (let b = 0; b < B; b++) {
    const cand = [...Array(J).keys()].filter((j) => !chosen[b * J + j]);
    cand.sort((x, y) => scores[b * J + y] - scores[b * J + x] || x - y);
    for (const j of cand.slice(0, k)) {
      out.push(b * J + j);
      chosen[b * J + j] = 1;
    }
  }
  return out;
}

test('three selection steps: best first, ties to the lower index, no repeats across steps', async () => {
  const B = 3, J = 37, k = 5;
  const scores = randint(B * J, 6); // few distinct values: many ties
  const chosenCpu = new Uint8Array(B * J);
  const S = E.fromArray(scores, [B, J], 'i32');
  const C = E.fromArray(new Uint32Array(B * J), [B, J], 'u32');
  for (let step = 0; step < 3; step++) {
    const sel = E.selectTopK(S, C, k, step * k);
    const got = Array.from(await sel.toArray());
    assert.equal(got, cpuTopK(scores, chosenCpu, B, J, k), `step ${step}`);
    sel.dispose();
  }
  assert.equal(Array.from(await C.toArray()), Array.from(chosenCpu));
  assert.throws(() => E.selectTopK(S, C, 30, 15), /already chosen/);
  S.dispose();
  C.dispose();
});

test('gathering the selected image embeddings is differentiable', async () => {
  const B = 2, J = 9, D = 7, k = 3;
  const scores = Int32Array.from(randn(B * J), (x) => Math.round(x * 1000));
  const S = E.fromArray(scores, [B, J], 'i32');
  const C = E.fromArray(new Uint32Array(B * J), [B, J], 'u32');
  const sel = E.selectTopK(S, C, k, 0);
  const idx = Array.from(await sel.toArray());
  await checkOp('gather selected', {
    inputs: [{ shape: [B * J, D] }],
    gpu: ([emb]) => E.gatherRows(emb, E.reshape(sel, [B * k])),
    ref: ([emb]) => ref.gatherRows(emb, D, idx),
  });
  for (const t of [S, C, sel]) t.dispose();
});

test.run();
