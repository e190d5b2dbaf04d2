// Benchmark suites beyond matmul: attention (fused vs our composite vs TensorFlow.js), the
// latent-vision accumulator and top-k, layernorm and cross-entropy against copy bandwidth,
// and AdamW. Each times forward+backward where the op is trained through.
import * as E from '../engine/index.js';
import { attentionPacked } from '../engine/ops/attention.js';
import { rt, Tensor } from '../engine/tensor.js';
import { ourSampler, timeGpu, timePaired } from './harness.js';
import { stridedCopy } from '../engine/ops/shape.js';
import { setMatmulPath } from '../engine/ops/matmul_kernels.js';
import { figure, KernelFigure, pairedPeer, PeerFigure, Suite } from './common.js';
import { timeAgainstPeak } from './peak.js';

function rand(n: number, seed: number, scale = 1): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 4294967296 - 0.5) * scale;
  }
  return out;
}

/**
 * Copy bandwidth of this adapter, the denominator for memory-bound kernels: the best of the
 * engine's own vectorised copy kernel and the driver's buffer-to-buffer copy, same run.
 */
export async function measureCopyGbps(): Promise<{ gbps: number; shader: number; driver: number }> {
  const n = 8 << 20;
  const x = E.fromArray(new Float32Array(n), [n]);
  const y = E.empty([n]);
  const r = rt();
  const tShader = await timeGpu(() => stridedCopy(x, y, [n], [1], [1], 0, 0));
  const tDriver = await timeGpu(() => r.copy(x.binding(), y.binding(), n * 4));
  x.dispose();
  y.dispose();
  const shader = (2 * n * 4) / (tShader.ms_median * 1e6);
  const driver = (2 * n * 4) / (tDriver.ms_median * 1e6);
  return { gbps: Math.max(shader, driver), shader, driver };
}

/** Trains-through timing: forward, then backward from a fixed upstream gradient. */
function fwdBwd(inputs: Tensor[], f: (xs: Tensor[]) => Tensor, seedGrad: Tensor): () => void {
  return () =>
    E.tidy(() => {
      for (const t of inputs) t.grad = null;
      E.backward(f(inputs), seedGrad);
      for (const t of inputs) {
        t.grad?.dispose();
        t.grad = null;
      }
    });
}

