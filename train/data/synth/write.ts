// Writes a synthetic dataset in ScienceQA's layout, atomically:
//   problems.json      {pid: {question, choices, answer, hint, image, lecture, solution, split,
//                              task, scene}}
//   pid_splits.json    {train: [...], val: [...], test: [...]}
//   images/<split>/<pid>/image.png
//   synth.json         the options used (to regenerate or compare datasets)
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { checkTarget, writeFolderAtomically } from '../atomic.js';
import { SPLITS, type Split } from '../record.js';
import { generateProblems, type SynthProblem } from './generate.js';
import { renderScenePng } from './render.js';
import { resolveSynthOptions, type SynthOptions } from './spec.js';

export interface SynthSummary {
  dir: string;
  options: SynthOptions;
  counts: Record<Split, number>;
}

/** The problems.json entry for one problem (ScienceQA's field names). */
export function toScienceQARecord(p: SynthProblem): Record<string, unknown> {
  return {
    question: p.question, choices: p.choices, answer: p.answerIndex, hint: '', image: 'image.png',
    lecture: '', solution: p.solution, split: p.split, task: `synthetic ${p.scene.query}`, scene: p.scene,
  };
}

/** Render PNGs with a bounded number in flight (sharp works on libuv's thread pool). */
async function renderAll(problems: SynthProblem[], dir: string, size: number, concurrency = 16): Promise<void> {
  let next = 0;
  async function worker(): Promise<void> {
    while (next < problems.length) {
      const p = problems[next++]!;
      const folder = join(dir, 'images', p.split, p.pid);
      mkdirSync(folder, { recursive: true });
      writeFileSync(join(folder, 'image.png'), await renderScenePng(p.scene, size));
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, problems.length) }, worker));
}

export async function writeSynthDataset(outDir: string, partial: Partial<SynthOptions>, opts: { force?: boolean } = {}): Promise<SynthSummary> {
  const options = resolveSynthOptions(partial);
  checkTarget(resolve(outDir), opts.force ?? false); // fail before the work, not after
  const problems = generateProblems(options);
  return writeFolderAtomically(outDir, async (tmp) => {
    const records: Record<string, unknown> = {};
    const splits: Record<Split, string[]> = { train: [], val: [], test: [] };
    for (const p of problems) {
      records[p.pid] = toScienceQARecord(p);
      splits[p.split].push(p.pid);
    }
    await renderAll(problems, tmp, options.imageSize);
    writeFileSync(join(tmp, 'problems.json'), JSON.stringify(records) + '\n');
    writeFileSync(join(tmp, 'pid_splits.json'), JSON.stringify(splits) + '\n');
    writeFileSync(join(tmp, 'synth.json'), JSON.stringify({ generator: 'ivt synthetic grid v1', ...options }, null, 2) + '\n');
    const counts = Object.fromEntries(SPLITS.map((s) => [s, splits[s].length])) as Record<Split, number>;
    return { dir: outDir, options, counts };
  }, opts);
}
