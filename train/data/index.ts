// The data layer's public surface, for the trainer and evaluator: records, loaders, the
// synthetic generator, batching. (Tokenizer: ../tokenizer.js; image patches: ../images.js.)
export { SPLITS, isSplit, letterOf, type ProblemRecord, type Split } from './record.js';
export { rationaleToSteps, splitSentences } from './steps.js';
export { MAX_STEPS, MISSING_IMAGE_POLICIES, type LoadOptions, type LoadReport, type LoadedDataset, type MissingImagePolicy } from './dataset.js';
export { loadDataset, detectLayout, type Layout } from './load.js';
export { loadScienceQA } from './scienceqa.js';
export { loadM3CoT } from './m3cot.js';
export { collate, nextTokenLabels, IGNORE_INDEX, type Batch, type CollateOptions, type PadSide } from './collate.js';
export { textOnlyBaselines, type BaselineResult } from './baselines.js';
export { DEFAULT_SYNTH, resolveSynthOptions, type SynthOptions, type QueryKind } from './synth/spec.js';
export { generateProblems, generateSplit, toProblemRecord, type SynthProblem } from './synth/generate.js';
export { writeSynthDataset, type SynthSummary } from './synth/write.js';
export { readScenes, lookupBaselines } from './synth/lookups.js';
export type { Scene, SceneObject } from './synth/scene.js';
