// Waiting for the GPU: Dawn's polling is paced (engine/event_polling.ts), other setImmediate
// callers are not, and results are the same.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import * as E from '../../engine/index.js';
import { rt } from '../../engine/tensor.js';
import { setup } from '../helpers.js';

test.before(setup);

/** CPU time of the main thread so far, in ms (Linux: /proc; null elsewhere). */
function mainThreadCpuMs(): number | null {
  const path = `/proc/self/task/${process.pid}/stat`;
  if (!existsSync(path)) return null;
  const fields = readFileSync(path, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10; // utime + stime, 10 ms clock ticks
}

test('other setImmediate callers run at once, with their arguments', async () => {
  const t0 = performance.now();
  const got = await new Promise<number[]>((resolve) => setImmediate((a: number, b: number) => resolve([a, b]), 3, 4));
  assert.equal(got, [3, 4]);
  assert.ok(performance.now() - t0 < 50, 'a plain setImmediate callback was held back');
});

test('a long GPU wait does not keep the main thread busy, and the result is right', async () => {
  const n = 384;
  const a = E.fromArray(Float32Array.from({ length: n * n }, (_, i) => ((i * 7) % 13) / 13 - 0.5), [n, n]);
  // Warm up first: compiling the pipelines is main-thread work of its own.
  E.mulScalar(E.matmul(a, a), 1 / 8).dispose();
  await rt().sync();
  const cpu0 = mainThreadCpuMs();
  const t0 = performance.now();
  let x = a;
  // A chain of matmuls long enough to outlast the spinning phase many times over.
  for (let i = 0; i < 12; i++) {
    const y = E.mulScalar(E.matmul(x, a), 1 / 8);
    if (x !== a) x.dispose();
    x = y;
  }
  await rt().sync();
  const wall = performance.now() - t0;
  const cpu1 = mainThreadCpuMs();
  const got = (await x.toArray()) as Float32Array;
  assert.ok(got.every(Number.isFinite));
  x.dispose();
  a.dispose();
  if (cpu0 !== null && cpu1 !== null && wall > 200) {
    // Spinning, the main thread's CPU time is most of the wall time (75-100% measured).
    assert.ok(cpu1 - cpu0 < 0.5 * wall, `main thread used ${cpu1 - cpu0} ms of CPU in a ${wall.toFixed(0)} ms GPU wait`);
  }
});

test.run();
