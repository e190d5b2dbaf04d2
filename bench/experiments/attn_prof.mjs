// Per-kernel GPU time of one attention forward+backward (IVT_PROFILE=1 node ... [T]).
import * as E from '../../dist/engine/index.js';
import { attentionPacked } from '../../dist/engine/ops/attention.js';
await E.initEngine();
const T = Number(process.argv[2] ?? 512), B = 4, H = 4, hd = Number(process.argv[3] ?? 64), D = H * hd;
const rnd = (n) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898) * 0.5);
const qkv = E.fromArray(rnd(B * T * 3 * D), [B, T, 3 * D]);
qkv.requiresGrad = true;
const g = E.fromArray(rnd(B * T * D), [B, T, D]);
const step = () => E.tidy(() => { qkv.grad = null; E.backward(attentionPacked(qkv, { heads: H, causal: true }), g); qkv.grad?.dispose(); qkv.grad = null; });
step(); await E.rt().sync();
const prof = E.rt().profiler;
// Minimum over iterations per kernel (the machine is shared: the minimum is the least noisy).
const best = new Map();
for (let i = 0; i < Number(process.env.ITERS ?? 7); i++) {
  prof?.totals.clear();
  step();
  await E.rt().sync();
  await new Promise((r) => setTimeout(r, 50));
  for (const [k, v] of prof?.totals ?? []) if (k.startsWith('attention')) best.set(k, Math.min(best.get(k) ?? 1e9, v.ms / v.count));
}
let tot = 0;
for (const [k, v] of best) { tot += v; console.log(k.split('|').slice(0, 2).join(' '), v.toFixed(1), 'ms'); }
console.log('total', tot.toFixed(1));
process.exit(0);
