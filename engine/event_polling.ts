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
// GPU finished. Only Dawn's own callbacks (native functions) are paced; every other
// setImmediate call goes through untouched.
//
// Why spin at all: a batch-1 decoding pass is ~5 ms of small dispatches, and there the hot
// loop is worth more than the core it takes (pacing from 0.2 ms on made explicit-CoT decoding
// 180-200 ms per question against 165-185 spinning). Measured A/B on the 2-core machine, runs
// interleaved (spin / pacing from 5 ms / from 10 ms / from 0.2 ms): training step (tiny,
// batch 32) 162-202 / 106-115 / 124-126 / 129-142 ms; batch-1 explicit CoT 165-185 / 153-171 /
// 137-149 / 180-198 ms per question, IVT-LR drafted 17.7-18.1 / 16.8-17.1 / 18.3-20.8 /
// 23.3-27.5 ms; 8 matmuls of 1024^3 1.6-2.3 / 1.0-1.4 / 1.0-1.2 / 1.0-1.5 s. Hence 5 ms.
// IVT_POLL=spin keeps Dawn's loop as it is; IVT_POLL_SPIN_MS sets the spinning phase.

let installed = false;

export function paceDawnPolling(): void {
  if (installed || process.env.IVT_POLL === 'spin') return;
  installed = true;
  const spinMs = Number(process.env.IVT_POLL_SPIN_MS ?? 5);
  const immediate = globalThis.setImmediate;
  const nativeSource = /\{\s*\[native code\]\s*\}\s*$/;
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  let inDawnTick = false;
  let waitStart = 0;
  const paced = function (fn: (...a: unknown[]) => void, ...args: unknown[]) {
    if (typeof fn !== 'function' || !nativeSource.test(Function.prototype.toString.call(fn))) {
      return immediate(fn, ...args);
    }
    // Queued from outside a Dawn tick: a new wait begins (a promise was created while none
    // was pending). Queued from inside one: the same wait goes on.
    const now = performance.now();
    if (!inDawnTick) waitStart = now;
    const waited = now - waitStart;
    return immediate(() => {
      if (waited >= spinMs) Atomics.wait(sleeper, 0, 0, Math.min(1, Math.max(0.05, 0.05 * waited)));
      inDawnTick = true;
      try {
        fn(...args);
      } finally {
        inDawnTick = false;
      }
    });
  };
  globalThis.setImmediate = Object.assign(paced, { __promisify__: immediate.__promisify__ }) as unknown as typeof setImmediate;
}
