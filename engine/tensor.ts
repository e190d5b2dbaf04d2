// Tensor: a shape, a dtype and a view of a pooled GPU buffer; plus the autograd fields.
//
// Storage is contiguous. A tensor may be a view at a byte offset into a larger buffer (the
// parameter arenas do this so that the optimizer updates every parameter in one dispatch);
// reshape shares storage without copying. Storage is reference-counted and returned to the
// pool when its last tensor is disposed: lifetimes are explicit (dispose() or scopes).
import { Float16Array } from '@petamoriken/float16';
import { Device, getDevice, shutdownDevice } from './device.js';
import { Runtime, BufferBinding } from './runtime.js';

export type DType = 'f32' | 'f16' | 'i32' | 'u32';
export type Shape = readonly number[];

export const BYTES: Record<DType, number> = { f32: 4, f16: 2, i32: 4, u32: 4 };

let rtInstance: Runtime | null = null;

/** Opens the device (once) and the runtime on it. */
export async function initEngine(): Promise<Runtime> {
  if (rtInstance) return rtInstance;
  const dev: Device = await getDevice();
  rtInstance = new Runtime(dev);
  return rtInstance;
}

export function rt(): Runtime {
  if (!rtInstance) throw new Error('engine not initialised: await initEngine() first');
  return rtInstance;
}

/** Forgets a module's tensors cached on the engine (they belong to its device) when it shuts down. */
const shutdownHooks: (() => void)[] = [];
export function onEngineShutdown(hook: () => void): void {
  shutdownHooks.push(hook);
}

/** Releases everything so the process can exit: waits for the GPU, frees the pool, destroys the device. */
export async function shutdownEngine(): Promise<void> {
  if (!rtInstance) return;
  for (const hook of shutdownHooks) hook();
  try {
    await rtInstance.sync();
    // IVT_PROFILE=1: every command ends with its per-kernel GPU time table (stderr, so JSON
    // written to stdout stays clean).
    if (rtInstance.profiler) process.stderr.write(`${await rtInstance.profiler.report()}\n`);
  } finally {
    rtInstance.pool.trim();
    rtInstance = null;
    shutdownDevice();
  }
}

/** Reference-counted ownership of one GPU buffer. */
export class Storage {
  refs = 1;
  /**
   * @param bytes the buffer's usable size (a pool bucket: often more than was asked for)
   * @param requestedBytes what the allocation asked for; the rest is slack no kernel should write
   */
  constructor(readonly buffer: GPUBuffer, readonly bytes: number, private readonly owned: boolean, readonly requestedBytes = bytes) {}
  /** The engine whose pool the buffer came from: after it shuts down its buffers are gone with its device. */
  private readonly runtime = rtInstance;
  retain(): this {
    this.refs++;
    return this;
  }
  release(): void {
    if (--this.refs === 0 && this.owned && this.runtime !== null && this.runtime === rtInstance) this.runtime.pool.release(this.buffer);
    if (this.refs < 0) throw new Error('storage released twice');
  }
}

export interface GradNode {
  /** Op name, for error messages and debugging. */
  op: string;
  inputs: Tensor[];
  /** Given d(loss)/d(output), returns d(loss)/d(input) for each input (null where not needed). */
  backward: (grad: Tensor) => (Tensor | null)[];
}

let nextId = 1;
let liveTensors = 0;

export class Tensor {
  readonly id = nextId++;
  readonly size: number;
  requiresGrad = false;
  grad: Tensor | null = null;
  /** Set by whoever clears `grad` to zeros (the optimizer): backward may then copy instead of add. */
  gradIsZero = false;
  node: GradNode | null = null;
  /**
   * The op that made this tensor, once backward has released its node (and the tensors it
   * saved): backward through it again is an error, not a leaf gradient.
   */
  freedOp: string | null = null;
  /** CPU copy of small integer tensors made from host data (token ids): lets ops that need indices on the host avoid a readback. */
  hostData: Int32Array | Uint32Array | null = null;
  name?: string;
  private disposed = false;

