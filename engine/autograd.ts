// Reverse-mode autograd. Each op that sees an input requiring grad attaches a GradNode to its
// output: the inputs and a closure mapping the output's gradient to the inputs' gradients.
// backward() orders the graph topologically from the loss and walks it in reverse,
// accumulating gradients; leaf tensors (parameters) receive theirs in `.grad`.
import { Tensor, GradNode, keep } from './tensor.js';

let gradEnabled = true;

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs fn without recording the graph (inference, optimizer updates). Sync only: see noGradAsync. */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    const result = fn();
    // Recording would be back on at the function's first await.
    if (result instanceof Promise) throw new Error('noGrad got an async function: use noGradAsync');
    return result;
  } finally {
    gradEnabled = prev;
  }
}

/** noGrad for an async function: recording stays off until its promise settles. */
export async function noGradAsync<T>(fn: () => Promise<T>): Promise<T> {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return await fn();
  } finally {
    gradEnabled = prev;
  }
}

/** Attaches the backward closure to `out` if grad is on and any input requires it. */
export function record(out: Tensor, op: string, inputs: Tensor[], backward: GradNode['backward']): Tensor {
  if (gradEnabled && inputs.some((t) => t.requiresGrad)) {
    out.requiresGrad = true;
    out.node = { op, inputs, backward };
  }
  return out;
}

/** The few kernels backward() needs, supplied by the ops layer to keep this file free of GPU code. */
export interface GradKernels {
  add(a: Tensor, b: Tensor): Tensor;
  addInPlace(into: Tensor, add: Tensor): void;
  /** into = from (same shapes), a buffer copy. */
  copyInto(into: Tensor, from: Tensor): void;
  copy(t: Tensor): Tensor;
  ones(like: Tensor): Tensor;
}
let K: GradKernels | null = null;
export function setGradKernels(k: GradKernels): void {
  K = k;
}

function topoOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  // Iterative DFS: latent chains and deep models make recursion depth a real risk.
  const stack: [Tensor, number][] = [[root, 0]];
  seen.add(root);
  while (stack.length) {
    const top = stack[stack.length - 1];
    const [t, i] = top;
    const inputs = t.node?.inputs ?? [];
    if (i < inputs.length) {
      top[1]++;
      const next = inputs[i];
      if (next.requiresGrad && !seen.has(next)) {
        seen.add(next);
        stack.push([next, 0]);
      }
    } else {
      order.push(t);
      stack.pop();
    }
  }
  return order;
}

/**
 * Backpropagates from `loss` (default seed: ones). Leaves get `.grad` (added to an existing
 * grad, so calling backward twice accumulates). The graph is released afterwards:
 * intermediate gradients are disposed as soon as they are consumed, and every node's closure
 * (which holds the saved forward tensors) is dropped.
 */
export function backward(loss: Tensor, seed?: Tensor): void {
  if (!loss.requiresGrad) throw new Error('backward(): the loss does not require grad (no parameter reached it, or noGrad was on)');
  if (!K) throw new Error('backward(): ops layer not loaded');
  const k = K;
  if (seed && (seed.shape.length !== loss.shape.length || seed.shape.some((d, i) => d !== loss.shape[i]) || seed.dtype !== loss.dtype)) {
    throw new Error(`backward(): the seed is ${seed.dtype} [${seed.shape}], the loss ${loss.dtype} [${loss.shape}]; they must match`);
  }
  const order = topoOrder(loss);
  // A tensor whose graph an earlier backward released is no leaf: its gradient would be lost
  // (and its inputs' gradients silently short), so say so before anything runs.
  const freed = order.find((t) => t.freedOp !== null);
  if (freed) throw new Error(`backward(): tensor #${freed.id} [${freed.shape}] (made by ${freed.freedOp}) belongs to a graph an earlier backward() already went through and released; build the graph again for another backward`);
  const grads = new Map<Tensor, Tensor>();
  grads.set(loss, seed ? k.copy(seed) : k.ones(loss));
  const prev = gradEnabled;
  gradEnabled = false; // gradients of gradients are not needed
  try {
    for (let i = order.length - 1; i >= 0; i--) {
      const t = order[i];
      const g = grads.get(t);
      if (!g) continue;
      grads.delete(t);
      if (!t.node) {
        // A leaf: its gradient outlives the scope the step runs in. Gradients may be views
        // sharing storage with other gradients, so a leaf only ever owns a private copy.
        if (t.grad) {
          // A gradient known to be all zeros (cleared by the optimizer) takes the first
          // contribution as a buffer copy, several times faster than a shader add on a CPU adapter.
          if (t.gradIsZero) k.copyInto(t.grad, g);
          else k.addInPlace(t.grad, g);
          t.gradIsZero = false;
          g.dispose();
        } else if (g.storage.refs > 1) {
          t.grad = keep(k.copy(g));
          g.dispose();
        } else {
          t.grad = keep(g);
        }
        continue;
      }
      const node = t.node;
      const inGrads = node.backward(g);
      g.dispose();
      node.inputs.forEach((inp, j) => {
        const gi = inGrads[j];
        if (!gi) return;
        if (gi === g) throw new Error(`backward of ${node.op} returned its incoming gradient object; return a view`);
        if (!inp.requiresGrad) {
          gi.dispose();
          return;
        }
        const have = grads.get(inp);
        if (have) {
          grads.set(inp, k.add(have, gi));
          have.dispose();
          gi.dispose();
        } else grads.set(inp, gi);
      });
    }
  } finally {
    gradEnabled = prev;
    for (const g of grads.values()) g.dispose();
    for (const t of order) {
      if (t.node) t.freedOp = t.node.op;
      t.node = null;
    }
  }
}
