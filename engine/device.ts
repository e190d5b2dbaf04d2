// Owns the WebGPU instance, adapter and device together, for exactly as long as the device
// lives. Dawn's instance must outlive every device created from it: if the object returned
// by `create()` is garbage-collected while a device is busy, Dawn frees the instance under it
// and the process crashes in ProcessEvents (see PLATFORM.md). Holding all three in one object
// makes that impossible by construction; `shutdown()` releases them together so Node can exit.
import { create, globals } from 'webgpu';
import { GpuError, UserError } from './errors.js';

/** Storage buffers the widest kernel binds (attention's backward for queries, shaders/attention.wgsl). */
export const MIN_STORAGE_BUFFERS = 9;
import { paceDawnPolling } from './event_polling.js';

Object.assign(globalThis, globals);

export type Backend = 'vulkan' | 'opengles' | 'd3d12' | 'metal' | 'null';

export interface DeviceOptions {
  /** Dawn backend; default: Dawn's own choice. Also read from IVT_BACKEND. */
  backend?: Backend;
  /** 'low-power' | 'high-performance'; also IVT_POWER. */
  powerPreference?: GPUPowerPreference;
  /** Substring of the adapter's description/device name to insist on; also IVT_ADAPTER. */
  adapterMatch?: string;
  /** Use f16 where the adapter supports it (default true). IVT_F16=0 turns it off. */
  allowF16?: boolean;
}

export class Device {
  readonly features: ReadonlySet<string>;
  readonly limits: GPUSupportedLimits;
  /** limits.maxStorageBufferBindingSize as a plain number: every tensor binding is checked against it. */
  readonly maxBindingBytes: number;
  readonly hasF16: boolean;
  readonly hasTimestamps: boolean;
  /**
   * A workgroup of 8 invocations is one subgroup (feature 'subgroups', subgroupMinSize >= 8,
   * as on lavapipe): what the subgroup-broadcast matmul and attention kernels need.
   */
  readonly hasEightLaneSubgroups: boolean;
  /**
   * The adapter is a CPU rasteriser (lavapipe/llvmpipe, SwiftShader, WARP): Dawn's fallback
   * adapter or a 'software' architecture. Its storage loads are per-lane scalar loops and its
   * workgroup memory is ordinary memory, so it gets the subgroup-broadcast kernels; GPUs get
   * the workgroup-memory tiled ones.
   */
  readonly isCpu: boolean;
  /** The subgroup-broadcast matmul and attention kernels are the ones to run here. */
  readonly subgroupBroadcastKernels: boolean;
  private lostReason: string | null = null;
  private pendingErrors: string[] = [];

  private constructor(
    private gpuInstance: GPU | null,
    readonly adapter: GPUAdapter,
    readonly gpu: GPUDevice,
    readonly backend: string,
  ) {
    this.features = new Set([...gpu.features] as string[]);
    this.limits = gpu.limits;
    this.maxBindingBytes = gpu.limits.maxStorageBufferBindingSize;
    this.hasF16 = this.features.has('shader-f16');
    this.hasTimestamps = this.features.has('timestamp-query');
    const info = adapter.info as GPUAdapterInfo & { subgroupMinSize?: number };
    this.hasEightLaneSubgroups = this.features.has('subgroups') && (info.subgroupMinSize ?? 0) >= 8;
    const fallback = (info as GPUAdapterInfo & { isFallbackAdapter?: boolean }).isFallbackAdapter === true;
    this.isCpu = fallback || info.architecture === 'software' || /llvmpipe|lavapipe|swiftshader|\bwarp\b/i.test(`${info.device} ${info.description}`);
    this.subgroupBroadcastKernels = this.hasEightLaneSubgroups && this.isCpu;
    // Validation and out-of-memory errors that nobody scoped arrive here asynchronously.
    // They are queued and thrown at the next synchronisation point (flush or readback),
    // so the caller sees a JS error near the work that caused it.
    gpu.addEventListener('uncapturederror', (ev: Event) => {
      const e = (ev as GPUUncapturedErrorEvent).error;
      this.pendingErrors.push(`${e.constructor?.name ?? 'GPUError'}: ${e.message}`);
    });
    gpu.lost.then((info) => {
      if (info.reason !== 'destroyed') this.lostReason = `${info.reason}: ${info.message}`;
    });
  }

