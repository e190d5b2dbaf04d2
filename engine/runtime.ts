// The kernel runtime: WGSL loading and specialisation, a pipeline cache, command batching,
// per-dispatch parameters without per-dispatch buffers, and pooled readback.
//
// Many dispatches share one command encoder and one compute pass; they are submitted together
// when the caller needs a value on the CPU (readback), when the parameter arena fills, or on
// an explicit flush(). Each dispatch's uniform parameters are appended to a CPU-side arena and
// uploaded with a single writeBuffer just before the submit: the upload is ordered before the
// command buffer that reads it, so one uniform buffer serves every batch.
import { readFileSync, existsSync } from 'node:fs';
import { unrollFunction } from './unroll.js';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Device } from './device.js';
import { BufferPool, PoolStats } from './memory.js';
import { GpuError } from './errors.js';

export interface F32Param {
  f32: number;
}
/** A uniform parameter: a plain number is written as a 32-bit integer (u32, or i32 if negative). */
export type Param = number | F32Param;
export const f32 = (x: number): F32Param => ({ f32: x });

export type Defines = Record<string, string | number | boolean>;

export interface Kernel {
  key: string;
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
}

/** What a kernel binds: a whole pooled buffer, or a byte range of one. */
export interface BufferBinding {
  buffer: GPUBuffer;
  offset?: number;
  size?: number;
}

const PARAM_SLOT = 256; // >= minUniformBufferOffsetAlignment on every adapter we know; checked below
const PARAM_ARENA = 64 * 1024;

function findShaderDir(): string {
  // Works from both engine/ (sources) and dist/engine/ (compiled): walk up to the repo root.
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    if (existsSync(join(dir, 'shaders'))) return join(dir, 'shaders');
    dir = dirname(dir);
  }
  throw new Error('cannot find the shaders/ directory next to the engine');
}

const shaderDir = findShaderDir();
const sourceCache = new Map<string, string>();

function shaderSource(name: string): string {
  let src = sourceCache.get(name);
  if (src === undefined) {
    src = readFileSync(join(shaderDir, `${name}.wgsl`), 'utf8');
    sourceCache.set(name, src);
  }
  return src;
}

/**
 * Loads shaders/<name>.wgsl, pastes in every shader it includes ({{>other}}, one level), and
 * substitutes every {{KEY}} from `defines`.
 */
export function specialise(name: string, defines: Defines = {}): string {
  // Comments are dropped first so that they may mention placeholders and includes freely.
  const strip = (text: string) => text.replace(/\/\/.*$/gm, '');
  const src = strip(shaderSource(name)).replace(/\{\{>(\w+)\}\}/g, (_, other: string) => strip(shaderSource(other)));
  const out = src.replace(/\{\{(\w+)\}\}/g, (_, k: string) => {
    if (!(k in defines)) throw new Error(`shader ${name}.wgsl: no value for placeholder {{${k}}}`);
    return String(defines[k]);
  });
  return out;
}

export interface RuntimeStats {
  pool: PoolStats;
  staging: PoolStats;
  pipelines: number;
  dispatches: number;
  submits: number;
  readbacks: number;
}

export class Runtime {
  readonly pool: BufferPool;
  private staging: BufferPool;
  private kernels = new Map<string, Kernel>();
  private kernelsByCallKey = new Map<string, Kernel>();
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private paramBuffer: GPUBuffer;
  private paramCpu = new ArrayBuffer(PARAM_ARENA);
  private paramView = new DataView(this.paramCpu);
  private paramUsed = 0;
  private pendingDispatches = 0;
  private counters = { dispatches: 0, submits: 0, readbacks: 0 };
  private workgroupLimit: number;
  /** The most workgroups one dispatch may have along a dimension (kernels split or spread past it). */
  get maxWorkgroupsPerDim(): number {
    return this.workgroupLimit;
  }
  /**
   * Lowers the per-dimension workgroup limit the runtime dispatches by (tests reach the splits
   * past it with small shapes); no argument restores the adapter's. Never above the adapter's.
   */
  limitWorkgroupsPerDim(n?: number): void {
    const adapter = this.dev.limits.maxComputeWorkgroupsPerDimension;
    if (n !== undefined && (!Number.isInteger(n) || n < 1)) throw new Error(`limitWorkgroupsPerDim: expected a positive integer, got ${n}`);
    this.workgroupLimit = Math.min(n ?? adapter, adapter);
  }
  /** Per-kernel GPU time (IVT_PROFILE=1, needs timestamp-query): one pass per dispatch. */
  readonly profiler: KernelProfiler | null;

