// Counts the x86 instructions llvmpipe generates for one step of a matmul kernel's k loop, by
// kind: the multiplies and adds of the FMAs, the accumulators' stack traffic, and the rest (the
// per-lane load sequences and loop overhead). Runs itself in a child process with
// GALLIVM_DEBUG=asm (Mesa prints the compiled shader; the compute shader is cs_co_variant) and
// the shader cache off, then takes the loop whose back edge encloses the most multiplies.
//   JSON=bench/results/matmul-asm-lavapipe.json node bench/experiments/asm_count.mjs
// SHADERS=matmul,matmul_wide picks the shaders (entry main_vec4, TRANS_B = 0).
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

if (process.env.ASM_CHILD) {
  const { initGpu, compile, buf, ubuf, subst, readShader, timeDispatch } = await import('./gpu.mjs');
  const { device } = await initGpu();
  const src = subst(readShader(process.env.ASM_CHILD + '.wgsl'), { TRANS_A: 0, TRANS_B: 0, BIAS_DECL: '', BIAS_AT: 'return 0.0;', P_BINDING: 3 });
  const pipe = await compile(device, src, 'asm', 'main_vec4');
  const n = 64;
  const bufs = [buf(device, new Float32Array(n * n)), buf(device, new Float32Array(n * n)), buf(device, new Float32Array(n * n)), ubuf(device, [n, n, n, 1, 0, 0, 0, 0])];
  const bg = device.createBindGroup({ layout: pipe.getBindGroupLayout(0), entries: bufs.map((b, i) => ({ binding: i, resource: { buffer: b } })) });
  await timeDispatch(device, pipe, bg, [1, 1, 1], { inner: 1, outer: 1, warm: 0 });
  process.exit(0);
}

function count(asm) {
  const body = asm.slice(asm.indexOf('cs_co_variant:'));
  const ins = [];
  for (const line of body.split('\n').slice(1)) {
    const m = /^\s*([0-9a-f]+):\s+(\S+)\s*(.*)$/.exec(line);
    if (m) ins.push({ addr: parseInt(m[1], 16), op: m[2], args: m[3] });
    else if (ins.length && /^\S+:$/.test(line.trim())) break; // the next function
  }
  const isMul = (x) => x.op === 'vmulps';
  // Backward jumps: the printed operand is relative to the next instruction.
  let best = null;
  for (let i = 0; i + 1 < ins.length; i++) {
    if (!ins[i].op.startsWith('j') || !/^-?\d+$/.test(ins[i].args.trim())) continue;
    const target = ins[i + 1].addr + Number(ins[i].args.trim());
    if (target > ins[i].addr) continue;
    const loop = ins.filter((x) => x.addr >= target && x.addr <= ins[i].addr);
    const muls = loop.filter(isMul).length;
    if (!best || muls > best.muls) best = { loop, muls };
  }
  const loop = best.loop;
  const arith = loop.filter((x) => /^v(mul|add|fmadd\w*)ps$/.test(x.op)).length;
  const stack = loop.filter((x) => /^vmov/.test(x.op) && /\(%rsp\)/.test(x.args)).length;
  return { instructions: loop.length, multiplies: best.muls, multiplies_and_adds: arith, accumulator_stack_moves: stack, rest: loop.length - arith - stack, bytes: loop[loop.length - 1].addr - loop[0].addr };
}

const rows = [];
for (const shader of (process.env.SHADERS ?? 'matmul,matmul_wide').split(',')) {
  const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url)], {
    env: { ...process.env, ASM_CHILD: shader, GALLIVM_DEBUG: 'asm', MESA_SHADER_CACHE_DISABLE: 'true' }, encoding: 'utf8', maxBuffer: 256 << 20,
  });
  const row = { shader, entry: 'main_vec4', ...count(r.stdout + r.stderr) };
  rows.push(row);
  console.log(JSON.stringify(row));
}
if (process.env.JSON) writeFileSync(process.env.JSON, JSON.stringify({ date: new Date().toISOString(), note: 'one iteration of the k loop (4 deep), TRANS_B = 0', rows }, null, 2) + '\n');
