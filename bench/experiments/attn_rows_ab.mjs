// Paired A/B of the attention backward kernels' rows per lane: 2 against 4 (both kernels),
// alternating in one process at B=4, H=4, hd=64, causal. Each sample is the GPU time of the
// two backward kernels in one forward+backward (IVT_PROFILE's per-kernel timings); the forward
// is left out because forcing IVT_ATTN_R also sets its count.
// Usage: IVT_PROFILE=1 PAIRS=9 JSON=bench/results/attention-ab-lavapipe.json node bench/experiments/attn_rows_ab.mjs [T]
import { writeFileSync } from 'node:fs';
import * as E from '../../dist/engine/index.js';
import { attentionPacked } from '../../dist/engine/ops/attention.js';
await E.initEngine();
const prof = E.rt().profiler;
if (!prof) throw new Error('attn_rows_ab: run with IVT_PROFILE=1 (the A/B reads per-kernel GPU times)');
const T = Number(process.argv[2] ?? 512), B = 4, H = 4, hd = 64, D = H * hd;
const rnd = (n) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898) * 0.5);
const qkv = E.fromArray(rnd(B * T * 3 * D), [B, T, 3 * D]);
qkv.requiresGrad = true;
const g = E.fromArray(rnd(B * T * D), [B, T, D]);
async function backwardMs(rows) {
  process.env.IVT_ATTN_R = process.env.IVT_ATTN_RK = String(rows);
  prof.totals.clear();
  E.tidy(() => { E.backward(attentionPacked(qkv, { heads: H, causal: true }), g); qkv.grad?.dispose(); qkv.grad = null; });
  await E.rt().sync();
  await new Promise((r) => setTimeout(r, 50)); // the timestamp readback lands after the sync
  let ms = 0;
  for (const [k, v] of prof.totals) if (k.startsWith('attention') && k.includes('backward')) ms += v.ms;
  return ms;
}
await backwardMs(2); await backwardMs(4); // compile both variants
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[s.length >> 1]; };
const pairs = [];
for (let i = 0; i < Number(process.env.PAIRS ?? 9); i++) {
  // Alternate which runs first so that drift does not favour one side.
  let ms2, ms4;
  if (i % 2 === 0) { ms2 = await backwardMs(2); ms4 = await backwardMs(4); } else { ms4 = await backwardMs(4); ms2 = await backwardMs(2); }
  pairs.push({ ms2, ms4, speedup: ms2 / ms4 });
}
const report = { adapter: E.rt().dev.describe(), date: new Date().toISOString(), T, B, H, hd, pairs: pairs.length,
  ms2_median: median(pairs.map((p) => p.ms2)), ms4_median: median(pairs.map((p) => p.ms4)), speedup_median: median(pairs.map((p) => p.speedup)), samples: pairs };
console.log(`T=${T}: backward 2 rows ${report.ms2_median.toFixed(1)} ms, 4 rows ${report.ms4_median.toFixed(1)} ms, 4 rows ${report.speedup_median.toFixed(2)}x (median of ${pairs.length} paired ratios)`);
if (process.env.JSON) writeFileSync(process.env.JSON, JSON.stringify(report, null, 1));
process.exit(0);
