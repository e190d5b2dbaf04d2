// Size-bucketed GPU buffer pool with explicit lifetimes.
//
// Nothing here relies on the garbage collector: a buffer comes back to the pool only when its
// owner calls release(). Sizes are rounded up to a bucket (powers of two split into quarters,
// so at most 25% waste) so that a training loop whose shapes repeat reuses the same buffers
// instead of growing a cache keyed on exact sizes.
//
// Why releases are deferred until the next submit: queue.writeBuffer() executes before any
// command buffer submitted after it, so a buffer released while commands that read it are
// still being recorded could be re-acquired, overwritten by an upload, and read with the
// wrong contents by those earlier-recorded commands. Parking releases until the recording
// is submitted removes that hazard at the cost of a little extra memory per batch.
import { GpuError } from './errors.js';

export interface PoolStats {
  /** Bytes of GPU buffers this pool currently owns (in use + cached + parked). */
  allocatedBytes: number;
  /** Bytes handed out and not yet released. */
  inUseBytes: number;
  /** Bytes cached in free lists, ready for reuse. */
  cachedBytes: number;
  /** Bytes released since the last submit, reusable after it (see header). */
  parkedBytes: number;
  peakInUseBytes: number;
  peakAllocatedBytes: number;
  buffersCreated: number;
  buffersReused: number;
  buffersDestroyed: number;
}

export interface PoolOptions {
  usage: number;
  /** Upper bound on bytes kept in free lists; beyond it released buffers are destroyed. */
  maxCachedBytes: number;
  /** Upper bound on bytes in use at once; an acquire past it throws (a leak or a model too large). */
  maxInUseBytes: number;
  /** The adapter's largest buffer (limits.maxBufferSize): a bigger acquire throws at once. */
  maxBufferBytes?: number;
  /**
   * Called when more than maxCachedBytes wait parked for a submit: the runtime submits, so a
   * long recording that frees as it goes does not hold every buffer it ever used.
   */
  onParkedFull?: () => void;
  label: string;
}

const MIN_BUCKET = 256;

/** Rounds a byte count up to its bucket: 256, then 2^k * {1, 1.25, 1.5, 1.75}. */
export function bucketSize(bytes: number): number {
  if (bytes <= MIN_BUCKET) return MIN_BUCKET;
  const pow = 2 ** Math.floor(Math.log2(bytes));
  const quarter = pow / 4;
  return Math.ceil(bytes / quarter) * quarter;
}

export class BufferPool {
  private free = new Map<number, GPUBuffer[]>();
  /** Cached buffers oldest first: when the cache is full, the oldest make room for new sizes. */
  private cacheOrder: GPUBuffer[] = [];
  private parked: GPUBuffer[] = [];
  private sizes = new WeakMap<GPUBuffer, number>();
  /** Buffers from acquireExact: destroyed when recycled, never cached. */
  private exact = new WeakSet<GPUBuffer>();
  private s: PoolStats = {
    allocatedBytes: 0, inUseBytes: 0, cachedBytes: 0, parkedBytes: 0, peakInUseBytes: 0, peakAllocatedBytes: 0,
    buffersCreated: 0, buffersReused: 0, buffersDestroyed: 0,
  };

  constructor(private gpu: GPUDevice, private opts: PoolOptions) {}

  acquire(bytes: number): GPUBuffer {
    this.checkFits(bytes);
    // A bucket may round past the largest buffer where the request itself fits.
    const max = this.opts.maxBufferBytes ?? Infinity;
    const size = Math.min(bucketSize(bytes), Math.floor(max / 4) * 4);
    if (size < bytes) throw new GpuError(`${this.opts.label}: a buffer of ${fmtBytes(bytes)} rounds past the adapter's largest buffer (${fmtBytes(max)}, in whole 4-byte words); split the tensor`);
    this.checkInUseCap(size);
    const list = this.free.get(size);
    let buf = list?.pop();
    if (buf) {
      this.cacheOrder.splice(this.cacheOrder.lastIndexOf(buf), 1);
      this.s.cachedBytes -= size;
      this.s.buffersReused++;
    } else {
      buf = this.create(size, `${this.opts.label} (${fmtBytes(size)})`);
    }
    this.markInUse(size);
    return buf;
  }