  constructor(readonly dev: Device, opts: { maxCachedBytes?: number; maxInUseBytes?: number } = {}) {
    const gpu = dev.gpu;
    if (dev.limits.minUniformBufferOffsetAlignment > PARAM_SLOT) {
      throw new GpuError(`adapter needs uniform offsets aligned to ${dev.limits.minUniformBufferOffsetAlignment} bytes; the runtime assumes <= ${PARAM_SLOT}`);
    }
    const maxBuffer = Math.min(dev.limits.maxBufferSize, 8 * 1024 ** 3);
    this.pool = new BufferPool(gpu, {
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
      maxCachedBytes: opts.maxCachedBytes ?? envBytes('IVT_POOL_CACHE_MB', 1024),
      maxInUseBytes: opts.maxInUseBytes ?? envBytes('IVT_POOL_MAX_MB', Math.max(maxBuffer * 4, 16 * 1024 ** 3) / 1024 ** 2),
      maxBufferBytes: dev.limits.maxBufferSize,
      label: 'tensor pool',
      onParkedFull: () => this.flush(),
    });
    this.staging = new BufferPool(gpu, {
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      maxCachedBytes: 64 * 1024 ** 2,
      maxInUseBytes: 4 * 1024 ** 3,
      maxBufferBytes: dev.limits.maxBufferSize,
      label: 'readback staging',
    });
    this.paramBuffer = gpu.createBuffer({ size: PARAM_ARENA, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, label: 'params' });
    this.workgroupLimit = dev.limits.maxComputeWorkgroupsPerDimension;
    this.profiler = process.env.IVT_PROFILE && dev.hasTimestamps ? new KernelProfiler(gpu) : null;
  }

  /**
   * The pipeline for shaders/<name>.wgsl specialised by `defines`; compiled once per key.
   * `unroll`: expand the entry point's constant-count loops in the source (engine/unroll.ts).
   */
  kernel(name: string, defines: Defines = {}, entryPoint = 'main', { unroll = false } = {}): Kernel {
    // Called once per dispatch, so the common case must be cheap: look up by the defines in
    // the caller's own order first (no arrays, no sort); only a miss builds the canonical key.
    let fast = name + '|' + entryPoint + (unroll ? '|unrolled' : '');
    for (const d in defines) fast += '|' + d + '=' + defines[d];
    let k = this.kernelsByCallKey.get(fast);
    if (k) return k;
    const key = `${name}|${entryPoint}${unroll ? '|unrolled' : ''}|${Object.entries(defines).sort(([a], [b]) => (a < b ? -1 : 1)).map(([d, v]) => `${d}=${v}`).join(',')}`;
    k = this.kernels.get(key);
    if (k) {
      this.kernelsByCallKey.set(fast, k);
      return k;
    }
    const specialised = specialise(name, defines);
    const code = unroll ? unrollFunction(specialised, entryPoint) : specialised;
    const gpu = this.dev.gpu;
    gpu.pushErrorScope('validation');
    const module = gpu.createShaderModule({ code, label: key });
    const pipeline = gpu.createComputePipeline({ layout: 'auto', compute: { module, entryPoint }, label: key });
    // A compile error is reported asynchronously; record it so the next sync point throws it
    // with the kernel's name rather than as an anonymous validation failure.
    void gpu.popErrorScope().then((e) => {
      if (!e) return;
      this.compileErrors.push(`kernel ${key}: ${e.message}`);
      // Not kept: a later call compiles it again (and fails again, by name) rather than reusing
      // an invalid pipeline.
      this.kernels.delete(key);
      for (const [callKey, cached] of this.kernelsByCallKey) if (cached === k) this.kernelsByCallKey.delete(callKey);
    });
    k = { key, pipeline, layout: pipeline.getBindGroupLayout(0) };
    this.kernels.set(key, k);
    this.kernelsByCallKey.set(fast, k);
    return k;
  }
  private compileErrors: string[] = [];

