// Cross-check of the attention kernel families at sizes the unit tests do not reach (several
// workgroups and tiles, ragged edges): writes outputs and gradients to a JSON file.
//   node attn_check.mjs out.json; IVT_ATTN=simple node attn_check.mjs ref.json; node attn_check.mjs --cmp out.json ref.json
import { readFileSync, writeFileSync } from 'node:fs';
if (process.argv[2] === '--cmp') {
  const a = JSON.parse(readFileSync(process.argv[3], 'utf8')), b = JSON.parse(readFileSync(process.argv[4], 'utf8'));
  for (const k of Object.keys(b)) {
    let err = 0, mag = 0;
    for (let i = 0; i < b[k].length; i++) { err = Math.max(err, Math.abs(a[k][i] - b[k][i])); mag = Math.max(mag, Math.abs(b[k][i])); }
    console.log(k.padEnd(28), 'max abs err', err.toExponential(2), 'max |ref|', mag.toExponential(2), err <= 1e-4 * Math.max(mag, 1) ? 'ok' : 'MISMATCH');
  }
  process.exit(0);
}
const E = await import('../../dist/engine/index.js');
const { attention } = await import('../../dist/engine/ops/attention.js');
await E.initEngine();
const rnd = (n, s) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + s * 78.233) * 1.5);
const cases = [
  { name: 'causal T70 hd64', B: 2, Tq: 70, Tk: 70, H: 2, hd: 64, causal: true, qPos0: 0, ks: [0, 13] },
  { name: 'offset Tq37 Tk90 hd32', B: 2, Tq: 37, Tk: 90, H: 3, hd: 32, causal: true, qPos0: 53, ks: [5, 0] },
  { name: 'bidir T41 hd48 pad', B: 2, Tq: 41, Tk: 41, H: 1, hd: 48, causal: false, qPos0: 0, ks: [0, 22] },
  { name: 'causal T19 hd8 pad all', B: 1, Tq: 19, Tk: 19, H: 2, hd: 8, causal: true, qPos0: 0, ks: [30] },
];
const out = {};
for (const c of cases) {
  const D = c.H * c.hd;
  const q = E.fromArray(rnd(c.B * c.Tq * D, 1), [c.B, c.Tq, D]);
  const k = E.fromArray(rnd(c.B * c.Tk * D, 2), [c.B, c.Tk, D]);
  const v = E.fromArray(rnd(c.B * c.Tk * D, 3), [c.B, c.Tk, D]);
  for (const t of [q, k, v]) t.requiresGrad = true;
  const ks = E.fromArray(c.ks, [c.B], 'i32');
  const g = E.fromArray(rnd(c.B * c.Tq * D, 4), [c.B, c.Tq, D]);
  const acc = E.fromArray(new Int32Array(c.B * 16), [c.B, 16], 'i32');
  const img = E.fromArray([2, 1].slice(0, c.B), [c.B], 'i32');
  const o = attention(q, k, v, { heads: c.H, causal: c.causal, qPos0: c.qPos0, keyStart: ks, accumulate: { acc, row: c.Tq - 3, imgStart: img } });
  E.backward(o, g);
  out[c.name + ' o'] = Array.from(await o.toArray());
  out[c.name + ' dq'] = Array.from(await q.grad.toArray());
  out[c.name + ' dk'] = Array.from(await k.grad.toArray());
  out[c.name + ' dv'] = Array.from(await v.grad.toArray());
  out[c.name + ' acc'] = Array.from(await acc.toArray()).map((x) => x / 16777216);
}
writeFileSync(process.argv[2], JSON.stringify(out));
process.exit(0);
