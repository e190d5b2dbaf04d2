// Rotary position embedding (RoPE) for a packed q/k/v projection: positions enter attention as
// rotations of q and k, so a score depends on the offset between query and key, not on where
// they sit. A head that must "look 3 tokens back" is then one pattern for every position
// (a learned absolute table has to learn it position by position).
import { record } from '../autograd.js';
import { f32 } from '../runtime.js';
import { empty, fromArray, keep, onEngineShutdown, Tensor } from '../tensor.js';
import { launch1d } from './util.js';

export interface RopeOptions {
  heads: number;
  /** Frequency base (default 10000). */
  base?: number;
}

/** Positions with a precomputed (cos, sin) per frequency; beyond it the kernel computes them. */
const TABLE_POSITIONS = 2048;
const tables = new Map<string, Tensor>();
// The tables belong to the engine's device: a new engine makes its own.
onEngineShutdown(() => tables.clear());

/** (cos, sin) of pos * base^(-2i/hd) for pos < TABLE_POSITIONS, computed once per (hd, base) in float64. */
function angleTable(hd: number, base: number): Tensor {
  const key = `${hd}|${base}`;
  let t = tables.get(key);
  if (t && !t.isDisposed) return t;
  const half = hd / 2;
  const data = new Float32Array(TABLE_POSITIONS * half * 2);
  for (let pos = 0; pos < TABLE_POSITIONS; pos++) for (let i = 0; i < half; i++) {
    const a = pos * Math.pow(base, (-2 * i) / hd);
    data[(pos * half + i) * 2] = Math.cos(a);
    data[(pos * half + i) * 2 + 1] = Math.sin(a);
  }
  t = keep(fromArray(data, [TABLE_POSITIONS, half, 2]));
  tables.set(key, t);
  return t;
}

function rotate(x: Tensor, pos: Tensor, D: number, hd: number, sign: number, base: number): Tensor {
  const y = empty(x.shape, 'f32');
  const tab = angleTable(hd, base);
  // Per row: D rotated pairs (q and k) and D copied elements of v (see rope.wgsl); the vec4
  // kernel takes four of either per invocation where a head's half is a multiple of 4 wide.
  const vec4 = hd % 8 === 0;
  const n = (x.size / (3 * D)) * (vec4 ? D / 2 : 2 * D);
  launch1d('rope', { D, HD: hd }, vec4 ? 'main_vec4' : 'main', [x.binding(), pos.binding(), tab.binding(), y.binding()], [n, f32(sign), f32(Math.log(base)), TABLE_POSITIONS], n);
  return y;
}

/** qkv [B, T, 3D] f32, positions i32 [B, T] (or [B * T]): q and k rotated per head, v unchanged. */
export function rope(qkv: Tensor, positions: Tensor, opts: RopeOptions): Tensor {
  if (qkv.dtype !== 'f32' || qkv.rank !== 3 || qkv.shape[2] % 3 !== 0) throw new Error(`rope: qkv must be f32 [B, T, 3D], got ${qkv.dtype} [${qkv.shape}]`);
  const [B, T, D3] = qkv.shape;
  const D = D3 / 3;
  if (D % opts.heads !== 0) throw new Error(`rope: width ${D} is not divisible by ${opts.heads} heads`);
  const hd = D / opts.heads;
  if (hd % 2 !== 0) throw new Error(`rope: head dim ${hd} must be even`);
  if (positions.dtype !== 'i32' || positions.size !== B * T) throw new Error(`rope: positions must be i32 with ${B * T} entries, got ${positions.dtype} [${positions.shape}]`);
  const base = opts.base ?? 10000;
  const out = rotate(qkv, positions, D, hd, 1, base);
  // The rotation is orthogonal: its backward is the rotation by the opposite angle.
  return record(out, 'rope', [qkv], (g) => [rotate(g, positions, D, hd, -1, base)]);
}
