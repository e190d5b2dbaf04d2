// float64 CPU references for every op: written for clarity, not speed. The GPU results are
// compared against these, and the reference gradients are central differences of these.

export type F64 = Float64Array;

export function stridesOf(shape: number[]): number[] {
  const s = new Array(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) { s[i] = acc; acc *= shape[i]; }
  return s;
}
export const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);

export function broadcast2(a: F64, as: number[], b: F64, bs: number[], f: (x: number, y: number) => number): { out: F64; shape: number[] } {
  const rank = Math.max(as.length, bs.length);
  const pa = [...Array(rank - as.length).fill(1), ...as];
  const pb = [...Array(rank - bs.length).fill(1), ...bs];
  const shape = pa.map((d, i) => Math.max(d, pb[i]));
  const sa = stridesOf(pa), sb = stridesOf(pb);
  const out = new Float64Array(numel(shape));
  for (let i = 0; i < out.length; i++) {
    let rem = i, ia = 0, ib = 0;
    for (let d = rank - 1; d >= 0; d--) {
      const c = rem % shape[d]; rem = Math.floor(rem / shape[d]);
      if (pa[d] !== 1) ia += c * sa[d];
      if (pb[d] !== 1) ib += c * sb[d];
    }
    out[i] = f(a[ia], b[ib]);
  }
  return { out, shape };
}

export function reduceAxis(x: F64, shape: number[], axis: number, kind: 'sum' | 'mean' | 'max'): F64 {
  const outer = numel(shape.slice(0, axis)), r = shape[axis], inner = numel(shape.slice(axis + 1));
  const out = new Float64Array(outer * inner);
  for (let o = 0; o < outer; o++) for (let j = 0; j < inner; j++) {
    let acc = kind === 'max' ? -Infinity : 0;
    for (let k = 0; k < r; k++) {
      const v = x[(o * r + k) * inner + j];
      acc = kind === 'max' ? Math.max(acc, v) : acc + v;
    }
    out[o * inner + j] = kind === 'mean' ? acc / r : acc;
  }
  return out;
}

/** C = op(A) @ op(B) per batch; bA/bB = 0 for a shared operand. */
export function matmul(a: F64, b: F64, M: number, N: number, K: number, batch: number, transA: boolean, transB: boolean, shareA = false, shareB = false): F64 {
  const out = new Float64Array(batch * M * N);
  for (let q = 0; q < batch; q++) {
    const ao = shareA ? 0 : q * M * K, bo = shareB ? 0 : q * K * N;
    for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) {
      let acc = 0;
      for (let k = 0; k < K; k++) {
        const av = transA ? a[ao + k * M + m] : a[ao + m * K + k];
        const bv = transB ? b[bo + n * K + k] : b[bo + k * N + n];
        acc += av * bv;
      }
      out[q * M * N + m * N + n] = acc;
    }
  }
  return out;
}

export function softmaxRows(x: F64, cols: number, log: boolean): F64 {
  const out = new Float64Array(x.length);
  for (let r = 0; r < x.length / cols; r++) {
    let m = -Infinity;
    for (let j = 0; j < cols; j++) m = Math.max(m, x[r * cols + j]);
    let s = 0;
    for (let j = 0; j < cols; j++) s += Math.exp(x[r * cols + j] - m);
    for (let j = 0; j < cols; j++) out[r * cols + j] = log ? x[r * cols + j] - m - Math.log(s) : Math.exp(x[r * cols + j] - m) / s;
  }
  return out;
}

export function norm(x: F64, cols: number, gamma: F64, beta: F64 | null, eps: number, rms: boolean): F64 {
  const out = new Float64Array(x.length);
  for (let r = 0; r < x.length / cols; r++) {
    let mean = 0;
    if (!rms) { for (let j = 0; j < cols; j++) mean += x[r * cols + j]; mean /= cols; }
    let v = 0;
    for (let j = 0; j < cols; j++) { const d = x[r * cols + j] - mean; v += d * d; }
    const rstd = 1 / Math.sqrt(v / cols + eps);
    for (let j = 0; j < cols; j++) out[r * cols + j] = (x[r * cols + j] - mean) * rstd * gamma[j] + (beta ? beta[j] : 0);
  }
  return out;
}

export function crossEntropy(logits: F64, cols: number, targets: Int32Array): number {
  const ls = softmaxRows(logits, cols, true);
  let s = 0, c = 0;
  for (let r = 0; r < targets.length; r++) if (targets[r] >= 0) { s -= ls[r * cols + targets[r]]; c++; }
  return s / Math.max(c, 1);
}

export function gatherRows(table: F64, cols: number, idx: ArrayLike<number>): F64 {
  const out = new Float64Array(idx.length * cols);
  for (let i = 0; i < idx.length; i++) for (let j = 0; j < cols; j++) out[i * cols + j] = table[idx[i] * cols + j];
  return out;
}

export function permute(x: F64, shape: number[], perm: number[]): F64 {
  const outShape = perm.map((p) => shape[p]);
  const xs = stridesOf(shape);
  const out = new Float64Array(x.length);
  for (let i = 0; i < out.length; i++) {
    let rem = i, src = 0;
    for (let d = outShape.length - 1; d >= 0; d--) {
      const c = rem % outShape[d]; rem = Math.floor(rem / outShape[d]);
      src += c * xs[perm[d]];
    }
    out[i] = x[src];
  }
  return out;
}

