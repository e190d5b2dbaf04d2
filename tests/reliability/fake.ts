// A tiny IVT-LR model and short fake samples (as tests/model/ivt.test.ts builds them), for
// in-process training-step tests.
import { preset, type IvtConfig } from '../../model/config.js';
import { IvtModel, type Sample } from '../../model/ivt.js';
import { rng } from '../helpers.js';

/** The tiny preset made smaller still: 16-wide, one block each, a 16 px image in 4 patches. */
export function microConfig(vocab = 40): IvtConfig {
  return preset('tiny', vocab, {
    dim: 16, heads: 2, layers: 1, maxLen: 64, mlpRatio: 2, imageSize: 16, patch: 8,
    visionDim: 16, visionHeads: 2, visionLayers: 1, topK: 1, latentSteps: 2,
  });
}

export function fakeSamples(n: number, model: IvtModel, seed: number, offset = 0): Sample[] {
  const r = rng(seed);
  const vocab = model.cfg.vocab;
  const tok = () => 6 + Math.floor(r() * (vocab - 6));
  const patchDim = model.vision.patchDim;
  return Array.from({ length: n }, (_, k) => {
    const i = k + offset;
    return {
      patches: Float32Array.from({ length: model.J * patchDim }, () => r() * 2 - 1),
      prompt: Array.from({ length: 4 + (i % 3) }, tok),
      steps: [0, 1, 2].map(() => Array.from({ length: 2 + ((i + 1) % 2) }, tok)),
      answer: [tok(), tok(), 1],
      answerIndex: i % 4,
    };
  });
}