/**
 * The first element of each of TF.js's gradients, joined: an output that depends on every
 * gradient and costs no pass over them (a sum of each, as before, added work this engine's side
 * does not do), so reading it back waits for all of them as this engine's sync does.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function firstOfEach(tf: any, grads: any[]): unknown {
  return tf.concat(grads.map((g) => tf.slice(tf.reshape(g, [-1]), [0], [1])));
}

export const attentionSuite: Suite = async (ctx) => {
  const out: KernelFigure[] = [];
  const B = 4, H = 4, hd = 64, D = H * hd;
  for (const T of ctx.quick ? [128] : [128, 512]) {
    const qkv = E.fromArray(rand(B * T * 3 * D, 3), [B, T, 3 * D]);
    qkv.requiresGrad = true;
    const g = E.fromArray(rand(B * T * D, 4), [B, T, D]);
    const fusedRun = fwdBwd([qkv], ([x]) => attentionPacked(x, { heads: H, causal: true }), g);
    // Our composite: q, k, v as [B, H, T, hd], scores, mask, softmax, weighted sum.
    const q = E.fromArray(rand(B * H * T * hd, 5), [B, H, T, hd]);
    const k = E.fromArray(rand(B * H * T * hd, 6), [B, H, T, hd]);
    const v = E.fromArray(rand(B * H * T * hd, 7), [B, H, T, hd]);
    for (const t of [q, k, v]) t.requiresGrad = true;
    const mask = new Float32Array(T * T);
    for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) mask[i * T + j] = -1e9;
    const M = E.fromArray(mask, [T, T]);
    const g4 = E.fromArray(rand(B * H * T * hd, 8), [B, H, T, hd]);
    const composite = (xs: Tensor[]) => E.matmul(E.softmax(E.add(E.mulScalar(E.matmul(xs[0], xs[1], { transB: true }), 1 / Math.sqrt(hd)), M)), xs[2]);
    // Fused and composite timed in alternating pairs (the speedup is the median of the pairs'
    // ratios): timed one after the other, machine drift moved the ratio by 25% between runs.
    const paired = await timePaired(fusedRun, fwdBwd([q, k, v], composite, g4), { pairs: ctx.quick ? 3 : T >= 512 ? 9 : 15, inner: 1 });
    const fused = paired.a, comp = paired.b;
    let peer: PeerFigure | null = null;
    if (ctx.peer) {
      const scale = 1 / Math.sqrt(hd);
      const r = await ctx.peer.timeOpPaired(
        (tf) => [tf.randomNormal([B, H, T, hd]), tf.randomNormal([B, H, T, hd]), tf.randomNormal([B, H, T, hd]), tf.tensor2d(mask, [T, T]), tf.randomNormal([B, H, T, hd])],
        (tf, [tq, tk, tv, tm, tg]) => tf.tidy(() => {
          const f = (a: unknown, b: unknown, c: unknown) => tf.matMul(tf.softmax(tf.add(tf.mul(tf.matMul(a, b, false, true), scale), tm)), c);
          return firstOfEach(tf, tf.grads(f)([tq, tk, tv], tg));
        }),
        await ourSampler(fusedRun),
        ctx.quick ? 3 : 5,
      );
      peer = pairedPeer('tfjs-webgpu composite', r);
    }
    // Causal attention does half the score work: 2 matmuls forward, 5 backward, each B*H*T*T*hd/2 FMAs.
    const flops = 7 * 2 * B * H * T * T * hd / 2;
    const f = figure(ctx, 'attention f+b', [B, H, T, hd], 'f32', fused.ms_median, { flops }, peer);
    // The peer was paired with the fused kernel; against our composite, the ratio of medians.
    const c = figure(ctx, 'attn composite', [B, H, T, hd], 'f32', comp.ms_median, { flops }, peer ? { name: peer.name, ms_median: peer.ms_median } : null);
    Object.assign(f, {
      speedup_vs_composite: Math.round(paired.ratio_median * 100) / 100,
      speedup_vs_composite_quartiles: [Math.round(paired.ratio_q1 * 100) / 100, Math.round(paired.ratio_q3 * 100) / 100],
    });
    out.push(f, c);
    if (rt().dev.hasF16) {
      // f16 storage, f32 arithmetic, same shapes: reported beside f32, no peer (TF.js has no f16 WebGPU path).
      // A leaf of its own (made without a graph): timed backward passes each run through it afresh.
      const qkv16 = E.noGrad(() => E.cast(qkv, 'f16'));
      qkv16.requiresGrad = true;
      const g16 = E.cast(g, 'f16');
      const half = await timeGpu(fwdBwd([qkv16], ([x]) => attentionPacked(x, { heads: H, causal: true }), g16), { samples: 5 });
      const h = figure(ctx, 'attention f+b', [B, H, T, hd], 'f16', half.ms_median, { flops }, null);
      (h as KernelFigure & { speedup_vs_f32?: number }).speedup_vs_f32 = Math.round((fused.ms_median / half.ms_median) * 100) / 100;
      out.push(h);
      qkv16.dispose();
      g16.dispose();
    }
    for (const t of [qkv, g, q, k, v, M, g4]) t.dispose();
  }
  return out;
};

/** The accumulator + top-k as a fraction of the attention forward they ride on. */
export const accumulatorSuite: Suite = async (ctx) => {
  const B = 4, H = 4, hd = 64, D = H * hd, T = ctx.quick ? 128 : 256, J = 64, kSel = 16;
  const qkv = E.fromArray(rand(B * T * 3 * D, 9), [B, T, 3 * D]);
  const acc = E.fromArray(new Int32Array(B * J), [B, J], 'i32');
  const img = E.fromArray(new Int32Array(B).fill(0), [B], 'i32');
  const chosen = E.fromArray(new Uint32Array(B * J), [B, J], 'u32');
  // The accumulator adds a few percent to a ~20 ms kernel: measured as paired differences
  // (timePaired), since separately taken medians drift by more than that here.
  const paired = await timePaired(
    () => E.noGrad(() => attentionPacked(qkv, { heads: H, causal: true })).dispose(),
    () => E.noGrad(() => attentionPacked(qkv, { heads: H, causal: true, accumulate: { acc, row: T - 1, imgStart: img } })).dispose(),
    { pairs: ctx.quick ? 11 : 101 });
  const plain = paired.a;
  const topk = await timeGpu(() => {
    rt().clear(chosen.binding(), chosen.byteLength);
    E.selectTopK(acc, chosen, kSel, 0).dispose();
  });
  for (const t of [qkv, acc, img, chosen]) t.dispose();
  // A median below zero is noise, counted as zero; whether the cost is resolved at all is said
  // by `accumulator_resolved`: the quartiles of the paired differences both above zero.
  const extra = Math.max(paired.diff_median, 0) + topk.ms_median;
  const fig = figure(ctx, 'accum+topk', [B, H, T, J, kSel], 'i32', extra, {}, null);
  const pct = (ms: number) => Math.round((1000 * ms) / plain.ms_median) / 10;
  Object.assign(fig, {
    pct_of_attention_forward: pct(extra),
    // The spread of the paired differences (quartiles), so a reader sees how firm the figure is.
    accumulator_ms: { median: paired.diff_median, q1: paired.diff_q1, q3: paired.diff_q3, pairs: paired.pairs },
    accumulator_resolved: paired.diff_q1 > 0,
    topk_ms: topk.ms_median,
  });
  ctx.log(`  accumulator+top-k: ${extra.toFixed(3)} ms over an attention forward of ${plain.ms_median.toFixed(2)} ms (${pct(extra)}%); accumulator alone ${paired.diff_median.toFixed(3)} ms (quartiles ${paired.diff_q1.toFixed(3)}..${paired.diff_q3.toFixed(3)} over ${paired.pairs} pairs), top-k ${topk.ms_median.toFixed(3)} ms`);
  return [fig];
};

