// Correctness of the generated matmul kernel over odd shapes, transposes, batches (incl.
// broadcast operands) and accumulate. Full comparison against a CPU reference.
//   node bench/experiments/mm_check.mjs [TM] [TN]   (default: the committed shaders/matmul.wgsl)
import { initGpu, compile, buf, ubuf, bindGroup, readback, randn, subst, readShader } from './gpu.mjs';
import { genMatmul, dispatchFor } from './gen_matmul.mjs';

const { device } = await initGpu();
const argTM = process.argv[2], argTN = process.argv[3], argV = +(process.argv[4] ?? 0);
let cfg, src;
if (argTM) { cfg = { TM: +argTM, TN: +argTN, VEC4: argV }; src = genMatmul(cfg); }
else {
  src = readShader('matmul.wgsl');
  const m = /TM=(\d+), TN=(\d+)/.exec(src); cfg = { TM: +m[1], TN: +m[2], VEC4: +(process.env.VEC4 ?? 0) };
}
const pipes = {};
for (const ta of cfg.VEC4 ? [0] : [0, 1]) for (const tb of [0, 1]) pipes[`${ta}${tb}`] = await compile(device, subst(src, { TRANS_A: ta, TRANS_B: tb }), `mm${ta}${tb}`, !argTM && cfg.VEC4 ? 'main_vec4' : 'main');

function ref(a, b, c0, { M, N, K, batch, ta, tb, sa, sb, sc, acc }) {
  const c = new Float32Array(c0);
  for (let z = 0; z < batch; z++) for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) {
    let s = 0;
    for (let k = 0; k < K; k++) {
      const av = a[z * sa + (ta ? k * M + m : m * K + k)];
      const bv = b[z * sb + (tb ? n * K + k : k * N + n)];
      s += av * bv;
    }
    const i = z * sc + m * N + n;
    c[i] = (acc ? c[i] : 0) + s;
  }
  return c;
}

const cases = [];
for (const [M, N, K] of cfg.VEC4 ? [[1, 4, 4], [37, 52, 28], [8, 32, 8], [17, 36, 12], [64, 64, 64], [5, 100, 4], [100, 8, 20], [33, 32, 64], [2, 72, 132]] : [[1, 1, 1], [37, 53, 29], [8, 32, 8], [17, 33, 9], [64, 64, 64], [5, 100, 3], [100, 5, 7], [33, 31, 64], [2, 70, 130]])
  for (const ta of cfg.VEC4 ? [0] : [0, 1]) for (const tb of [0, 1]) cases.push({ M, N, K, batch: 1, ta, tb, acc: 0 });
if (cfg.VEC4) {
  cases.push({ M: 37, N: 52, K: 28, batch: 3, ta: 0, tb: 0, acc: 1 });
  cases.push({ M: 19, N: 24, K: 20, batch: 4, ta: 0, tb: 1, acc: 0, bcastA: true });
  cases.push({ M: 19, N: 23, K: 20, batch: 4, ta: 0, tb: 1, acc: 1, bcastB: true });
} else {
  cases.push({ M: 37, N: 53, K: 29, batch: 3, ta: 0, tb: 0, acc: 1 });
  cases.push({ M: 19, N: 23, K: 21, batch: 4, ta: 1, tb: 1, acc: 0, bcastA: true });
  cases.push({ M: 19, N: 23, K: 21, batch: 4, ta: 0, tb: 1, acc: 1, bcastB: true });
}
cases.push({ M: 40, N: 24, K: 0, batch: 1, ta: 0, tb: 0, acc: 0 });
cases.push({ M: 40, N: 24, K: 0, batch: 2, ta: 0, tb: 0, acc: 1 });
let fails = 0;
for (const cs of cases) {
  const { M, N, K, batch, ta, tb, acc } = cs;
  const sa = cs.bcastA ? 0 : M * K, sb = cs.bcastB ? 0 : K * N, sc = M * N;
  const a = randn(Math.max(1, (cs.bcastA ? 1 : batch) * M * K), 3 + M), b = randn(Math.max(1, (cs.bcastB ? 1 : batch) * K * N), 5 + N);
  const c0 = randn(batch * M * N, 7);
  const A = buf(device, a), B = buf(device, b), C = buf(device, c0);
  const U = ubuf(device, [M, N, K, batch, sa, sb, sc, acc]);
  const pipe = pipes[`${ta}${tb}`];
  const enc = device.createCommandEncoder();
  const pass = enc.beginComputePass();
  pass.setPipeline(pipe); pass.setBindGroup(0, bindGroup(device, pipe, [A, B, C, U]));
  const [x, y, z] = dispatchFor(cfg, M, N, batch);
  pass.dispatchWorkgroups(x, y, z); pass.end();
  device.queue.submit([enc.finish()]);
  const got = new Float32Array(await readback(device, C, batch * M * N * 4));
  const want = ref(a, b, c0, { M, N, K, batch, ta, tb, sa, sb, sc, acc });
  let maxErr = 0;
  for (let i = 0; i < want.length; i++) maxErr = Math.max(maxErr, Math.abs(got[i] - want[i]) / (1 + Math.abs(want[i])));
  const ok = maxErr < 1e-4;
  if (!ok) fails++;
  if (!ok || process.env.VERBOSE) console.log(`${ok ? 'ok  ' : 'FAIL'} ${JSON.stringify(cs)} maxRelErr=${maxErr.toExponential(2)}`);
  A.destroy(); B.destroy(); C.destroy(); U.destroy();
}
console.log(`matmul TM=${cfg.TM} TN=${cfg.TN}: ${cases.length - fails}/${cases.length} cases pass`);
device.destroy();
process.exitCode = fails ? 1 : 0;