  constructor(
    readonly shape: Shape,
    readonly dtype: DType,
    private _storage: Storage,
    private _byteOffset = 0,
  ) {
    this.size = numel(shape);
    liveTensors++;
    trackInScope(this);
  }

  get storage(): Storage {
    return this._storage;
  }
  get byteOffset(): number {
    return this._byteOffset;
  }

  /**
   * Moves this tensor onto other storage (the caller has copied the values there). Used once
   * per parameter, when the optimizer packs parameters into its arenas; views made earlier
   * keep the old storage, so do it before taking views.
   */
  moveTo(storage: Storage, byteOffset: number): void {
    this.assertAlive();
    this._storage.release();
    this._storage = storage;
    this._byteOffset = byteOffset;
  }

  get rank(): number {
    return this.shape.length;
  }
  get byteLength(): number {
    return this.size * BYTES[this.dtype];
  }
  get isDisposed(): boolean {
    return this.disposed;
  }

  /** How kernels bind this tensor: its byte range, widened to 16 bytes where the buffer allows (vec4 loads). */
  binding(): BufferBinding {
    this.assertAlive();
    // A kernel sees at most maxStorageBufferBindingSize bytes of one binding; past it Dawn's
    // error would surface later, at a sync, naming no tensor.
    const limit = rtInstance?.dev.maxBindingBytes;
    if (limit !== undefined && this.byteLength > limit) {
      throw new Error(`tensor #${this.id}${this.name ? ` (${this.name})` : ''} [${this.shape}] ${this.dtype}: ${this.byteLength} bytes exceed the adapter's storage binding limit of ${limit} bytes; split it`);
    }
    // A binding starts at a multiple of the adapter's storage offset alignment (a view made at
    // another offset could not be bound: say so here, naming the tensor).
    const align = rtInstance?.dev.limits.minStorageBufferOffsetAlignment;
    if (align !== undefined && this.byteOffset % align !== 0) {
      throw new Error(`tensor #${this.id}${this.name ? ` (${this.name})` : ''} [${this.shape}]: byte offset ${this.byteOffset} is not a multiple of the adapter's storage offset alignment (${align}); copy it (clone) to bind it`);
    }
    const want = Math.max(16, Math.ceil(this.byteLength / 16) * 16);
    const size = Math.min(want, this.storage.bytes - this.byteOffset);
    return { buffer: this.storage.buffer, offset: this.byteOffset, size: Math.ceil(size / 4) * 4 };
  }

  assertAlive(): void {
    if (this.disposed) throw new Error(`tensor #${this.id}${this.name ? ` (${this.name})` : ''} [${this.shape}] used after dispose`);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    liveTensors--;
    this.storage.release();
    this.node = null;
    if (this.grad) {
      this.grad.dispose();
      this.grad = null;
    }
  }

  /** Reads the values back to the CPU (submits pending work). */
  async toArray(): Promise<Float32Array | Int32Array | Uint32Array> {
    this.assertAlive();
    // A buffer copy starts at a multiple of 4 bytes: an f16 view at an odd element cannot be read directly.
    if (this.byteOffset % 4 !== 0) throw new Error(`tensor #${this.id}${this.name ? ` (${this.name})` : ''} [${this.shape}] ${this.dtype}: byte offset ${this.byteOffset} is not a multiple of 4; copy it (clone) to read it`);
    const buf = await rt().read({ buffer: this.storage.buffer, offset: this.byteOffset }, this.byteLength);
    switch (this.dtype) {
      case 'f32':
        return new Float32Array(buf);
      case 'f16':
        return Float32Array.from(new Float16Array(buf));
      case 'i32':
        return new Int32Array(buf);
      case 'u32':
        return new Uint32Array(buf);
    }
  }

  /** The single value of a one-element tensor. */
  async item(): Promise<number> {
    if (this.size !== 1) throw new Error(`item() needs a one-element tensor, got shape [${this.shape}]`);
    return (await this.toArray())[0];
  }

