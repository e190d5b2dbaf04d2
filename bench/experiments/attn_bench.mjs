// Quick timing of fused attention (forward+backward) vs the unfused composite at the bench shape.
// node bench/experiments/attn_bench.mjs [T...]   (after npx tsc; IVT_ATTN=simple forces the fallback)
import * as E from '../../dist/engine/index.js';
import { attentionPacked } from '../../dist/engine/ops/attention.js';
import { timeGpu } from '../../dist/bench/harness.js';

function rand(n, seed, scale = 1) {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; out[i] = (s / 4294967296 - 0.5) * scale; }
  return out;
}
function fwdBwd(inputs, f, g) {
  return () => E.tidy(() => {
    for (const t of inputs) t.grad = null;
    E.backward(f(inputs), g);
    for (const t of inputs) { t.grad?.dispose(); t.grad = null; }
  });
}
await E.initEngine();
// CPU time per launch (lavapipe runs in-process): robust to other load on a shared machine;
// roughly 2x the wall time when the 2 cores are free.
async function cpuMs(launch, n = 5) {
  launch(); await E.rt().sync();
  const c0 = process.cpuUsage();
  for (let i = 0; i < n; i++) { launch(); await E.rt().sync(); }
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1000 / n;
}
const Ts = process.argv.slice(2).map(Number);
const comp = process.env.NOCOMP !== '1';
const B = 4, H = 4, hd = 64, D = H * hd;
for (const T of Ts.length ? Ts : [128, 512]) {
  const qkv = E.fromArray(rand(B * T * 3 * D, 3), [B, T, 3 * D]);
  qkv.requiresGrad = true;
  const g = E.fromArray(rand(B * T * D, 4), [B, T, D]);
  const fused = await timeGpu(fwdBwd([qkv], ([x]) => attentionPacked(x, { heads: H, causal: true }), g), { samples: 5 });
  const fwd = await timeGpu(() => E.noGrad(() => attentionPacked(qkv, { heads: H, causal: true })).dispose(), { samples: 5 });
  const fcpu = await cpuMs(fwdBwd([qkv], ([x]) => attentionPacked(x, { heads: H, causal: true }), g));
  let line = `T=${T} fused f+b ${fused.ms_median.toFixed(1)} ms (fwd ${fwd.ms_median.toFixed(1)}; cpu ${fcpu.toFixed(0)})`;
  if (comp) {
    const q = E.fromArray(rand(B * H * T * hd, 5), [B, H, T, hd]);
    const k = E.fromArray(rand(B * H * T * hd, 6), [B, H, T, hd]);
    const v = E.fromArray(rand(B * H * T * hd, 7), [B, H, T, hd]);
    for (const t of [q, k, v]) t.requiresGrad = true;
    const mask = new Float32Array(T * T);
    for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) mask[i * T + j] = -1e9;
    const M = E.fromArray(mask, [T, T]);
    const g4 = E.fromArray(rand(B * H * T * hd, 8), [B, H, T, hd]);
    const composite = (xs) => E.matmul(E.softmax(E.add(E.mulScalar(E.matmul(xs[0], xs[1], { transB: true }), 1 / Math.sqrt(hd)), M)), xs[2]);
    const c = await timeGpu(fwdBwd([q, k, v], composite, g4), { samples: 5 });
    const ccpu = await cpuMs(fwdBwd([q, k, v], composite, g4));
    line += `  composite ${c.ms_median.toFixed(1)} ms (cpu ${ccpu.toFixed(0)})  speedup ${(c.ms_median / fused.ms_median).toFixed(2)}x (cpu ${(ccpu / fcpu).toFixed(2)}x)`;
    for (const t of [q, k, v, M, g4]) t.dispose();
  }
  console.log(line);
  qkv.dispose(); g.dispose();
}
process.exit(0);
