// TensorFlow.js WebGPU peer: runs tfjs's WebGPU backend on the same Dawn adapter as the
// engine, for side-by-side timings in the same process (see /work/shared/PLATFORM.md).
//
//   const peer = await createTfjsPeer();
//   const { ms_median } = await peer.timeMatmul(1024, 1024, 1024, 5);
//   await peer.timeOp((tf) => [tf.randomNormal([64, 128])], (tf, [x]) => tf.softmax(x), 5);
//   await peer.dispose();
//
// Each timed sample runs the op `inner` times (enough for ~30 ms) and then waits for a
// readback of one element of the last output, so the figures include tfjs's dispatch and one
// sync per sample, as the engine's own benchmarks (bench/harness.ts) do. The *Paired timings
// alternate the peer's samples with the engine's and report the median of the ratios. CPU
// forwarding of small tensors (WEBGPU_CPU_FORWARD) is turned off so everything runs on the GPU.
// tfjs is imported lazily (it is a devDependency) after navigator.gpu is installed, as the
// backend looks for navigator.gpu when it registers.
import { create, globals } from 'webgpu';
import type { PairedTiming } from '../common.js';

/* eslint-disable @typescript-eslint/no-explicit-any */
type Tf = any; // the @tensorflow/tfjs namespace (typed loosely: webgpu internals are untyped)
type TfTensor = any;

export interface TimeResult {
  ms_median: number;
  ms_all: number[];
}

/** A peer timing paired with this engine's: both medians and the median ratio peer / ours. */
export interface PairedResult extends TimeResult, PairedTiming {
  ours_ms_median: number;
}

