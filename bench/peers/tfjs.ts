// TensorFlow.js WebGPU peer: runs tfjs's WebGPU backend on the same Dawn adapter as the
// engine, for side-by-side timings in the same process (see /work/shared/PLATFORM.md).
//
//   const peer = await createTfjsPeer();
//   const { ms_median } = await peer.timeMatmul(1024, 1024, 1024, 5);
//   await peer.timeOp((tf) => [tf.randomNormal([64, 128])], (tf, [x]) => tf.softmax(x), 5);
//   await peer.dispose();
//
// Each timed sample runs the op `inner` times (enough for ~30 ms) and then waits for a real
// readback of the last output (`await t.data()`), so the figures include tfjs's dispatch and
// one sync per sample, as the engine's own benchmarks (bench/harness.ts) do. CPU
// forwarding of small tensors (WEBGPU_CPU_FORWARD) is turned off so everything runs on the GPU.
// tfjs is imported lazily (it is a devDependency) after navigator.gpu is installed, as the
// backend looks for navigator.gpu when it registers.
import { create, globals } from 'webgpu';

/* eslint-disable @typescript-eslint/no-explicit-any */
type Tf = any; // the @tensorflow/tfjs namespace (typed loosely: webgpu internals are untyped)
type TfTensor = any;

export interface TimeResult {
  ms_median: number;
  ms_all: number[];
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

  async function timeOp(
    build: (tf: Tf) => TfTensor[],
    run: (tf: Tf, inputs: TfTensor[]) => TfTensor,
    reps = 5,
  ): Promise<TimeResult> {
    if (disposed) throw new Error('tfjs peer: already disposed');
    const inputs = build(tf);
    try {
      await Promise.all(inputs.map((t) => t.data())); // inputs resident before timing
      // Timed as this engine is (bench/harness.ts timeGpu): `inner` launches, then one wait for
      // the GPU (here a readback of one element of the last output, which waits for every queued
      // launch), so
      // neither side pays a sync per launch: on a fast GPU a readback per launch would be most
      // of a small op's time.
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
      const all: number[] = [];
      for (let r = 0; r < reps; r++) all.push(await sample(inner));
      return { ms_median: median(all), ms_all: all };
    } finally {
      for (const t of inputs) t.dispose();
    }
  }

  return {
    tf,
    adapterInfo,
    timeOp,
    timeMatmul(M: number, N: number, K: number, reps = 5, trans: { transA?: boolean; transB?: boolean } = {}) {
      return timeOp(
        (t) => [t.randomNormal(trans.transA ? [K, M] : [M, K]), t.randomNormal(trans.transB ? [N, K] : [K, N])],
        (t, [a, b]) => t.matMul(a, b, trans.transA ?? false, trans.transB ?? false),
        reps,
      );
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