  /**
   * A buffer of exactly `bytes` (rounded up to 4), outside the buckets: for large, long-lived
   * allocations such as the optimizer's arenas, where a bucket would waste up to a quarter of
   * each. It counts in the stats and against the in-use cap like any other buffer; released,
   * it is destroyed after the next submit instead of cached (nothing else has its size).
   */
  acquireExact(bytes: number, label: string): GPUBuffer {
    this.checkFits(bytes);
    const size = Math.max(4, Math.ceil(bytes / 4) * 4);
    this.checkInUseCap(size);
    const buf = this.create(size, `${this.opts.label}: ${label} (${fmtBytes(size)})`);
    this.exact.add(buf);
    this.markInUse(size);
    return buf;
  }

  private checkFits(bytes: number): void {
    const max = this.opts.maxBufferBytes ?? Infinity;
    if (bytes > max) {
      throw new GpuError(`${this.opts.label}: a buffer of ${fmtBytes(bytes)} exceeds the adapter's largest buffer (${fmtBytes(max)}); split the tensor`);
    }
  }

  private checkInUseCap(size: number): void {
    if (this.s.inUseBytes + size > this.opts.maxInUseBytes) {
      throw new GpuError(
        `${this.opts.label}: allocating ${fmtBytes(size)} would exceed the in-use cap of ${fmtBytes(this.opts.maxInUseBytes)} ` +
          `(${fmtBytes(this.s.inUseBytes)} in use): a leak (tensors never disposed) or a model/batch too large`,
      );
    }
  }

  private create(size: number, label: string): GPUBuffer {
    // Out of memory is left unscoped: it reaches the device's uncaptured-error queue, which
    // the next sync throws as a GpuError (a logged warning let the run go on with an invalid
    // buffer that failed later under another name).
    const buf = this.gpu.createBuffer({ size, usage: this.opts.usage, label });
    this.sizes.set(buf, size);
    this.s.allocatedBytes += size;
    this.s.buffersCreated++;
    this.s.peakAllocatedBytes = Math.max(this.s.peakAllocatedBytes, this.s.allocatedBytes);
    return buf;
  }

  private markInUse(size: number): void {
    this.s.inUseBytes += size;
    this.s.peakInUseBytes = Math.max(this.s.peakInUseBytes, this.s.inUseBytes);
  }

  /** Returns a buffer; it becomes reusable after the next submit (see header). */
  release(buf: GPUBuffer): void {
    const size = this.sizes.get(buf);
    if (size === undefined) throw new Error(`${this.opts.label}: release of a buffer this pool does not own`);
    this.s.inUseBytes -= size;
    this.parked.push(buf);
    this.s.parkedBytes += size;
    if (this.opts.onParkedFull && this.s.parkedBytes > this.opts.maxCachedBytes) this.opts.onParkedFull();
  }

  /** Called by the runtime right after a submit: parked buffers become reusable. */
  recycle(): void {
    this.s.parkedBytes = 0;
    for (const buf of this.parked.splice(0)) {
      const size = this.sizes.get(buf)!;
      if (this.exact.has(buf) || size > this.opts.maxCachedBytes) {
        this.destroy(buf, size);
        continue;
      }
      // A full cache drops its oldest buffers rather than every new one: shapes that drift
      // (a growing sequence length) would otherwise never be pooled once the cache held others.
      while (this.s.cachedBytes + size > this.opts.maxCachedBytes) {
        const old = this.cacheOrder.shift()!;
        const oldSize = this.sizes.get(old)!;
        const oldList = this.free.get(oldSize)!;
        oldList.splice(oldList.indexOf(old), 1);
        this.s.cachedBytes -= oldSize;
        this.destroy(old, oldSize);
      }
      let list = this.free.get(size);
      if (!list) this.free.set(size, (list = []));
      list.push(buf);
      this.cacheOrder.push(buf);
      this.s.cachedBytes += size;
    }
  }

  /** Destroys every cached buffer (in-use ones are untouched). */
  trim(): void {
    for (const [size, list] of this.free) for (const b of list) this.destroy(b, size);
    this.free.clear();
    this.cacheOrder = [];
    this.s.cachedBytes = 0;
  }

  stats(): PoolStats {
    return { ...this.s };
  }

  private destroy(buf: GPUBuffer, size: number): void {
    buf.destroy();
    this.s.allocatedBytes -= size;
    this.s.buffersDestroyed++;
  }
}

export function fmtBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}
