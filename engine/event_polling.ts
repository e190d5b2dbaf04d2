// How the main thread waits for the GPU.
//
// Dawn's Node binding resolves GPU promises (onSubmittedWorkDone, mapAsync, ...) by polling:
// while any is pending it re-queues a native callback with the global `setImmediate`, each
// one calling ProcessEvents: a busy loop that keeps the main thread at 100% of a core for as
// long as the GPU works. On a CPU adapter (lavapipe) that core is one the driver's worker
// threads need: on the 2-core machine, 8 matmuls of 1024^3 took 1.7-2.7 s with the loop
// spinning (main thread 1.3-2.0 s of CPU) and 0.95-1.5 s with it backed off (50-110 ms).
//
// The binding looks `setImmediate` up on the global object each time it re-queues, so the
// loop can be paced from here: the first `spinMs` of a wait keep the immediate re-queue; after
// that each poll first sleeps the main thread (Atomics.wait: blocked, not spinning) for 5% of
// the time waited so far, between 0.05 and 1 ms, so a wait ends at most ~5% later than the
// GPU finished.
//
// Which calls are Dawn's: the binding passes a native function of no parameters with no name.
// Promise resolvers (one parameter), bound functions ("bound f") and JS functions do not match
// and go through untouched. A wait begins when Dawn queues a poll while none of its polls is
// queued or running; every Dawn instance in the process (the engine's, TensorFlow.js's in the
// benchmarks) shares that state, so two waiting at once are paced as one wait.
//
// Why spin at all: a batch-1 decoding pass is ~5 ms of small dispatches, and there the hot
// loop is worth more than the core it takes (pacing from 0.2 ms on made explicit-CoT decoding
// 180-200 ms per question against 165-185 spinning). Measured A/B on the 2-core machine, runs
// interleaved (spin / pacing from 5 ms / from 10 ms / from 0.2 ms): training step (tiny,
// batch 32) 162-202 / 106-115 / 124-126 / 129-142 ms; batch-1 explicit CoT 165-185 / 153-171 /
// 137-149 / 180-198 ms per question, IVT-LR drafted 17.7-18.1 / 16.8-17.1 / 18.3-20.8 /
// 23.3-27.5 ms; 8 matmuls of 1024^3 1.6-2.3 / 1.0-1.4 / 1.0-1.2 / 1.0-1.5 s. Hence 5 ms.
// IVT_POLL=spin keeps Dawn's loop as it is; IVT_POLL_SPIN_MS sets the spinning phase.
import { promisify } from 'node:util';

let installed = false;
/** Counters for tests: Dawn polls seen, and how many of them slept first. */
const stats = { polls: 0, sleeps: 0 };

export function pollingStats(): { installed: boolean; polls: number; sleeps: number } {
  return { installed, ...stats };
}

export function paceDawnPolling(): void {
  if (installed || process.env.IVT_POLL === 'spin') return;
  installed = true;
  const parsed = Number(process.env.IVT_POLL_SPIN_MS ?? 5);
  const spinMs = Number.isFinite(parsed) && parsed >= 0 ? parsed : 5;
  const immediate = globalThis.setImmediate;
  const nativeSource = /\{\s*\[native code\]\s*\}\s*$/;
  const isDawnPoll = (fn: unknown): boolean =>
    typeof fn === 'function' && fn.length === 0 && fn.name === '' && nativeSource.test(Function.prototype.toString.call(fn));
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  let inFlight = 0; // Dawn polls queued or running
  let waitStart = 0;
  const paced = function (fn: (...a: unknown[]) => void, ...args: unknown[]) {
    if (!isDawnPoll(fn)) return immediate(fn, ...args);
    const now = performance.now();
    if (inFlight === 0) waitStart = now;
    const waited = now - waitStart;
    inFlight++;
    stats.polls++;
    return immediate(() => {
      if (waited >= spinMs) {
        stats.sleeps++;
        Atomics.wait(sleeper, 0, 0, Math.min(1, Math.max(0.05, 0.05 * waited)));
      }
      try {
        fn(...args);
      } finally {
        inFlight--;
      }
    });
  };
  // util.promisify(setImmediate) keeps working: Node attaches it under util.promisify.custom.
  const custom = Object.getOwnPropertyDescriptor(immediate, promisify.custom);
  if (custom) Object.defineProperty(paced, promisify.custom, custom);
  globalThis.setImmediate = paced as unknown as typeof setImmediate;
}
