// Model configuration and presets. Saved as config.json beside every checkpoint.
import { UserError } from '../engine/errors.js';

export interface IvtConfig {
  /** Language model. */
  vocab: number;
  dim: number;
  heads: number;
  layers: number;
  maxLen: number;
  mlpRatio: number;
  /** Vision encoder: images resized to imageSize, cut into patch x patch patches. */
  imageSize: number;
  patch: number;
  visionDim: number;
  visionHeads: number;
  visionLayers: number;
  /** Latent reasoning: image embeddings selected per latent step (k) and latent steps (N). */
  topK: number;
  latentSteps: number;
  seed: number;
  /**
   * How the language model sees positions: 'rope' (rotary, on q and k: scores depend on the
   * offset between tokens) or 'learned' (a table added to the input). Configs written before
   * this field existed are 'learned'.
   */
  positions?: 'rope' | 'learned';
  /**
   * The language model's attention starts with keys projected as queries (BlockConfig.tiedQkInit).
   * Only the initial weights depend on it; configs written before it existed are false.
   */
  tiedQkInit?: boolean;
  /**
   * Adaptive latent steps: a head on the prompt's last hidden state predicts how many latent
   * steps (0..latentSteps) the question needs, and inference runs that many (model/ivt.ts,
   * countLogits). Configs written before it existed are false.
   */
  adaptiveLatents?: boolean;
}

export type PresetName = 'tiny' | 'small' | 'medium' | 'base';
export const PRESET_NAMES: readonly PresetName[] = ['tiny', 'small', 'medium', 'base'];

// Until 2026-12-07 the demo's model was called `tiny` and `medium` was called `small`: runs and
// reports written before then say so (their config.json holds the sizes, which is what loads).
const PRESETS: Record<PresetName, Omit<IvtConfig, 'vocab'>> = {
  // Smoke runs and tests: 16 wide, one block each, so that `ivt train --preset tiny` ends in
  // seconds on a 2-core software GPU. Too small to learn the demo's task well.
  tiny: { dim: 16, heads: 2, layers: 1, maxLen: 160, mlpRatio: 2, imageSize: 32, patch: 8, visionDim: 16, visionHeads: 2, visionLayers: 1, topK: 4, latentSteps: 3, seed: 1, positions: 'rope', tiedQkInit: true },
  // The demo: on lavapipe the size that gets through enough optimizer steps in its 10-minute
  // budget (README, "What `npm run demo` does").
  small: { dim: 32, heads: 2, layers: 2, maxLen: 160, mlpRatio: 2, imageSize: 32, patch: 8, visionDim: 32, visionHeads: 2, visionLayers: 1, topK: 4, latentSteps: 3, seed: 1, positions: 'rope', tiedQkInit: true },
  // Wider and deeper: on lavapipe the demo's curriculum alone took 34 minutes with it
  // (docs/grounding.md); `ivt demo --preset medium` on a GPU. The training benchmark's model.
  medium: { dim: 64, heads: 2, layers: 3, maxLen: 160, mlpRatio: 4, imageSize: 32, patch: 8, visionDim: 64, visionHeads: 2, visionLayers: 2, topK: 4, latentSteps: 3, seed: 1, positions: 'rope', tiedQkInit: true },
  // For real GPUs.
  base: { dim: 256, heads: 8, layers: 6, maxLen: 256, mlpRatio: 4, imageSize: 32, patch: 8, visionDim: 256, visionHeads: 8, visionLayers: 4, topK: 4, latentSteps: 3, seed: 1, positions: 'rope', tiedQkInit: true },
};

export function preset(name: string, vocab: number, overrides: Partial<IvtConfig> = {}): IvtConfig {
  if (!(name in PRESETS)) throw new UserError(`unknown preset "${name}" (choose ${Object.keys(PRESETS).join(', ')})`);
  const cfg = { ...PRESETS[name as PresetName], vocab, ...overrides };
  validateConfig(cfg, 'config');
  return cfg;
}

export function validateConfig(cfg: IvtConfig, where: string): void {
  const ints: (keyof IvtConfig)[] = ['vocab', 'dim', 'heads', 'layers', 'maxLen', 'mlpRatio', 'imageSize', 'patch', 'visionDim', 'visionHeads', 'visionLayers', 'topK', 'latentSteps', 'seed'];
  for (const k of ints) {
    const v = cfg[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < (k === 'latentSteps' || k === 'seed' ? 0 : 1)) {
      throw new UserError(`${where}: field "${k}" must be a ${k === 'latentSteps' || k === 'seed' ? 'non-negative' : 'positive'} integer, got ${JSON.stringify(v)}`);
    }
  }
  if (cfg.positions !== undefined && cfg.positions !== 'rope' && cfg.positions !== 'learned') {
    throw new UserError(`${where}: field "positions" must be "rope" or "learned", got ${JSON.stringify(cfg.positions)}`);
  }
  if (cfg.tiedQkInit !== undefined && typeof cfg.tiedQkInit !== 'boolean') {
    throw new UserError(`${where}: field "tiedQkInit" must be true or false, got ${JSON.stringify(cfg.tiedQkInit)}`);
  }
  if (cfg.adaptiveLatents !== undefined && typeof cfg.adaptiveLatents !== 'boolean') {
    throw new UserError(`${where}: field "adaptiveLatents" must be true or false, got ${JSON.stringify(cfg.adaptiveLatents)}`);
  }
  if (cfg.dim % cfg.heads !== 0 || (cfg.dim / cfg.heads) % 4 !== 0) throw new UserError(`${where}: dim ${cfg.dim} must split into ${cfg.heads} heads of a multiple of 4`);
  if (cfg.visionDim % cfg.visionHeads !== 0 || (cfg.visionDim / cfg.visionHeads) % 4 !== 0) throw new UserError(`${where}: visionDim ${cfg.visionDim} must split into ${cfg.visionHeads} heads of a multiple of 4`);
  if (cfg.imageSize % cfg.patch !== 0) throw new UserError(`${where}: imageSize ${cfg.imageSize} is not a multiple of patch ${cfg.patch}`);
  const J = (cfg.imageSize / cfg.patch) ** 2;
  if (cfg.topK > J) throw new UserError(`${where}: top-${cfg.topK} exceeds the ${J} image tokens`);
  if (cfg.topK * cfg.latentSteps > J) throw new UserError(`${where}: ${cfg.latentSteps} latent steps x top-${cfg.topK} exceed the ${J} image tokens`);
}

export const imageTokens = (c: IvtConfig): number => (c.imageSize / c.patch) ** 2;