export function sliceAxis(x: F64, shape: number[], axis: number, start: number, end: number): F64 {
  const outer = numel(shape.slice(0, axis)), inner = numel(shape.slice(axis + 1)), len = shape[axis];
  const out = new Float64Array(outer * (end - start) * inner);
  let k = 0;
  for (let o = 0; o < outer; o++) for (let a = start; a < end; a++) for (let j = 0; j < inner; j++) out[k++] = x[(o * len + a) * inner + j];
  return out;
}

export function concatAxis(xs: F64[], shapes: number[][], axis: number): F64 {
  const outer = numel(shapes[0].slice(0, axis)), inner = numel(shapes[0].slice(axis + 1));
  const out: number[] = [];
  for (let o = 0; o < outer; o++) xs.forEach((x, i) => {
    const len = shapes[i][axis];
    for (let a = 0; a < len; a++) for (let j = 0; j < inner; j++) out.push(x[(o * len + a) * inner + j]);
  });
  return Float64Array.from(out);
}

/**
 * Reference gradient of sum(f(inputs) * R) with respect to every input, by float64 central
 * differences of the reference itself (step scaled to each value).
 */
export function refGrads(f: (xs: F64[]) => F64, inputs: F64[], R: F64, which: boolean[] = inputs.map(() => true)): (F64 | null)[] {
  const phi = (xs: F64[]) => { const y = f(xs); let s = 0; for (let i = 0; i < y.length; i++) s += y[i] * R[i]; return s; };
  return inputs.map((x, k) => {
    if (!which[k]) return null;
    const g = new Float64Array(x.length);
    const xs = inputs.map((t) => Float64Array.from(t));
    for (let i = 0; i < x.length; i++) {
      const h = 1e-6 * Math.max(1, Math.abs(x[i]));
      const keep = xs[k][i];
      xs[k][i] = keep + h; const up = phi(xs);
      xs[k][i] = keep - h; const dn = phi(xs);
      xs[k][i] = keep;
      g[i] = (up - dn) / (2 * h);
    }
    return g;
  });
}

/**
 * Multi-head attention on [B, T, D] layouts. Key j is visible to query i iff
 * j >= keyStart[b] and (!causal or j <= qPos0 + i). Returns the output [B, Tq, D] and the
 * probabilities [B, H, Tq, Tk] (for checking the accumulator).
 */
export function attention(q: F64, k: F64, v: F64, B: number, Tq: number, Tk: number, D: number, H: number,
  o: { causal: boolean; qPos0: number; keyStart?: number[]; scale?: number }): { out: F64; probs: F64 } {
  const hd = D / H, scale = o.scale ?? 1 / Math.sqrt(hd);
  const out = new Float64Array(B * Tq * D), probs = new Float64Array(B * H * Tq * Tk);
  for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let i = 0; i < Tq; i++) {
    const s = new Float64Array(Tk).fill(-Infinity);
    for (let j = 0; j < Tk; j++) {
      if (j < (o.keyStart?.[b] ?? 0) || (o.causal && j > o.qPos0 + i)) continue;
      let acc = 0;
      for (let d = 0; d < hd; d++) acc += q[(b * Tq + i) * D + h * hd + d] * k[(b * Tk + j) * D + h * hd + d];
      s[j] = acc * scale;
    }
    const m = Math.max(...s);
    if (m === -Infinity) continue;
    let z = 0;
    for (let j = 0; j < Tk; j++) z += Math.exp(s[j] - m);
    for (let j = 0; j < Tk; j++) {
      const p = Math.exp(s[j] - m) / z;
      probs[((b * H + h) * Tq + i) * Tk + j] = p;
      for (let d = 0; d < hd; d++) out[(b * Tq + i) * D + h * hd + d] += p * v[(b * Tk + j) * D + h * hd + d];
    }
  }
  return { out, probs };
}

/** Analytic float64 gradients of sum(attention(q, k, v) * R) (the FD reference is too slow at these sizes). */
export function attentionGrads(q: F64, k: F64, v: F64, R: F64, B: number, Tq: number, Tk: number, D: number, H: number,
  o: { causal: boolean; qPos0: number; keyStart?: number[] }): [F64, F64, F64] {
  const hd = D / H, scale = 1 / Math.sqrt(hd);
  const { probs } = attention(q, k, v, B, Tq, Tk, D, H, o);
  const dq = new Float64Array(q.length), dk = new Float64Array(k.length), dv = new Float64Array(v.length);
  for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let i = 0; i < Tq; i++) {
    const P = (j: number) => probs[((b * H + h) * Tq + i) * Tk + j];
    const qi = (b * Tq + i) * D + h * hd;
    const dp = new Float64Array(Tk);
    let dot = 0;
    for (let j = 0; j < Tk; j++) {
      const kj = (b * Tk + j) * D + h * hd;
      let s = 0;
      for (let d = 0; d < hd; d++) s += R[qi + d] * v[kj + d];
      dp[j] = s;
      dot += P(j) * s;
    }
    for (let j = 0; j < Tk; j++) {
      const p = P(j);
      if (p === 0) continue;
      const kj = (b * Tk + j) * D + h * hd;
      const ds = p * (dp[j] - dot);
      for (let d = 0; d < hd; d++) {
        dv[kj + d] += p * R[qi + d];
        dq[qi + d] += scale * ds * k[kj + d];
        dk[kj + d] += scale * ds * q[qi + d];
      }
    }
  }
  return [dq, dk, dv];
}
