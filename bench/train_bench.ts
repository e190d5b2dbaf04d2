// `ivt bench train`: training-step time and tokens/s of the IVT-LR model on the engine, beside
// the same model written with TensorFlow.js (bench/peers/tfjs_ivt.ts) on the same adapter, in
// the same run: same initial weights, same batches (stage 0), same optimizer. The per-step
// losses are reported side by side to show both compute the same thing.
import * as E from '../engine/index.js';
import { rt } from '../engine/tensor.js';
import { preset } from '../model/config.js';
import { FULL_LATENT, IvtModel, Sample } from '../model/ivt.js';
import { loadDataset } from '../train/data/index.js';
import { toSamples } from '../train/samples.js';
import { buildTrainingTokenizer } from '../train/tokenizer.js';
import type { FlatBatch } from './peers/tfjs_ivt.js';
import { median } from './harness.js';

export interface TrainBenchReport {
  adapter: string;
  date: string;
  preset: string;
  /** The preset's sizes, so that the figure keeps its meaning if a preset is redefined. */
  model?: { dim: number; layers: number; heads: number; mlpRatio: number; visionDim: number; visionLayers: number };
  batch: number;
  steps: number;
  tokens_per_step: number;
  engine: { ms_per_step: number; tokens_per_s: number; losses: number[] };
  peer: { name: string; ms_per_step: number; tokens_per_s: number; losses: number[] } | null;
  speedup: number | null;
  max_loss_diff: number | null;
}

/** Stage 0 as one causal pass: [pad][image][prompt][suffix minus last], labels on the suffix. */
export function flatBatch(model: IvtModel, samples: Sample[]): FlatBatch {
  const B = samples.length, J = model.J;
  const rows = samples.map((s) => {
    const suffix = [...s.steps.flat(), ...s.answer];
    return { prompt: s.prompt, suffix };
  });
  const Tp = Math.max(...rows.map((r) => J + r.prompt.length));
  const T = Tp + Math.max(...rows.map((r) => r.suffix.length)) - 1;
  const tableIdx = new Int32Array(B * T), positions = new Int32Array(B * T), labels = new Int32Array(B * T).fill(-1), keyStart = new Int32Array(B);
  const vocabBase = B * J;
  rows.forEach((r, b) => {
    // Left padding up to the longest prompt, as the engine does; suffixes are right-padded.
    const pad = Tp - (J + r.prompt.length);
    keyStart[b] = pad;
    for (let t = 0; t < T; t++) {
      const rel = t - pad;
      positions[b * T + t] = Math.max(rel, 0);
      let id: number;
      if (rel < 0) id = vocabBase + model.padId;
      else if (rel < J) id = b * J + rel;
      else if (rel < J + r.prompt.length) id = vocabBase + r.prompt[rel - J];
      else {
        const k = rel - J - r.prompt.length; // index into suffix inputs
        id = vocabBase + (k < r.suffix.length - 1 ? r.suffix[k] : model.padId);
      }
      tableIdx[b * T + t] = id;
      // Position Tp-1 predicts suffix[0]; Tp-1+k predicts suffix[k].
      const k = t - (Tp - 1);
      if (k >= 0 && k < r.suffix.length) labels[b * T + t] = r.suffix[k];
    }
  });
  const patchDim = model.vision.patchDim;
  const patches = new Float32Array(B * J * patchDim);
  samples.forEach((s, b) => patches.set(s.patches, b * J * patchDim));
  return { B, T, J, patches, tableIdx, positions, keyStart, labels };
}