  /**
   * Records one dispatch. `buffers` bind to @binding(0..n-1) in order; if `params` is given
   * it binds as a uniform at @binding(n).
   */
  dispatch(k: Kernel, buffers: BufferBinding[], params: Param[] | null, workgroups: [number, number?, number?]): void {
    const [x, y = 1, z = 1] = workgroups;
    if (x === 0 || y === 0 || z === 0) return;
    const lim = this.maxWorkgroupsPerDim;
    if (x > lim || y > lim || z > lim) {
      throw new GpuError(`kernel ${k.key}: dispatch ${x}x${y}x${z} exceeds maxComputeWorkgroupsPerDimension ${lim}`);
    }
    const entries: GPUBindGroupEntry[] = buffers.map((b, i) => ({
      binding: i,
      resource: { buffer: b.buffer, offset: b.offset ?? 0, size: b.size },
    }));
    if (params) {
      const bytes = Math.max(16, Math.ceil((params.length * 4) / 16) * 16);
      if (bytes > PARAM_SLOT) throw new Error(`kernel ${k.key}: ${params.length} params exceed one ${PARAM_SLOT}-byte slot`);
      if (this.paramUsed + PARAM_SLOT > PARAM_ARENA) this.flush();
      const off = this.paramUsed;
      params.forEach((p, i) => {
        if (typeof p === 'number') {
          if (p < 0) this.paramView.setInt32(off + i * 4, p, true);
          else this.paramView.setUint32(off + i * 4, p, true);
        } else this.paramView.setFloat32(off + i * 4, p.f32, true);
      });
      this.paramUsed += PARAM_SLOT;
      entries.push({ binding: buffers.length, resource: { buffer: this.paramBuffer, offset: off, size: bytes } });
    }
    const bindGroup = this.dev.gpu.createBindGroup({ layout: k.layout, entries });
    if (this.profiler) {
      this.profiler.dispatch(this.commandEncoder(), k, bindGroup, [x, y, z], () => this.endPass());
    } else {
      const pass = this.computePass();
      pass.setPipeline(k.pipeline);
      pass.setBindGroup(0, bindGroup);
      pass.dispatchWorkgroups(x, y, z);
    }
    this.counters.dispatches++;
    if (++this.pendingDispatches >= 512) this.flush();
  }

  /**
   * Splits a 1-D count of workgroups over x and y so no dimension exceeds the device limit.
   * Kernels recover the linear index as `wid.x + wid.y * num_workgroups.x`.
   */
  grid(groups: number): [number, number] {
    if (groups <= this.maxWorkgroupsPerDim) return [Math.max(groups, 1), 1];
    const y = Math.ceil(groups / this.maxWorkgroupsPerDim);
    return [Math.ceil(groups / y), y];
  }

  /** Records a buffer-to-buffer copy in order with the dispatches. */
  copy(src: BufferBinding, dst: BufferBinding, bytes: number): void {
    this.endPass();
    this.commandEncoder().copyBufferToBuffer(src.buffer, src.offset ?? 0, dst.buffer, dst.offset ?? 0, bytes);
  }

  /** Records a zero fill (bytes must be a multiple of 4). */
  clear(dst: BufferBinding, bytes: number): void {
    this.endPass();
    this.commandEncoder().clearBuffer(dst.buffer, dst.offset ?? 0, bytes);
  }

  /** Uploads data into a buffer that no recorded-but-unsubmitted command uses (the pool guarantees it for fresh acquisitions). */
  upload(dst: GPUBuffer, offset: number, data: ArrayBufferView): void {
    const bytes = data.byteLength;
    const padded = Math.ceil(bytes / 4) * 4;
    if (padded === bytes) {
      this.dev.gpu.queue.writeBuffer(dst, offset, data.buffer, data.byteOffset, bytes);
    } else {
      const tmp = new Uint8Array(padded);
      tmp.set(new Uint8Array(data.buffer, data.byteOffset, bytes));
      this.dev.gpu.queue.writeBuffer(dst, offset, tmp.buffer, 0, padded);
    }
  }

  /** Submits everything recorded so far. Cheap when nothing is pending. */
  flush(): void {
    this.endPass();
    // (Compile errors are thrown where the caller waits for the GPU, read and sync, with the
    // kernel's own message: thrown here they could break off an op between its dispatches.)
    if (!this.encoder) {
      // Nothing recorded since the last submit, so nothing recorded uses what was released.
      this.pool.recycle();
      return;
    }
    const cmd = this.encoder.finish();
    this.encoder = null;
    if (this.paramUsed > 0) {
      this.dev.gpu.queue.writeBuffer(this.paramBuffer, 0, this.paramCpu, 0, this.paramUsed);
      this.paramUsed = 0;
    }
    this.dev.gpu.queue.submit([cmd]);
    this.profiler?.submitted();
    this.pendingDispatches = 0;
    this.counters.submits++;
    this.pool.recycle();
  }

  /** Copies `bytes` from a buffer to the CPU. Submits pending work first; checks for GPU errors after. */
  async read(src: BufferBinding, bytes: number): Promise<ArrayBuffer> {
    const padded = Math.ceil(bytes / 4) * 4;
    const stage = this.staging.acquire(padded);
    try {
      this.copy(src, { buffer: stage }, padded);
      this.flush();
      this.counters.readbacks++;
      try {
        await stage.mapAsync(GPUMapMode.READ, 0, padded);
      } catch (e) {
        this.checkErrors();
        throw new GpuError(`readback failed: ${(e as Error).message}`);
      }
      const out = stage.getMappedRange(0, padded).slice(0, bytes);
      stage.unmap();
      this.checkErrors();
      return out;
    } finally {
      this.staging.release(stage);
      this.staging.recycle();
    }
  }

  /** Waits until the GPU has finished everything submitted (for benchmarks and shutdown). */
  async sync(): Promise<void> {
    this.flush();
    await this.dev.gpu.queue.onSubmittedWorkDone();
    this.checkErrors();
  }

