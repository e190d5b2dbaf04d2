// Index division by f32 (shaders/divide.wgsl) in the strided copy and the row-broadcast add:
// exact at the sizes where an f32 estimate is furthest off (large quotients, small divisors,
// just under the 2^24 limit) and on the integer-division fallback above it. Values encode
// their own index, so any misplaced element shows.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as E from '../../engine/index.js';
import { FASTDIV_LIMIT } from '../../engine/ops/util.js';
import { setup } from '../helpers.js';

test.before(setup);

/** x[i] = i (exact in f32 below 2^24); transpose [R, C] -> [C, R] and check every element. */
async function checkTranspose(R: number, C: number): Promise<void> {
  const n = R * C;
  const x = E.fromArray(Float32Array.from({ length: n }, (_, i) => i), [R, C]);
  const y = E.transpose(x);
  const got = (await y.toArray()) as Float32Array;
  let bad = -1;
  for (let c = 0; c < C && bad < 0; c++) for (let r = 0; r < R; r++) if (got[c * R + r] !== r * C + c) { bad = c * R + r; break; }
  assert.is(bad, -1, `transpose [${R}, ${C}]: element ${bad} is ${got[bad]}`);
  x.dispose();
  y.dispose();
}

test('transpose with large quotients and small divisors (f32 index division)', async () => {
  await checkTranspose(1398101, 3);   // quotients up to 1.4M by 3: 4.2M items
  await checkTranspose(4093, 4091);   // just under 2^24 items
  assert.ok(4093 * 4091 < FASTDIV_LIMIT && 1398101 * 3 < FASTDIV_LIMIT);
});

test('above 2^24 items the copy falls back to integer division, still exact', async () => {
  // 2^24 + 12 float32 items: indices beyond 2^24 are not exact in f32, so values are i mod 2^20.
  const R = 4194307, C = 4;
  const n = R * C;
  assert.ok(n >= FASTDIV_LIMIT);
  const x = E.fromArray(Float32Array.from({ length: n }, (_, i) => i % 1048576), [R, C]);
  const y = E.transpose(x);
  const got = (await y.toArray()) as Float32Array;
  let bad = -1;
  for (let c = 0; c < C && bad < 0; c++) for (let r = 0; r < R; r++) if (got[c * R + r] !== (r * C + c) % 1048576) { bad = c * R + r; break; }
  assert.is(bad, -1, `element ${bad}`);
  x.dispose();
  y.dispose();
});

test('row-broadcast add (bias) over many rows: each row gets the bias at its own columns', async () => {
  const rows = 40961, cols = 12;
  const a = E.fromArray(new Float32Array(rows * cols), [rows, cols]);
  const b = E.fromArray(Float32Array.from({ length: cols }, (_, j) => j + 1), [cols]);
  const y = E.add(a, b);
  const got = (await y.toArray()) as Float32Array;
  let bad = -1;
  for (let i = 0; i < rows * cols; i++) if (got[i] !== (i % cols) + 1) { bad = i; break; }
  assert.is(bad, -1, `element ${bad} is ${got[bad]}`);
  for (const t of [a, b, y]) t.dispose();
});

test.run();
