// The buffer pool: buckets, reuse, caps, deferred reuse until submit, stats.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { bucketSize, BufferPool } from '../../engine/memory.js';
import * as E from '../../engine/index.js';
import { rt } from '../../engine/tensor.js';
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

test('use after dispose is an error naming the tensor', () => {
  const t = E.fromArray([1, 2, 3], [3]);
  t.dispose();
  assert.throws(() => E.exp(t), /used after dispose/);
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
