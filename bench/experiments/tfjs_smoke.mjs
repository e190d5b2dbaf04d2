// Smoke test for bench/peers/tfjs.ts (compile first: npm run build, or tsc that one file to dist/).
// Runs tfjs WebGPU matMul + composite ops on the same adapter, checks a value, exits cleanly.
import { createTfjsPeer } from '../../dist/bench/peers/tfjs.js';
const peer = await createTfjsPeer();
console.log('tfjs adapter:', peer.adapterInfo, 'backend:', peer.tf.getBackend());
const tf = peer.tf;
const a = tf.tensor2d([[1, 2], [3, 4]]), b = tf.tensor2d([[5, 6], [7, 8]]);
const c = await tf.matMul(a, b).data();
console.log('2x2 check', Array.from(c), 'want [19,22,43,50]');
a.dispose(); b.dispose();
for (const n of (process.env.SIZES ?? '256,512').split(',').map(Number)) {
  const r = await peer.timeMatmul(n, n, n, 3);
  console.log(`tfjs matMul ${n}^3: ${r.ms_median.toFixed(1)} ms = ${((2 * n ** 3) / (r.ms_median * 1e6)).toFixed(2)} GFLOP/s`);
}
const att = await peer.timeOp(
  (t) => [t.randomNormal([4, 64, 32]), t.randomNormal([4, 64, 32]), t.randomNormal([4, 64, 32])],
  (t, [q, k, v]) => t.tidy(() => t.matMul(t.softmax(t.matMul(q, k, false, true).mul(1 / Math.sqrt(32))), v)),
  3,
);
console.log(`tfjs attention composite [4,64,32]: ${att.ms_median.toFixed(2)} ms`);
const ln = await peer.timeOp(
  (t) => [t.randomNormal([2048, 128])],
  (t, [x]) => t.tidy(() => { const { mean, variance } = t.moments(x, -1, true); return x.sub(mean).div(variance.add(1e-5).sqrt()); }),
  3,
);
console.log(`tfjs layernorm [2048,128]: ${ln.ms_median.toFixed(2)} ms`);
await peer.dispose();
console.log('disposed;', 'navigator' in globalThis ? 'navigator still set!' : 'navigator removed');