  /**
   * Throws what the GPU reported: a kernel's compile error first, by the kernel's name and
   * with the compiler's message (the device's own error for it only says that a pipeline is
   * invalid), then any other device error.
   */
  private checkErrors(): void {
    if (this.compileErrors.length) {
      const compile = this.compileErrors.splice(0).join('\n');
      // The device's own reports of the same failure go with it, not to the next caller.
      let also = '';
      try {
        this.dev.check();
      } catch (e) {
        also = `\n(the device also reported: ${(e as Error).message})`;
      }
      throw new GpuError(compile + also);
    }
    this.dev.check();
  }

  stats(): RuntimeStats {
    return { pool: this.pool.stats(), staging: this.staging.stats(), pipelines: this.kernels.size, ...this.counters };
  }

  private commandEncoder(): GPUCommandEncoder {
    return (this.encoder ??= this.dev.gpu.createCommandEncoder());
  }

  private computePass(): GPUComputePassEncoder {
    return (this.pass ??= this.commandEncoder().beginComputePass());
  }

  private endPass(): void {
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
  }
}

function envBytes(name: string, defMb: number): number {
  const v = process.env[name];
  const mb = v === undefined ? defMb : Number(v);
  if (!Number.isFinite(mb) || mb <= 0) throw new Error(`${name} must be a positive number of MiB, got "${v}"`);
  return Math.floor(mb * 1024 * 1024);
}

/**
 * Times every dispatch with timestamp queries (a compute pass each, so it perturbs batching:
 * use it to find where time goes, not for headline figures). Totals per kernel key.
 */
export class KernelProfiler {
  private querySet: GPUQuerySet;
  private resolve: GPUBuffer;
  private next = 0;
  private keys: string[] = [];
  private readonly capacity = 1024;
  readonly totals = new Map<string, { ms: number; count: number }>();
  private pending: Promise<void>[] = [];

  constructor(private gpu: GPUDevice) {
    this.querySet = gpu.createQuerySet({ type: 'timestamp', count: this.capacity * 2 });
    this.resolve = gpu.createBuffer({ size: this.capacity * 16, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
  }

  dispatch(enc: GPUCommandEncoder, k: Kernel, bg: GPUBindGroup, wg: number[], endOpenPass: () => void): void {
    endOpenPass();
    if (this.next >= this.capacity) return this.untimed(enc, k, bg, wg);
    const i = this.next++;
    this.keys[i] = k.key;
    const pass = enc.beginComputePass({ timestampWrites: { querySet: this.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 } });
    pass.setPipeline(k.pipeline);
    pass.setBindGroup(0, bg);
    pass.dispatchWorkgroups(wg[0], wg[1], wg[2]);
    pass.end();
  }

  private untimed(enc: GPUCommandEncoder, k: Kernel, bg: GPUBindGroup, wg: number[]): void {
    const pass = enc.beginComputePass();
    pass.setPipeline(k.pipeline);
    pass.setBindGroup(0, bg);
    pass.dispatchWorkgroups(wg[0], wg[1], wg[2]);
    pass.end();
  }

  /** After a submit: resolve this batch's timestamps and fold them into the totals. */
  submitted(): void {
    const n = this.next;
    if (n === 0) return;
    const keys = this.keys.slice(0, n);
    const enc = this.gpu.createCommandEncoder();
    enc.resolveQuerySet(this.querySet, 0, n * 2, this.resolve, 0);
    const read = this.gpu.createBuffer({ size: n * 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    enc.copyBufferToBuffer(this.resolve, 0, read, 0, n * 16);
    this.gpu.queue.submit([enc.finish()]);
    this.next = 0;
    this.pending.push(read.mapAsync(GPUMapMode.READ).then(() => {
      const t = new BigInt64Array(read.getMappedRange());
      for (let i = 0; i < n; i++) {
        const ms = Number(t[2 * i + 1] - t[2 * i]) / 1e6;
        const e = this.totals.get(keys[i]) ?? { ms: 0, count: 0 };
        e.ms += ms;
        e.count++;
        this.totals.set(keys[i], e);
      }
      read.unmap();
      read.destroy();
    }));
  }

  async report(top = 25): Promise<string> {
    await Promise.all(this.pending.splice(0));
    const rows = [...this.totals.entries()].sort((a, b) => b[1].ms - a[1].ms);
    const total = rows.reduce((a, [, v]) => a + v.ms, 0);
    return [`GPU time by kernel (total ${total.toFixed(1)} ms):`, ...rows.slice(0, top).map(([k, v]) => `${v.ms.toFixed(1).padStart(9)} ms ${((100 * v.ms) / total).toFixed(1).padStart(5)}%  x${String(v.count).padEnd(6)} ${k.slice(0, 110)}`)].join('\n');
  }
}