  static async open(opts: DeviceOptions = {}): Promise<Device> {
    const backend = opts.backend ?? (process.env.IVT_BACKEND as Backend | undefined);
    const power = opts.powerPreference ?? (process.env.IVT_POWER as GPUPowerPreference | undefined);
    const match = opts.adapterMatch ?? process.env.IVT_ADAPTER;
    const allowF16 = opts.allowF16 ?? process.env.IVT_F16 !== '0';
    const dawnFlags: string[] = [];
    if (backend) dawnFlags.push(`backend=${backend}`);
    if (power) dawnFlags.push(`power-preference=${power}`);
    if (backend === 'opengles' && !process.env.EGL_PLATFORM) process.env.EGL_PLATFORM = 'surfaceless';
    paceDawnPolling();
    const instance = create(dawnFlags);
    const compat = backend === 'opengles';
    const request: GPURequestAdapterOptions = compat ? ({ featureLevel: 'compatibility' } as GPURequestAdapterOptions) : {};
    if (power) request.powerPreference = power;
    const adapter = await instance.requestAdapter(request);
    if (!adapter) throw new UserError(noAdapterHelp(backend));
    const info = adapter.info;
    const name = `${info.vendor} ${info.architecture} ${info.device} ${info.description}`;
    if (match && !name.toLowerCase().includes(match.toLowerCase())) {
      throw new UserError(`the adapter found is "${name.trim()}", which does not match IVT_ADAPTER/--adapter "${match}"`);
    }
    // Ask for everything the adapter offers that we use; never assume a limit.
    const wanted: GPUFeatureName[] = [];
    for (const f of ['shader-f16', 'timestamp-query', 'subgroups'] as GPUFeatureName[]) {
      if (adapter.features.has(f) && (f !== 'shader-f16' || allowF16)) wanted.push(f);
    }
    const al = adapter.limits;
    const requiredLimits: Record<string, number> = {
      maxStorageBufferBindingSize: al.maxStorageBufferBindingSize,
      maxBufferSize: al.maxBufferSize,
      maxComputeWorkgroupStorageSize: al.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: al.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupSizeX: al.maxComputeWorkgroupSizeX,
      maxComputeWorkgroupSizeY: al.maxComputeWorkgroupSizeY,
      maxStorageBuffersPerShaderStage: al.maxStorageBuffersPerShaderStage,
    };
    // The attention backward kernel for queries binds 9 storage buffers; WebGPU guarantees 8.
    if (al.maxStorageBuffersPerShaderStage < MIN_STORAGE_BUFFERS) {
      throw new UserError(`the adapter "${name.trim()}" allows ${al.maxStorageBuffersPerShaderStage} storage buffers per shader stage; the attention kernels need ${MIN_STORAGE_BUFFERS}`);
    }
    const gpu = await adapter.requestDevice({ requiredFeatures: wanted, requiredLimits });
    return new Device(instance, adapter, gpu, backend ?? 'default');
  }

  /** One line naming the adapter, e.g. "mesa llvmpipe (Mesa 25.0.7, LLVM 15)". */
  describe(): string {
    const i = this.adapter.info;
    return [i.vendor, i.architecture, i.device, i.description].filter(Boolean).join(' ').replace(/\s+/g, ' ').trim();
  }

  /** Throws if the device was lost or an uncaptured GPU error has arrived since the last check. */
  check(): void {
    if (this.lostReason) throw new GpuError(`GPU device lost (${this.lostReason}); the run cannot continue`);
    if (this.pendingErrors.length) {
      const errs = this.pendingErrors.splice(0);
      throw new GpuError(`GPU error: ${errs.join('; ')}`);
    }
  }

  get isLost(): boolean {
    return this.lostReason !== null;
  }

  /** Releases device, adapter and instance together. Safe to call twice. */
  shutdown(): void {
    if (!this.gpuInstance) return;
    this.gpu.destroy();
    this.gpuInstance = null;
  }
}

function noAdapterHelp(backend?: string): string {
  return [
    `no WebGPU adapter found${backend ? ` for backend "${backend}"` : ''}.`,
    'Dawn needs a Vulkan driver. Without a GPU, install Mesa >= 23 lavapipe:',
    'on Debian 12, add the bookworm-backports suite and `apt-get install -t bookworm-backports mesa-vulkan-drivers`',
    '(`bash scripts/setup.sh` does this when run as root). Debian 12\'s own Mesa 22 is refused by Dawn.',
    'Fallback: IVT_BACKEND=opengles (OpenGL ES compatibility mode, tighter limits). Set XDG_RUNTIME_DIR for Mesa.',
  ].join(' ');
}

let current: Device | null = null;
let opening: Promise<Device> | null = null;

/** The process-wide device, opened on first use. */
export async function getDevice(opts?: DeviceOptions): Promise<Device> {
  if (current) return current;
  opening ??= Device.open(opts).then((d) => (current = d));
  try {
    return await opening;
  } finally {
    opening = null;
  }
}

/** The already-opened device; throws if `getDevice()` has not completed. */
export function device(): Device {
  if (!current) throw new Error('GPU device not initialised: await getDevice() first');
  return current;
}

export function shutdownDevice(): void {
  current?.shutdown();
  current = null;
}