export const memoryBoundSuite: Suite = async (ctx) => {
  const copy = await measureCopyGbps();
  const copyGbps = copy.gbps;
  ctx.log(`copy bandwidth (same run): shader ${copy.shader.toFixed(2)} GB/s, driver copy ${copy.driver.toFixed(2)} GB/s; denominator ${copyGbps.toFixed(2)} GB/s`);
  const bytes = 2 * (8 << 20) * 4;
  const out: KernelFigure[] = [
    figure(ctx, 'copy (shader)', [8 << 20], 'f32', bytes / (copy.shader * 1e6), { bytes, copyGbps }, null),
    figure(ctx, 'copy (driver)', [8 << 20], 'f32', bytes / (copy.driver * 1e6), { bytes, copyGbps }, null),
  ];
  // LayerNorm forward + backward at the model's shape.
  const N = 2048, Dm = 256;
  const x = E.fromArray(rand(N * Dm, 10), [N, Dm]);
  const gam = E.fromArray(rand(Dm, 11, 0.1).map((v) => 1 + v), [Dm]);
  const bet = E.fromArray(rand(Dm, 12), [Dm]);
  for (const t of [x, gam, bet]) t.requiresGrad = true;
  const gy = E.fromArray(rand(N * Dm, 13), [N, Dm]);
  const lnRun = fwdBwd([x, gam, bet], ([a, b, c]) => E.layerNorm(a, b, c), gy);
  const ln = await timeGpu(lnRun);
  // bytes: fwd reads x, writes y; backward_x reads x, g, writes dx; params reads x, g
  const lnBytes = 7 * N * Dm * 4;
  let lnPeer: PeerFigure | null = null;
  if (ctx.peer) {
    const r = await ctx.peer.timeOpPaired(
      (tf) => [tf.randomNormal([N, Dm]), tf.ones([Dm]), tf.zeros([Dm]), tf.randomNormal([N, Dm])],
      (tf, [tx, tg, tb, tgy]) => tf.tidy(() => {
        const f = (a: unknown, g: unknown, b: unknown) => {
          const { mean, variance } = tf.moments(a, -1, true);
          return tf.add(tf.mul(tf.mul(tf.sub(a, mean), tf.rsqrt(tf.add(variance, 1e-5))), g), b);
        };
        return firstOfEach(tf, tf.grads(f)([tx, tg, tb], tgy));
      }),
      await ourSampler(lnRun),
      ctx.quick ? 3 : 7,
    );
    lnPeer = pairedPeer('tfjs-webgpu composite', r);
  }
  out.push(figure(ctx, 'layernorm f+b', [N, Dm], 'f32', ln.ms_median, { bytes: lnBytes, copyGbps }, lnPeer));
  // And at a latent step's shape (batch 32 x 5 new positions, width 32): short rows, the
  // invocation-per-row kernels.
  const Ns = 160, Ds = 32;
  const xs = E.fromArray(rand(Ns * Ds, 15), [Ns, Ds]);
  const gs = E.fromArray(rand(Ds, 16, 0.1).map((v) => 1 + v), [Ds]);
  const bs = E.fromArray(rand(Ds, 17), [Ds]);
  for (const t of [xs, gs, bs]) t.requiresGrad = true;
  const gys = E.fromArray(rand(Ns * Ds, 18), [Ns, Ds]);
  const lnShort = await timeGpu(fwdBwd([xs, gs, bs], ([a, b, c]) => E.layerNorm(a, b, c), gys));
  out.push(figure(ctx, 'layernorm f+b', [Ns, Ds], 'f32', lnShort.ms_median, { bytes: 7 * Ns * Ds * 4, copyGbps }, null));
  // Cross-entropy (fused log-softmax) forward + backward over the vocabulary.
  const V = 320;
  const logits = E.fromArray(rand(N * V, 14, 4), [N, V]);
  logits.requiresGrad = true;
  const targets = E.fromArray(Int32Array.from({ length: N }, (_, i) => (i * 7) % V), [N], 'i32');
  const one = E.fromArray([1], []);
  const ceRun = fwdBwd([logits], ([l]) => E.crossEntropy(l, targets), one);
  const ce = await timeGpu(ceRun);
  let cePeer: PeerFigure | null = null;
  if (ctx.peer) {
    const r = await ctx.peer.timeOpPaired(
      (tf) => [tf.randomNormal([N, V]), tf.oneHot(tf.tensor1d(Array.from(targets.hostData!), 'int32'), V)],
      (tf, [tl, toh]) => tf.tidy(() => firstOfEach(tf, [tf.grad((l: unknown) => tf.losses.softmaxCrossEntropy(toh, l))(tl)])),
      await ourSampler(ceRun),
      ctx.quick ? 3 : 7,
    );
    cePeer = pairedPeer('tfjs-webgpu softmaxCE', r);
  }
  // Rows up to SERIAL_MAX_COLS take the one-pass kernel (logits read once forward; the backward
  // reads them and writes dlogits): 3 N V floats. Longer rows read the logits twice forward: 4.
  const ceBytes = (V <= E.SERIAL_MAX_COLS ? 3 : 4) * N * V * 4;
  out.push(figure(ctx, 'softmax-CE f+b', [N, V], 'f32', ce.ms_median, { bytes: ceBytes, copyGbps }, cePeer));
  // AdamW over 1M parameters (one fused dispatch per arena, plus the norm).
  const P = 1 << 20;
  const w = E.fromArray(rand(P, 15), [1024, 1024]);
  w.requiresGrad = true;
  const opt = new E.AdamW([w], { lr: 1e-3, maxGradNorm: 1 });
  const ad = await timeGpu(() => opt.update());
  out.push(figure(ctx, 'adamw', [P], 'f32', ad.ms_median, { bytes: 8 * P * 4, copyGbps }, null));
  opt.destroy();
  for (const t of [x, gam, bet, gy, xs, gs, bs, gys, logits, targets, one]) { t.grad?.dispose(); t.dispose(); }
  return out;
};

