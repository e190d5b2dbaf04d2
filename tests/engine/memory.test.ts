// The buffer pool: buckets, reuse, caps, deferred reuse until submit, stats.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { bucketSize, BufferPool } from '../../engine/memory.js';
import * as E from '../../engine/index.js';
import { rt, view } from '../../engine/tensor.js';
import { setup } from '../helpers.js';

test.before(setup);

test('bucket sizes: at least the request, at most 25% waste above 256 B', () => {
  for (const n of [1, 255, 256, 257, 1000, 4097, 1 << 20, (1 << 20) + 1, 123457]) {
    const b = bucketSize(n);
    assert.ok(b >= n, `bucket ${b} < ${n}`);
    if (n > 256) assert.ok(b <= n * 1.25 + 1, `bucket ${b} wastes more than 25% for ${n}`);
    assert.is(b % 4, 0);
  }
});

test('released buffers are reused only after a submit, and stats add up', () => {
  const pool = new BufferPool(rt().dev.gpu, { usage: GPUBufferUsage.STORAGE, maxCachedBytes: 1 << 20, maxInUseBytes: 1 << 22, label: 'test pool' });
  const a = pool.acquire(1000);
  pool.release(a);
  const b = pool.acquire(1000);
  assert.is.not(a, b, 'a buffer released before submit must not be handed out again');
  pool.recycle();
  const c = pool.acquire(1000);
  assert.is(c, a, 'after submit the parked buffer is reused');
  const s = pool.stats();
  assert.is(s.inUseBytes, 2 * bucketSize(1000));
  assert.is(s.allocatedBytes, 2 * bucketSize(1000));
  assert.is(s.buffersReused, 1);
  pool.release(b);
  pool.release(c);
  pool.recycle();
  pool.trim();
  assert.is(pool.stats().allocatedBytes, 0);
});

test('the cache cap destroys surplus buffers; the in-use cap throws a clear error', () => {
  const pool = new BufferPool(rt().dev.gpu, { usage: GPUBufferUsage.STORAGE, maxCachedBytes: 4096, maxInUseBytes: 16384, label: 'capped pool' });
  const bufs = [0, 1, 2, 3].map(() => pool.acquire(4096));
  assert.throws(() => pool.acquire(4096), /capped pool: allocating 4.0 KiB would exceed the in-use cap/);
  bufs.forEach((b) => pool.release(b));
  pool.recycle();
  const s = pool.stats();
  assert.is(s.cachedBytes, 4096);
  assert.is(s.buffersDestroyed, 3);
  assert.is(s.allocatedBytes, 4096);
  pool.trim();
});

test('a full cache makes room for a new size by dropping its oldest buffers; parked bytes past the cap ask for a submit', () => {
  let asked = 0;
  const pool = new BufferPool(rt().dev.gpu, { usage: GPUBufferUsage.STORAGE, maxCachedBytes: 4096, maxInUseBytes: 1 << 20, label: 'drifting pool', onParkedFull: () => asked++ });
  pool.release(pool.acquire(4096));
  pool.recycle();
  assert.is(pool.stats().cachedBytes, 4096);
  // Shapes drift to another size: after one round trip it is the one cached, and reused.
  for (let i = 0; i < 5; i++) {
    pool.release(pool.acquire(3000));
    pool.recycle();
  }
  const s = pool.stats();
  assert.is(s.buffersReused, 4, 'the new size is pooled');
  assert.is(s.buffersCreated, 2);
  assert.is(s.cachedBytes, bucketSize(3000));
  assert.is(s.parkedBytes, 0);
  // Releases that pile up without a submit: past the cap, the pool asks for one.
  const held = [0, 1, 2].map(() => pool.acquire(2048));
  held.forEach((b) => pool.release(b));
  assert.is(pool.stats().parkedBytes, 3 * 2048);
  assert.is(asked, 1, 'asked once the parked bytes passed 4096');
  pool.recycle();
  pool.trim();
  assert.is(pool.stats().allocatedBytes, 0);
});

test('exact-size buffers count in the stats and the in-use cap, and are destroyed, not cached, once released', () => {
  const pool = new BufferPool(rt().dev.gpu, { usage: GPUBufferUsage.STORAGE, maxCachedBytes: 1 << 20, maxInUseBytes: 8192, label: 'exact pool' });
  const a = pool.acquireExact(5001, 'arena');
  assert.is(a.size, 5004, 'rounded to whole words, not to a bucket');
  assert.is(a.label, 'exact pool: arena (4.9 KiB)');
  let s = pool.stats();
  assert.is(s.inUseBytes, 5004);
  assert.is(s.allocatedBytes, 5004);
  assert.throws(() => pool.acquireExact(4000, 'second'), /exact pool: allocating 3.9 KiB would exceed the in-use cap of 8.0 KiB/);
  pool.release(a);
  assert.is(pool.stats().parkedBytes, 5004, 'parked until the next submit like any release');
  pool.recycle();
  s = pool.stats();
  assert.is(s.inUseBytes, 0);
  assert.is(s.cachedBytes, 0, 'not cached: no other request has its size');
  assert.is(s.allocatedBytes, 0);
  assert.is(s.buffersDestroyed, 1);
});

