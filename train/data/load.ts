// One entry point for every layout: a folder with problems.json is ScienceQA's layout (and
// the synthetic generator's); a .jsonl file, or a folder of train/val/test .jsonl files, is M3CoT's.
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { UserError } from '../../engine/errors.js';
import type { LoadOptions, LoadedDataset } from './dataset.js';
import { loadScienceQA } from './scienceqa.js';
import { loadM3CoT } from './m3cot.js';

export type Layout = 'scienceqa' | 'm3cot';

export function detectLayout(path: string): Layout {
  const abs = resolve(path);
  if (!existsSync(abs)) throw new UserError(`${abs}: no such file or folder`);
  if (statSync(abs).isFile()) {
    if (abs.endsWith('.jsonl')) return 'm3cot';
    throw new UserError(`${abs}: expected a dataset folder (with problems.json) or an M3CoT .jsonl file`);
  }
  if (existsSync(join(abs, 'problems.json'))) return 'scienceqa';
  if (['train.jsonl', 'val.jsonl', 'dev.jsonl', 'test.jsonl'].some((f) => existsSync(join(abs, f)))) return 'm3cot';
  throw new UserError(`${abs}: not a dataset (no problems.json, and no train/val/test .jsonl files)`);
}

export function loadDataset(path: string, options: LoadOptions = {}): LoadedDataset {
  return detectLayout(path) === 'scienceqa' ? loadScienceQA(path, options) : loadM3CoT(path, options);
}
