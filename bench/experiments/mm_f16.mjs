// f16-storage matmul (shaders/matmul_f16.wgsl) beside the f32 vec4 path, 1024^3 NN, with peak.
import { initGpu, compile, buf, ubuf, bindGroup, timeDispatch, readback, measurePeak, randn, subst, readShader } from './gpu.mjs';
import { Float16Array } from '@petamoriken/float16';
const { device } = await initGpu();
const M = 1024, N = 1024, K = 1024;
const a = randn(M * K, 1), b = randn(K * N, 2);
const a16 = new Float16Array(a), b16 = new Float16Array(b);
const A32 = buf(device, a), B32 = buf(device, b), A16 = buf(device, new Uint16Array(a16.buffer)), B16 = buf(device, new Uint16Array(b16.buffer));
const C = buf(device, new Float32Array(M * N)), U = ubuf(device, [M, N, K, 1, 0, 0, 0, 0]);
const p32 = await compile(device, subst(readShader('matmul.wgsl'), { TRANS_A: 0, TRANS_B: 0 }), 'f32', 'main_vec4');
const p16 = await compile(device, subst(readShader('matmul_f16.wgsl'), { TRANS_B: 0 }), 'f16', 'main');
for (const [name, pipe, A, B, src] of [['f32 vec4', p32, A32, B32, [a, b]], ['f16 storage', p16, A16, B16, [Array.from(a16), Array.from(b16)]], ['f32 vec4', p32, A32, B32, [a, b]], ['f16 storage', p16, A16, B16, [Array.from(a16), Array.from(b16)]]]) {
  const bg = bindGroup(device, pipe, [A, B, C, U]);
  const pk1 = await measurePeak(device, { iters: 2048, outer: 3 });
  const ms = await timeDispatch(device, pipe, bg, [N / 16, M / 64, 1], { inner: 2, outer: 3 });
  const pk2 = await measurePeak(device, { iters: 2048, outer: 3 });
  const out = new Float32Array(await readback(device, C, M * N * 4));
  let e = 0;
  for (let t = 0; t < 16; t++) { const i = (t * 7919) % M, j = (t * 104729 + 13) % N; let s = 0; for (let k = 0; k < K; k++) s += src[0][i * K + k] * src[1][k * N + j]; e = Math.max(e, Math.abs(s - out[i * N + j])); }
  const gf = (2 * M * N * K) / (ms * 1e6);
  console.log(`${name}: ${ms.toFixed(1)} ms ${gf.toFixed(2)} GFLOP/s (${((200 * gf) / (pk1 + pk2)).toFixed(1)}% of peak ${((pk1 + pk2) / 2).toFixed(1)}) maxErr vs same-precision inputs ${e.toExponential(1)}`);
}
device.destroy();