export interface TfjsPeer {
  /** The tfjs namespace, for building custom comparisons. */
  readonly tf: Tf;
  /** The adapter's description, e.g. "llvmpipe ...". */
  readonly adapterInfo: string;
  /** C = op(A) @ op(B), [M, N] with inner size K (random normal; transposed operands stored transposed), timed over `reps` samples after one warm-up. */
  timeMatmul(M: number, N: number, K: number, reps?: number, trans?: { transA?: boolean; transB?: boolean }): Promise<TimeResult>;
  /**
   * Generic timing: `build` makes the inputs once (not timed); `run` is timed in `reps` samples
   * after one warm-up, each sample `inner` runs then `await out.data()` on the last. Inputs and
   * outputs are disposed.
   */
  timeOp(
    build: (tf: Tf) => TfTensor[],
    run: (tf: Tf, inputs: TfTensor[]) => TfTensor,
    reps?: number,
  ): Promise<TimeResult>;
  /** timeOp in alternating pairs with one sample of this engine's side (`ours`: ms per launch). */
  timeOpPaired(build: (tf: Tf) => TfTensor[], run: (tf: Tf, inputs: TfTensor[]) => TfTensor, ours: () => Promise<number>, pairs?: number): Promise<PairedResult>;
  timeMatmulPaired(M: number, N: number, K: number, ours: () => Promise<number>, pairs?: number, trans?: { transA?: boolean; transB?: boolean }): Promise<PairedResult>;
  /** Releases the backend's device, removes navigator, so the process can exit. */
  dispose(): Promise<void>;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n === 0 ? NaN : n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

export async function createTfjsPeer(): Promise<TfjsPeer> {
  Object.assign(globalThis, globals);
  const g = globalThis as any;
  const hadNavigator = Object.prototype.hasOwnProperty.call(g, 'navigator');
  const prevNavigator = g.navigator;
  // Our own Dawn instance, strongly referenced for the peer's whole life (a collected
  // instance under a live device crashes Dawn: PLATFORM.md).
  let gpu: any = create([]);
  Object.defineProperty(g, 'navigator', { value: { gpu }, configurable: true, writable: true });

  const tf: Tf = await import('@tensorflow/tfjs');
  await import('@tensorflow/tfjs-backend-webgpu');
  const ok = await tf.setBackend('webgpu');
  if (!ok) throw new Error('tfjs: the webgpu backend failed to initialise on this adapter');
  await tf.ready();
  tf.env().set('WEBGPU_CPU_FORWARD', false);
  const backend: any = tf.backend();
  const device: any = backend.device;
  const adapterInfo: string = (() => {
    const i = backend.adapterInfo ?? {};
    return [i.vendor, i.architecture, i.description].filter(Boolean).join(' ') || 'unknown';
  })();
  let disposed = false;

  /** Inputs built and resident; `sample(inner)`: ms per run over `inner` runs and one wait. */
  async function sampler(build: (tf: Tf) => TfTensor[], run: (tf: Tf, inputs: TfTensor[]) => TfTensor) {
    if (disposed) throw new Error('tfjs peer: already disposed');
    const inputs = build(tf);
    await Promise.all(inputs.map((t) => t.data())); // inputs resident before timing
    // Timed as this engine is (bench/harness.ts timeGpu): `inner` launches, then one wait for
    // the GPU (here a readback of one element of the last output, which waits for every queued
    // launch), so neither side pays a sync per launch: on a fast GPU a readback per launch
    // would be most of a small op's time.
    const sample = async (inner: number): Promise<number> => {
      const t0 = performance.now();
      let out: TfTensor | null = null;
      for (let i = 0; i < inner; i++) {
        const next = run(tf, inputs);
        out?.dispose();
        out = next;
      }
      // One element of it: the wait is for the queued work, not for copying a large output
      // back (this engine's side reads nothing back either).
      const probe = tf.slice(tf.reshape(out!, [-1]), [0], [1]);
      await probe.data();
      const dt = (performance.now() - t0) / inner;
      probe.dispose();
      out!.dispose();
      return dt;
    };
    await sample(1); // warm-up: pipeline compilation
    const once = await sample(1);
    const inner = Math.max(1, Math.min(200, Math.ceil(30 / Math.max(once, 1e-3))));
    return { sample: () => sample(inner), dispose: () => { for (const t of inputs) t.dispose(); } };
  }

  async function timeOp(build: (tf: Tf) => TfTensor[], run: (tf: Tf, inputs: TfTensor[]) => TfTensor, reps = 5): Promise<TimeResult> {
    const s = await sampler(build, run);
    try {
      const all: number[] = [];
      for (let r = 0; r < reps; r++) all.push(await s.sample());
      return { ms_median: median(all), ms_all: all };
    } finally {
      s.dispose();
    }
  }

  /**
   * The op timed in alternating pairs with `ours` (one sample of this engine's side, ms per
   * launch): machine drift moves separately taken medians by tens of percent here, so the
   * ratio is the median of the pairs' ratios (peer / ours), with quartiles.
   */
  async function timeOpPaired(build: (tf: Tf) => TfTensor[], run: (tf: Tf, inputs: TfTensor[]) => TfTensor, ours: () => Promise<number>, pairs = 7): Promise<PairedResult> {
    const s = await sampler(build, run);
    try {
      const peerMs: number[] = [], ourMs: number[] = [], ratio: number[] = [];
      for (let i = 0; i < pairs; i++) {
        let p: number, o: number;
        if (i % 2 === 0) { o = await ours(); p = await s.sample(); } else { p = await s.sample(); o = await ours(); }
        peerMs.push(p); ourMs.push(o); ratio.push(p / o);
      }
      const q = (xs: number[], f: number) => [...xs].sort((x, y) => x - y)[Math.floor(f * (xs.length - 1))]!;
      return { ms_median: median(peerMs), ms_all: peerMs, ours_ms_median: median(ourMs), ratio_median: q(ratio, 0.5), ratio_q1: q(ratio, 0.25), ratio_q3: q(ratio, 0.75), pairs };
    } finally {
      s.dispose();
    }
  }

  const matmulOp = (M: number, N: number, K: number, trans: { transA?: boolean; transB?: boolean }) => [
    (t: Tf) => [t.randomNormal(trans.transA ? [K, M] : [M, K]), t.randomNormal(trans.transB ? [N, K] : [K, N])],
    (t: Tf, [a, b]: TfTensor[]) => t.matMul(a, b, trans.transA ?? false, trans.transB ?? false),
  ] as const;

  return {
    tf,
    adapterInfo,
    timeOp,
    timeOpPaired,
    timeMatmul(M: number, N: number, K: number, reps = 5, trans: { transA?: boolean; transB?: boolean } = {}) {
      return timeOp(...matmulOp(M, N, K, trans), reps);
    },
    timeMatmulPaired(M: number, N: number, K: number, ours: () => Promise<number>, pairs = 7, trans: { transA?: boolean; transB?: boolean } = {}) {
      return timeOpPaired(...matmulOp(M, N, K, trans), ours, pairs);
    },
    async dispose() {
      if (disposed) return;
      disposed = true;
      try {
        tf.disposeVariables();
        tf.engine().reset();
        tf.removeBackend('webgpu');
      } catch {
        /* best effort */
      }
      try {
        device?.destroy?.();
      } catch {
        /* already gone */
      }
      if (hadNavigator) Object.defineProperty(g, 'navigator', { value: prevNavigator, configurable: true, writable: true });
      else delete g.navigator;
      gpu = null;
    },
  };
}