export interface MatmulCase {
  name: string;
  M: number;
  N: number;
  K: number;
  transA?: boolean;
  transB?: boolean;
}

export const MATMUL_CASES: MatmulCase[] = [
  // The bar: 1024^3. Then the demo model's shapes: its qkv projection over a batch of 32
  // sequences of about 100 positions (B*T = 3104 rows, width 32 -> 96), forward (x W^T) and
  // the two products its backward runs (dX = dY W, dW = dY^T X).
  { name: 'matmul', M: 1024, N: 1024, K: 1024 },
  { name: 'matmul', M: 512, N: 512, K: 512 },
  { name: 'matmul', M: 3104, N: 96, K: 32, transB: true },
  { name: 'matmul', M: 3104, N: 32, K: 96 },
  { name: 'matmul', M: 96, N: 32, K: 3104, transA: true },
];

/** f16 storage with f32 accumulation, reported beside f32 (TF.js has no f16 WebGPU matmul). */
const MATMUL_F16_CASES: MatmulCase[] = [
  { name: 'matmul', M: 1024, N: 1024, K: 1024 },
  { name: 'matmul', M: 512, N: 512, K: 512 },
];

function randSigned(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 4294967296 - 0.5;
  }
  return out;
}

export const matmulSuite: Suite = async (ctx) => {
  const out: KernelFigure[] = [];
  for (const c of ctx.quick ? MATMUL_CASES.slice(1) : MATMUL_CASES) {
    const aShape = c.transA ? [c.K, c.M] : [c.M, c.K];
    const bShape = c.transB ? [c.N, c.K] : [c.K, c.N];
    const A = E.fromArray(randSigned(c.M * c.K, 1), aShape);
    const B = E.fromArray(randSigned(c.K * c.N, 2), bShape);
    const flops = 2 * c.M * c.N * c.K;
    const launch = () => E.noGrad(() => E.matmul(A, B, { transA: c.transA, transB: c.transB })).dispose();
    const t = await timeAgainstPeak(launch, flops);
    let peer: PeerFigure | null = null;
    if (ctx.peer) peer = pairedPeer('tfjs-webgpu matMul', await ctx.peer.timeMatmulPaired(c.M, c.N, c.K, await ourSampler(launch), ctx.quick ? 3 : 7, { transA: c.transA, transB: c.transB }));
    A.dispose();
    B.dispose();
    out.push(figure(ctx, c.name + (c.transA ? ' A^T' : '') + (c.transB ? ' B^T' : ''), [c.M, c.N, c.K], 'f32', t.kernel_ms, { flops, pairedPeak: t }, peer));
  }
  // The kernel family this adapter does not choose, on one shape, so that each report shows
  // what the choice is worth (engine/ops/matmul_kernels.ts).
  const other = rt().dev.subgroupBroadcastKernels ? 'tiled' : null;
  if (other) {
    const n = 512;
    const A = E.fromArray(randSigned(n * n, 1), [n, n]), B = E.fromArray(randSigned(n * n, 2), [n, n]);
    setMatmulPath(other);
    try {
      const t = await timeAgainstPeak(() => E.noGrad(() => E.matmul(A, B)).dispose(), 2 * n * n * n, { pairs: 5 });
      out.push(figure(ctx, `matmul (${other} kernel)`, [n, n, n], 'f32', t.kernel_ms, { flops: 2 * n * n * n, pairedPeak: t }, null));
    } finally {
      setMatmulPath('auto');
      A.dispose();
      B.dispose();
    }
  }
  if (rt().dev.hasF16) {
    for (const c of ctx.quick ? MATMUL_F16_CASES.slice(1) : MATMUL_F16_CASES) {
      const A32 = E.fromArray(randSigned(c.M * c.K, 1), [c.M, c.K]), B32 = E.fromArray(randSigned(c.K * c.N, 2), [c.K, c.N]);
      const A = E.cast(A32, 'f16'), B = E.cast(B32, 'f16');
      const flops = 2 * c.M * c.N * c.K;
      const t = await timeAgainstPeak(() => E.noGrad(() => E.matmul(A, B)).dispose(), flops);
      for (const x of [A32, B32, A, B]) x.dispose();
      out.push(figure(ctx, c.name, [c.M, c.N, c.K], 'f16', t.kernel_ms, { flops, pairedPeak: t }, null));
    }
  }
  return out;
};