test("a buffer past the adapter's largest is refused at once; a bucket rounding past it is cut to it", () => {
  const pool = new BufferPool(rt().dev.gpu, { usage: GPUBufferUsage.STORAGE, maxCachedBytes: 0, maxInUseBytes: 1 << 20, maxBufferBytes: 5000, label: 'small pool' });
  assert.throws(() => pool.acquire(5004), /small pool: a buffer of 4.9 KiB exceeds the adapter's largest buffer \(4.9 KiB\)/);
  assert.ok(bucketSize(4900) > 5000, 'the bucket of 4900 bytes would round past the limit');
  const b = pool.acquire(4900);
  assert.ok(b.size >= 4900 && b.size <= 5000, `size ${b.size}`);
  pool.release(b);
  pool.recycle();
  pool.trim();
  // The engine's pool knows the device's limit: a tensor past it is refused before any GPU call.
  const max = rt().dev.limits.maxBufferSize;
  assert.throws(() => E.empty([Math.floor(max / 4) + 1024]), /exceeds the adapter's largest buffer/);
});

test('reshape shares storage; disposing the last view returns the buffer', async () => {
  await rt().sync();
  const before = rt().stats().pool.inUseBytes;
  const t = E.fromArray(new Float32Array(1000).fill(2), [10, 100]);
  const v = E.reshape(t, [100, 10]);
  assert.is(v.storage, t.storage);
  t.dispose();
  assert.equal(Array.from((await v.toArray()).slice(0, 3)), [2, 2, 2]);
  v.dispose();
  assert.is(rt().stats().pool.inUseBytes, before);
});

test('a view outside its storage, or bound at an offset the adapter cannot bind, is refused by name', () => {
  const a = E.fromArray([1, 2, 3, 4], [4]);
  assert.throws(() => view(a, [1000]), /view \[1000\] f32 at byte 0: outside the 16 bytes of tensor #\d+ \[4\]'s storage/);
  // The pool's bucket may hold more than the 16 bytes asked for: its slack is not the tensor's.
  assert.throws(() => view(a, [5]), /outside the 16 bytes/);
  assert.throws(() => view(a, [1], 2), /byte 2: not a multiple of the element size \(4\)/);
  const align = rt().dev.limits.minStorageBufferOffsetAlignment;
  if (align > 4) {
    const v = view(a, [2], 4);
    assert.throws(() => E.tidy(() => E.mulScalar(v, 2)), new RegExp(`byte offset 4 is not a multiple of the adapter's storage offset alignment \\(${align}\\)`));
    v.dispose();
  }
  a.dispose();
});

test('a kernel that does not compile: its own read names it with the compiler\'s message, and the engine goes on', async () => {
  const x = E.fromArray([1, 2, 3], [3]);
  const y = E.empty([3]);
  const r = rt();
  r.dispatch(r.kernel('unary', { EXPR: 'x +* nonsense(' }, 'main'), [x.binding(), y.binding()], [3, 0, 0, 0], [1]);
  let message = '';
  try {
    await y.toArray();
  } catch (e) {
    message = (e as Error).message;
  }
  assert.match(message, /kernel unary\|main\|EXPR=x \+\* nonsense\(/);
  // Nothing of it is left for the next caller, and a valid kernel still runs.
  assert.equal(Array.from(await E.tidy(() => E.mulScalar(x, 2)).toArray()), [2, 4, 6]);
  x.dispose();
  y.dispose();
});

test('use after dispose is an error naming the tensor', () => {
  const t = E.fromArray([1, 2, 3], [3]);
  t.dispose();
  assert.throws(() => E.exp(t), /used after dispose/);
});

test('async misuse is refused: tidy or noGrad of an async function, overlapping tidyAsync scopes', async () => {
  assert.throws(() => E.tidy(async () => 1), /tidy got an async function: use tidyAsync/);
  assert.throws(() => E.noGrad(async () => 1), /noGrad got an async function: use noGradAsync/);
  // noGradAsync keeps recording off across awaits.
  const w = E.fromArray([1, 2], [2]);
  w.requiresGrad = true;
  const recorded = await E.noGradAsync(async () => {
    await Promise.resolve();
    return E.tidy(() => E.keep(E.mul(w, w)));
  });
  assert.is(recorded.node, null, 'no graph node after an await inside noGradAsync');
  recorded.dispose();
  w.dispose();
  // Two scopes that overlap instead of nesting: the first to end is not the innermost.
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const a = E.tidyAsync(async () => { E.zeros([2]); await gate; });
  const b = E.tidyAsync(async () => { E.zeros([2]); await new Promise((r) => setTimeout(r, 5)); });
  release();
  const results = await Promise.allSettled([a, b]);
  assert.ok(results.some((r) => r.status === 'rejected' && /scope ended out of order/.test(String(r.reason))), 'overlap is an error');
});

test('an index tensor keeps its own host copy: reusing the caller\'s array changes nothing', async () => {
  const ids = Int32Array.from([0, 1]);
  const table = E.fromArray([1, 2, 3, 4, 5, 6], [3, 2]);
  table.requiresGrad = true;
  const idx = E.fromArray(ids, [2], 'i32');
  ids.set([2, 2]); // the caller's array reused
  E.tidy(() => E.backward(E.sumAll(E.embedding(table, idx))));
  assert.equal(Array.from(await table.grad!.toArray()), [1, 1, 1, 1, 0, 0]);
  table.grad!.dispose();
  table.dispose();
  idx.dispose();
});

test('scopes free everything but the result and kept tensors', () => {
  const live = E.liveTensorCount();
  let kept: E.Tensor | null = null;
  const out = E.tidy(() => {
    const a = E.fromArray([1, 2, 3], [3]);
    kept = E.keep(E.exp(a));
    return E.mulScalar(E.exp(a), 2);
  });
  assert.is(E.liveTensorCount(), live + 2);
  out.dispose();
  kept!.dispose();
  assert.is(E.liveTensorCount(), live);
});

test.run();