export async function runTrainBench(o: { data: string; preset: string; batch: number; steps: number; lr: number; peer: boolean; log?: (s: string) => void }): Promise<TrainBenchReport> {
  const log = o.log ?? console.log;
  await E.initEngine();
  const ds = await loadDataset(o.data, { missingImage: 'error' });
  const train = ds.records.filter((r) => r.split === 'train').slice(0, o.batch * o.steps);
  const tok = buildTrainingTokenizer(train);
  const cfg = preset(o.preset, tok.vocabSize);
  const samples = await toSamples(train, tok, cfg);
  const batches = Array.from({ length: o.steps }, (_, i) => samples.slice(i * o.batch, (i + 1) * o.batch)).filter((b) => b.length === o.batch);
  const model = new IvtModel(cfg, tok.pad);
  const weights = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, t] of model.ps.params) if (!name.startsWith('latent.')) weights.set(name, { shape: [...t.shape], data: (await t.toArray()) as Float32Array });
  const tokensPerStep = median(batches.map((b) => b.reduce((a, s) => a + model.J + s.prompt.length + s.steps.flat().length + s.answer.length, 0)));

  // Engine.
  const opt = new E.AdamW(model.ps.list(), { lr: o.lr, weightDecay: 0, maxGradNorm: 1.0 });
  const engineLosses: number[] = [], engineMs: number[] = [];
  for (const b of batches) {
    const t0 = performance.now();
    const l = E.tidy(() => {
      opt.zeroGrad();
      const loss = model.loss(b, 0, FULL_LATENT);
      E.backward(loss);
      opt.update();
      return E.keep(E.noGrad(() => E.clone(loss)));
    });
    engineLosses.push(await l.item());
    l.dispose();
    engineMs.push(performance.now() - t0);
  }
  opt.destroy();
  const engMs = median(engineMs.slice(1));
  log(`engine: ${engMs.toFixed(0)} ms/step (median after the first), losses ${engineLosses.map((x) => x.toFixed(4)).join(' ')}`);

  let peer: TrainBenchReport['peer'] = null;
  if (o.peer) {
    try {
      const peerModule = './peers/tfjs.js';
      const { createTfjsPeer } = (await import(peerModule)) as { createTfjsPeer: () => Promise<{ tf: unknown; dispose: () => Promise<void> }> };
      const ivtModule = './peers/tfjs_ivt.js';
      const { TfjsIvt } = (await import(ivtModule)) as typeof import('./peers/tfjs_ivt.js');
      const p = await createTfjsPeer();
      try {
        const net = new TfjsIvt(p.tf, cfg, weights, { lr: o.lr, clip: 1.0 });
        const losses: number[] = [], ms: number[] = [];
        for (const b of batches) {
          const fb = flatBatch(model, b);
          const t0 = performance.now();
          losses.push(await net.step(fb));
          ms.push(performance.now() - t0);
        }
        net.dispose();
        const m = median(ms.slice(1));
        peer = { name: 'tfjs-webgpu', ms_per_step: round(m), tokens_per_s: round((tokensPerStep / m) * 1000), losses };
        log(`tfjs:   ${m.toFixed(0)} ms/step (median after the first), losses ${losses.map((x) => x.toFixed(4)).join(' ')}`);
      } finally {
        await p.dispose();
      }
    } catch (e) {
      log(`TensorFlow.js peer failed: ${(e as Error).message}`);
    }
  }
  model.ps.dispose();
  const maxDiff = peer ? Math.max(...engineLosses.map((l, i) => Math.abs(l - peer!.losses[i]))) : null;
  return {
    adapter: rt().dev.describe(), date: new Date().toISOString(), preset: o.preset,
    model: { dim: cfg.dim, layers: cfg.layers, heads: cfg.heads, mlpRatio: cfg.mlpRatio, visionDim: cfg.visionDim, visionLayers: cfg.visionLayers },
    batch: o.batch, steps: batches.length, tokens_per_step: tokensPerStep,
    engine: { ms_per_step: round(engMs), tokens_per_s: round((tokensPerStep / engMs) * 1000), losses: engineLosses },
    peer, speedup: peer ? round(peer.ms_per_step / engMs) : null, max_loss_diff: maxDiff === null ? null : Number(maxDiff.toPrecision(3)),
  };
}

/** "width 64, 3 blocks (MLP x4), vision width 64, 2 blocks". */
export const modelSizes = (m: NonNullable<TrainBenchReport['model']>) => `width ${m.dim}, ${m.layers} blocks (MLP x${m.mlpRatio}), vision width ${m.visionDim}, ${m.visionLayers} block${m.visionLayers > 1 ? 's' : ''}`;

const round = (x: number) => Math.round(x * 100) / 100;

export function trainBenchMarkdown(r: TrainBenchReport): string {
  return [
    `Adapter: ${r.adapter}; preset ${r.preset}${r.model ? ` (${modelSizes(r.model)})` : ''}, batch ${r.batch}, ${r.steps} steps of stage 0, ~${r.tokens_per_step} tokens/step; ${r.date}`,
    '',
    '| implementation | ms / step | tokens / s | loss at each step |',
    '|---|---|---|---|',
    `| this engine | ${r.engine.ms_per_step.toFixed(0)} | ${r.engine.tokens_per_s.toFixed(0)} | ${r.engine.losses.map((x) => x.toFixed(4)).join(', ')} |`,
    r.peer ? `| ${r.peer.name} | ${r.peer.ms_per_step.toFixed(0)} | ${r.peer.tokens_per_s.toFixed(0)} | ${r.peer.losses.map((x) => x.toFixed(4)).join(', ')} |` : '| tfjs-webgpu | - | - | (not run) |',
    '',
    r.speedup !== null ? `Speedup: ${r.speedup}x per step; largest per-step loss difference ${r.max_loss_diff}.` : '',
  ].join('\n');
}
