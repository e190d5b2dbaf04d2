// A toy sequence task for the engine's end-to-end check and the quick demo: reverse a random
// sequence of symbols after a separator ("3 1 4 | 4 1 3"). Only the reversed half is
// supervised, so near-zero loss means the model really learned to attend backwards.
import * as E from '../engine/index.js';
import { Gpt, GptConfig } from '../model/gpt.js';
import { InitRng } from '../model/nn.js';

export interface ToyOptions {
  symbols: number;
  length: number;
  batch: number;
  steps: number;
  lr: number;
  model: Omit<GptConfig, 'vocab' | 'maxLen'>;
  seed: number;
  onStep?: (step: number, loss: number, ms: number) => void;
  /** Read the loss back every this many steps (readbacks stall the pipeline). */
  logEvery?: number;
}

export interface ToyResult {
  losses: { step: number; loss: number }[];
  accuracy: number;
  msPerStep: number;
  params: number;
}

function makeBatch(rng: InitRng, o: ToyOptions): { ids: Int32Array; targets: Int32Array; T: number } {
  const sep = o.symbols; // separator token id
  const T = 2 * o.length + 1;
  const ids = new Int32Array(o.batch * T);
  const targets = new Int32Array(o.batch * T).fill(-1);
  for (let b = 0; b < o.batch; b++) {
    const seq = Array.from({ length: o.length }, () => Math.floor(rng.uniform() * o.symbols));
    const row = [...seq, sep, ...seq.slice().reverse()];
    row.forEach((v, t) => (ids[b * T + t] = v));
    // position t predicts token t+1: supervise predictions of the reversed half
    for (let t = o.length; t < T - 1; t++) targets[b * T + t] = row[t + 1];
  }
  return { ids, targets, T };
}

export async function trainToy(o: ToyOptions): Promise<ToyResult> {
  await E.initEngine();
  const model = new Gpt({ ...o.model, vocab: o.symbols + 1, maxLen: 2 * o.length + 1 });
  const opt = new E.AdamW(model.ps.list(), { lr: o.lr, weightDecay: 0.0, maxGradNorm: 1.0 });
  const rng = new InitRng(o.seed);
  const losses: { step: number; loss: number }[] = [];
  const logEvery = o.logEvery ?? 10;
  const t0 = performance.now();
  let lastLog = t0, lastStep = 0;
  for (let step = 1; step <= o.steps; step++) {
    const { ids, targets, T } = makeBatch(rng, o);
    const loss = E.tidy(() => {
      opt.zeroGrad();
      const logits = model.forward(ids, o.batch, T);
      const l = E.crossEntropy(logits, E.fromArray(targets, [o.batch * T], 'i32'));
      E.backward(l);
      opt.update();
      return E.keep(E.noGrad(() => E.mulScalar(l, 1)));
    });
    if (step === 1 || step % logEvery === 0 || step === o.steps) {
      const v = await loss.item();
      losses.push({ step, loss: v });
      const now = performance.now();
      o.onStep?.(step, v, (now - lastLog) / (step - lastStep));
      lastLog = now;
      lastStep = step;
    }
    loss.dispose();
  }
  const msPerStep = (performance.now() - t0) / o.steps;
  // Greedy accuracy of the reversed half on fresh sequences (teacher-forced positions).
  const { ids, targets, T } = makeBatch(rng, { ...o, batch: 64 });
  const pred = await E.tidyAsync(async () => {
    const logits = E.noGrad(() => model.forward(ids, 64, T));
    return E.noGrad(() => logits).toArray();
  });
  const V = o.symbols + 1;
  let right = 0, total = 0;
  for (let i = 0; i < targets.length; i++) {
    if (targets[i] < 0) continue;
    let best = 0;
    for (let v = 1; v < V; v++) if (pred[i * V + v] > pred[i * V + best]) best = v;
    right += best === targets[i] ? 1 : 0;
    total++;
  }
  const params = model.ps.count();
  opt.destroy();
  return { losses, accuracy: right / total, msPerStep, params };
}