  toString(): string {
    return `Tensor#${this.id}[${this.shape.join(',')}] ${this.dtype}${this.requiresGrad ? ' grad' : ''}`;
  }
}

export function numel(shape: Shape): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`invalid shape [${shape}]`);
    n *= d;
  }
  return n;
}

let poisonBits: number | null = null;

/**
 * Test aid: fill every new tensor's whole buffer with a bit pattern (NaN by default) so that
 * elements a kernel fails to write stand out. Off in normal runs.
 */
export function setPoison(on: boolean, bits = 0x7fc00000): void {
  poisonBits = on ? bits : null;
}

/** A new, uninitialised tensor from the pool. */
export function empty(shape: Shape, dtype: DType = 'f32'): Tensor {
  return allocate(shape, dtype, true);
}

function allocate(shape: Shape, dtype: DType, poison: boolean): Tensor {
  const bytes = Math.max(numel(shape) * BYTES[dtype], 4);
  const r = rt();
  // Every kernel that reads or writes f16 needs the feature; without it the first such kernel
  // fails to compile and takes the whole pending batch of dispatches with it, far from here.
  if (dtype === 'f16' && !r.dev.hasF16) throw new Error(`f16 tensor [${shape}]: this adapter has no shader-f16 (or it is turned off with IVT_F16=0); use f32`);
  const buffer = r.pool.acquire(bytes);
  // (Never for uploads: writeBuffer runs before recorded commands, so the fill would land
  // on top of the uploaded values.)
  if (poison && poisonBits !== null) {
    const n = buffer.size / 4;
    const [x, y] = r.grid(Math.ceil(n / 256));
    // f16: a NaN in both halves of each word (the f32 NaN pattern would leave every other
    // element reading 0.0, which a test could mistake for a written zero).
    const bits = dtype === 'f16' && poisonBits === 0x7fc00000 ? 0x7e007e00 : poisonBits;
    r.dispatch(r.kernel('fill'), [{ buffer }], [n, bits, 0, 0], [x, y]);
  }
  return new Tensor([...shape], dtype, new Storage(buffer, buffer.size, true, bytes));
}

/** A view sharing `base`'s storage (reshape without copy, or an arena slice). */
export function view(base: Tensor, shape: Shape, byteOffset = base.byteOffset, dtype: DType = base.dtype): Tensor {
  base.assertAlive();
  // Inside what the storage was allocated for (the pool's bucket may be larger: its slack holds
  // no values), or a kernel would read past it (an unnamed GPU error at a later sync).
  const bytes = numel(shape) * BYTES[dtype];
  if (!Number.isInteger(byteOffset) || byteOffset < 0 || byteOffset + bytes > base.storage.requestedBytes) {
    throw new Error(`view [${shape}] ${dtype} at byte ${byteOffset}: outside the ${base.storage.requestedBytes} bytes of tensor #${base.id} [${base.shape}]'s storage`);
  }
  if (byteOffset % BYTES[dtype] !== 0) throw new Error(`view [${shape}] ${dtype} at byte ${byteOffset}: not a multiple of the element size (${BYTES[dtype]}) in tensor #${base.id} [${base.shape}]`);
  return new Tensor([...shape], dtype, base.storage.retain(), byteOffset);
}

/** A view of a raw buffer owned elsewhere (parameter arenas): never returned to the pool by the tensor. */
export function external(buffer: GPUBuffer, shape: Shape, dtype: DType, byteOffset: number): Tensor {
  return new Tensor([...shape], dtype, new Storage(buffer, buffer.size, false), byteOffset);
}

type HostArray = ArrayLike<number>;

