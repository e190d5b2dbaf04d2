// Embedding lookup and row gather, with race-free, deterministic backward passes.
import { record } from '../autograd.js';
import { empty, fromArray, Tensor } from '../tensor.js';
import { assertF32, launch1d } from './util.js';

function gatherRaw(table: Tensor, idx: Tensor): Tensor {
  const [rows, cols] = table.shape;
  const out = empty([...idx.shape, cols]);
  launch1d('gather', {}, 'gather', [table.binding(), idx.binding(), out.binding()], [idx.size, cols, rows, 0], idx.size * cols);
  return out;
}

function checkIds(op: string, table: Tensor, idx: Tensor): void {
  assertF32(op, table);
  if (table.rank !== 2) throw new Error(`${op}: table must be [rows, cols], got [${table.shape}]`);
  if (idx.dtype !== 'i32') throw new Error(`${op}: indices must be i32, got ${idx.dtype}`);
  if (idx.hostData) {
    const rows = table.shape[0];
    for (let i = 0; i < idx.hostData.length; i++) {
      const v = idx.hostData[i];
      if (v < 0 || v >= rows) throw new Error(`${op}: index ${v} at position ${i} is outside [0, ${rows})`);
    }
  }
}

/**
 * Embedding lookup: out[..., :] = table[ids[...], :]. The ids must come from the host
 * (fromArray keeps a copy), so the backward pass can group positions by id on the CPU and
 * sum each row's gradient in one invocation per element: no atomics, fixed order.
 */
export function embedding(table: Tensor, ids: Tensor): Tensor {
  checkIds('embedding', table, ids);
  const out = gatherRaw(table, ids);
  return record(out, 'embedding', [table], (g) => {
    const host = ids.hostData;
    if (!host) return [scatterScan(g, ids, table.shape[0], table.shape[1])];
    const [rows, cols] = table.shape;
    // CSR of positions per id (counting sort).
    const offsets = new Uint32Array(rows + 1);
    for (let i = 0; i < host.length; i++) offsets[host[i] + 1]++;
    for (let v = 0; v < rows; v++) offsets[v + 1] += offsets[v];
    const cursor = offsets.slice(0, rows);
    const order = new Uint32Array(Math.max(host.length, 1));
    for (let i = 0; i < host.length; i++) order[cursor[host[i]]++] = i;
    const offT = fromArray(offsets, [rows + 1], 'u32');
    const ordT = fromArray(order, [order.length], 'u32');
    const dt = empty(table.shape);
    launch1d('gather', {}, 'scatter_csr', [g.binding(), offT.binding(), ordT.binding(), dt.binding()], [host.length, cols, rows, 0], rows * cols);
    offT.dispose();
    ordT.dispose();
    return [dt];
  });
}

function scatterScan(g: Tensor, idx: Tensor, rows: number, cols: number): Tensor {
  const dt = empty([rows, cols]);
  launch1d('gather', {}, 'scatter_scan', [g.binding(), idx.binding(), dt.binding()], [idx.size, cols, rows, 0], rows * cols);
  return dt;
}

/**
 * Gathers rows of a matrix by indices that may live only on the GPU (e.g. top-k results).
 * Differentiable with respect to the matrix; the backward pass scans all indices per row,
 * which suits the small index counts it is used with.
 */
export function gatherRows(table: Tensor, idx: Tensor): Tensor {
  checkIds('gatherRows', table, idx);
  const out = gatherRaw(table, idx);
  return record(out, 'gatherRows', [table], (g) => [scatterScan(g, idx, table.shape[0], table.shape[1])]);
}
