// Shared setup for the kernel experiments: one Dawn instance kept alive for the device's life.
import { create, globals } from 'webgpu';
// The engine's pacing of Dawn's wait loop (engine/event_polling.ts; needs `npx tsc` first),
// so experiments wait for the GPU the way the engine does. IVT_POLL=spin turns it off.
import { paceDawnPolling } from '../../dist/engine/event_polling.js';
Object.assign(globalThis, globals);
paceDawnPolling();

export async function initGpu() {
  // DAWN_FLAGS='enable-dawn-features=a,b;disable-dawn-features=c' passes Dawn toggles through.
  const gpu = create((process.env.DAWN_FLAGS ?? '').split(';').filter(Boolean));
  globalThis.__gpu = gpu; // strong ref: see PLATFORM.md crash note
  const adapter = await gpu.requestAdapter();
  globalThis.__adapter = adapter;
  const want = ['shader-f16', 'timestamp-query', 'subgroups'];
  const requiredFeatures = want.filter((f) => adapter.features.has(f));
  const L = adapter.limits;
  const device = await adapter.requestDevice({
    requiredFeatures,
    requiredLimits: {
      maxComputeWorkgroupStorageSize: L.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: L.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupSizeX: L.maxComputeWorkgroupSizeX,
      maxComputeWorkgroupSizeY: L.maxComputeWorkgroupSizeY,
      maxStorageBufferBindingSize: L.maxStorageBufferBindingSize,
      maxBufferSize: L.maxBufferSize,
    },
  });
  globalThis.__device = device;
  device.addEventListener?.('uncapturederror', (e) => console.error('GPU error', e.error?.message));
  return { gpu, adapter, device, features: requiredFeatures };
}

export function subst(src, vars) {
  return src.replace(/\{\{(\w+)\}\}/g, (_, k) => {
    if (!(k in vars)) throw new Error('missing template key ' + k);
    return String(vars[k]);
  });
}

export async function compile(device, code, label = 'k', entryPoint = 'main') {
  const module = device.createShaderModule({ code, label });
  const info = await module.getCompilationInfo();
  const errs = info.messages.filter((m) => m.type === 'error');
  if (errs.length) throw new Error(label + ': ' + errs.map((m) => `${m.lineNum}:${m.linePos} ${m.message}`).join('\n'));
  device.pushErrorScope('validation');
  const pipe = await device.createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint } });
  const e = await device.popErrorScope();
  if (e) throw new Error(label + ': ' + e.message);
  return pipe;
}

export function buf(device, data, usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST) {
  const size = Math.max(16, Math.ceil(data.byteLength / 16) * 16);
  const b = device.createBuffer({ size, usage });
  device.queue.writeBuffer(b, 0, data.buffer, data.byteOffset, data.byteLength);
  return b;
}

export function ubuf(device, u32s) {
  const a = new Uint32Array(Math.max(4, Math.ceil(u32s.length / 4) * 4));
  a.set(u32s);
  return buf(device, a, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
}

export async function readback(device, src, bytes) {
  const size = Math.ceil(bytes / 4) * 4;
  const rb = device.createBuffer({ size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const enc = device.createCommandEncoder();
  enc.copyBufferToBuffer(src, 0, rb, 0, size);
  device.queue.submit([enc.finish()]);
  await rb.mapAsync(GPUMapMode.READ);
  const out = rb.getMappedRange().slice(0);
  rb.unmap();
  rb.destroy();
  return out;
}

export function bindGroup(device, pipe, bufs) {
  return device.createBindGroup({
    layout: pipe.getBindGroupLayout(0),
    entries: bufs.map((b, i) => ({ binding: i, resource: { buffer: b } })),
  });
}

// Median ms per dispatch: `inner` dispatches per submit, `outer` timed submits.
export async function timeDispatch(device, pipe, bg, wg, { inner = 4, outer = 5, warm = 1 } = {}) {
  const run = async () => {
    const enc = device.createCommandEncoder();
    for (let i = 0; i < inner; i++) {
      const p = enc.beginComputePass();
      p.setPipeline(pipe);
      p.setBindGroup(0, bg);
      p.dispatchWorkgroups(wg[0], wg[1] ?? 1, wg[2] ?? 1);
      p.end();
    }
    const t0 = performance.now();
    device.queue.submit([enc.finish()]);
    await device.queue.onSubmittedWorkDone();
    return (performance.now() - t0) / inner;
  };
  for (let i = 0; i < warm; i++) await run();
  const ts = [];
  for (let i = 0; i < outer; i++) ts.push(await run());
  ts.sort((a, b) => a - b);
  return ts[Math.floor(ts.length / 2)];
}

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const readShader = (name) => readFileSync(ROOT + 'shaders/' + name, 'utf8');

// Peak FMA GFLOP/s with shaders/fma_peak.wgsl (median of `outer` timed runs).
export async function measurePeak(device, { iters = 4096, invocations = 1 << 14, WG = 256, outer = 5 } = {}) {
  const pipe = await compile(device, subst(readShader('fma_peak.wgsl'), { WG }), 'fma_peak');
  const out = buf(device, new Float32Array(invocations));
  const u = ubuf(device, [iters, 0, 0, 0]);
  const bg = bindGroup(device, pipe, [out, u]);
  const ms = await timeDispatch(device, pipe, bg, [invocations / WG], { inner: 2, outer });
  out.destroy(); u.destroy();
  return (invocations * iters * 256) / (ms * 1e6);
}

export function randn(n, seed = 1) {
  const a = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) { s ^= s << 13; s ^= s >>> 17; s ^= s << 5; a[i] = ((s >>> 0) / 4294967296) * 2 - 1; }
  return a;
}