/** Uploads host values. Integer tensors keep a host copy for ops that need indices on the CPU. */
export function fromArray(data: HostArray, shape: Shape, dtype: DType = 'f32'): Tensor {
  const n = numel(shape);
  if (data.length !== n) throw new Error(`fromArray: ${data.length} values for shape [${shape}] (${n} elements)`);
  const t = allocate(shape, dtype, false);
  let typed: ArrayBufferView;
  switch (dtype) {
    case 'f32':
      typed = data instanceof Float32Array ? data : Float32Array.from(data);
      break;
    case 'f16':
      typed = new Uint16Array(Float16Array.from(data).buffer);
      break;
    // Indices keep a host copy (bounds checks, the embedding's backward), a copy of their own:
    // the caller may reuse its array after the upload.
    case 'i32':
      typed = Int32Array.from(data);
      t.hostData = typed as Int32Array;
      break;
    case 'u32':
      typed = Uint32Array.from(data);
      t.hostData = typed as Uint32Array;
      break;
  }
  rt().upload(t.storage.buffer, 0, typed);
  return t;
}

export function scalar(x: number, dtype: DType = 'f32'): Tensor {
  return fromArray([x], [], dtype);
}

// ---------------------------------------------------------------------------------------
// Scopes: every tensor created inside a scope is disposed when the scope ends, except those
// the scope returns (moved to the enclosing scope) and those explicitly kept.

const scopes: Set<Tensor>[] = [];

function trackInScope(t: Tensor): void {
  scopes[scopes.length - 1]?.add(t);
}

/** Exempts tensors from their scope's cleanup (parameters, optimizer state, caches). */
export function keep<T extends Tensor>(t: T): T {
  for (const s of scopes) s.delete(t);
  return t;
}

export function startScope(): Set<Tensor> {
  const scope = new Set<Tensor>();
  scopes.push(scope);
  return scope;
}

/**
 * Ends the innermost scope: disposes its tensors except those reachable from `result`. Given
 * `expected` (what startScope returned), the innermost scope must be that one: scopes are one
 * stack, so two async scopes running at once (not nested) would free each other's tensors;
 * that is refused, loudly, rather than done.
 */
export function endScope(result?: unknown, expected?: Set<Tensor>): void {
  if (expected && scopes[scopes.length - 1] !== expected) {
    // Taken off the stack (its tensors left alone: which scope they belong to is unknowable now),
    // so that the scopes still open end in order.
    const at = scopes.lastIndexOf(expected);
    if (at >= 0) scopes.splice(at, 1);
    throw new Error('scope ended out of order: two tidyAsync scopes ran at once without nesting (await one before starting another)');
  }
  const scope = scopes.pop();
  if (!scope) throw new Error('endScope without startScope');
  const survivors = new Set<Tensor>();
  collectTensors(result, survivors);
  const parent = scopes[scopes.length - 1];
  for (const t of scope) {
    if (survivors.has(t) || isGradOfSurvivor(t, survivors)) parent?.add(t);
    else t.dispose();
  }
}

function isGradOfSurvivor(t: Tensor, survivors: Set<Tensor>): boolean {
  for (const s of survivors) if (s.grad === t) return true;
  return false;
}

function collectTensors(x: unknown, out: Set<Tensor>, depth = 0): void {
  if (depth > 4 || x === null || typeof x !== 'object') return;
  if (x instanceof Tensor) {
    out.add(x);
    return;
  }
  const values = Array.isArray(x) ? x : x instanceof Map ? [...x.values()] : Object.values(x);
  for (const v of values) collectTensors(v, out, depth + 1);
}

/** Runs `fn` in a scope (sync). Tensors it creates are freed at the end unless returned or kept. */
export function tidy<T>(fn: () => T): T {
  const scope = startScope();
  let result: T | undefined;
  try {
    result = fn();
    // The scope would end at the first await: tensors made after it would escape it.
    if (result instanceof Promise) throw new Error('tidy got an async function: use tidyAsync');
    return result;
  } finally {
    endScope(result, scope);
  }
}

/** Async form of tidy: the scope spans the awaited function. Such scopes nest; they must not overlap. */
export async function tidyAsync<T>(fn: () => Promise<T>): Promise<T> {
  const scope = startScope();
  let result: T | undefined;
  try {
    result = await fn();
    return result;
  } finally {
    endScope(result, scope);
  }
}

export function liveTensorCount(): number {
  return liveTensors;
}
