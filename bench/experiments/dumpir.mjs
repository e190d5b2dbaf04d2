import { initGpu, compile, buf, ubuf, bindGroup, timeDispatch } from './gpu.mjs';
import { readFileSync } from 'node:fs';
const { device } = await initGpu();
const code = readFileSync(process.argv[2], 'utf8');
const pipe = await compile(device, code, 'x');
const bufs = [buf(device, new Float32Array(64)), buf(device, new Float32Array(64)), buf(device, new Float32Array(64)), ubuf(device, [4, 4, 4, 0])];
const bg = bindGroup(device, pipe, bufs);
await timeDispatch(device, pipe, bg, [1, 1], { inner: 1, outer: 1 });
device.destroy();
