// Waiting for the GPU: Dawn's polling is paced (engine/event_polling.ts), other setImmediate
// callers are not, and a long wait leaves the main thread mostly idle.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import * as E from '../../engine/index.js';
import { rt } from '../../engine/tensor.js';
import { pollingStats } from '../../engine/event_polling.js';
import { setup } from '../helpers.js';

test.before(setup);

/** CPU time of the main thread so far, in ms (Linux: /proc; null elsewhere). */
function mainThreadCpuMs(): number | null {
  const path = `/proc/self/task/${process.pid}/stat`;
  if (!existsSync(path)) return null;
  const text = readFileSync(path, 'utf8');
  // Fields after the command name, which is in parentheses and may itself contain ") ".
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10; // utime + stime, 10 ms clock ticks
}

test('other setImmediate callers run at once: arrow functions, promise resolvers, promisify', async () => {
  const t0 = performance.now();
  const got = await new Promise<number[]>((resolve) => setImmediate((a: number, b: number) => resolve([a, b]), 3, 4));
  assert.equal(got, [3, 4]);
  await new Promise((resolve) => setImmediate(resolve)); // a native function: a resolver, not Dawn's poll
  assert.is(await promisify(setImmediate)('v'), 'v');
  assert.ok(performance.now() - t0 < 50, 'a plain setImmediate callback was held back');
});

test('a long GPU wait is paced: polls sleep, the main thread stays mostly idle, results are exact', async () => {
  if (process.env.IVT_POLL === 'spin') return; // pacing switched off on purpose
  assert.ok(pollingStats().installed, 'opening the device should pace Dawn\'s polling');
  // Integer-valued matrices: every product below is exact in f32, so the result is checked
  // against a CPU product exactly.
  const n = 192;
  const aData = Float32Array.from({ length: n * n }, (_, i) => (i * 7) % 5 - 2);
  const a = E.fromArray(aData, [n, n]);
  const eye = E.fromArray(Float32Array.from({ length: n * n }, (_, i) => (i % (n + 1) === 0 ? 1 : 0)), [n, n]);
  E.matmul(a, eye).dispose(); // compile first: that is main-thread work of its own
  await rt().sync();
  const before = pollingStats();
  const cpu0 = mainThreadCpuMs();
  const t0 = performance.now();
  // A chain of products long enough to outlast the spinning phase many times over; x stays a.
  let x = a;
  for (let i = 0; i < 150; i++) {
    const y = E.matmul(x, eye);
    if (x !== a) x.dispose();
    x = y;
  }
  await rt().sync();
  const wall = performance.now() - t0;
  const cpu1 = mainThreadCpuMs();
  const after = pollingStats();
  assert.equal(Array.from((await x.toArray()) as Float32Array), Array.from(aData));
  for (const t of [x, a, eye]) t.dispose();
  assert.ok(after.polls > before.polls, 'the wait should poll');
  if (wall > 20) assert.ok(after.sleeps > before.sleeps, `a ${wall.toFixed(0)} ms wait never slept between polls`);
  if (cpu0 !== null && cpu1 !== null && wall > 100) {
    // Spinning, the main thread's CPU time is most of the wall time (60-100% measured).
    assert.ok(cpu1 - cpu0 < 0.5 * wall, `main thread used ${cpu1 - cpu0} ms of CPU in a ${wall.toFixed(0)} ms GPU wait`);
  }
});

test.run();
