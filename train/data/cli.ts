// `ivt data ...`: generate the synthetic dataset, inspect any dataset, check the synthetic
// dataset's claims. Thin: parses and validates flags, then calls the modules that do the work.
import { existsSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { UserError } from '../../engine/errors.js';
import { MISSING_IMAGE_POLICIES, type LoadOptions, type MissingImagePolicy } from './dataset.js';
import { loadDataset } from './load.js';
import { datasetStats, formatStats } from './stats.js';
import { judgeStats } from './check.js';
import { renderContactSheet } from './sheet.js';
import { readScenes } from './synth/lookups.js';
import { QUERY_KINDS, type QueryKind, type SynthOptions } from './synth/spec.js';
import { writeSynthDataset } from './synth/write.js';
import { sceneImageDifference } from './synth/verify.js';
import { verifyImages } from '../images.js';
import type { Scene } from './synth/scene.js';

type Log = (line: string) => void;

/** Strict integer flag parsing: "12" yes; "1.5", "1e3", "", "12abc" no. */
export function parseIntFlag(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^[+-]?\d+$/.test(value.trim())) throw new UserError(`${flag} must be an integer, got "${value}"`);
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new UserError(`${flag} is too large: ${value}`);
  return n;
}

function parsePolicy(value: string | undefined): MissingImagePolicy | undefined {
  if (value === undefined) return undefined;
  if (!(MISSING_IMAGE_POLICIES as readonly string[]).includes(value)) {
    throw new UserError(`--missing-image must be one of ${MISSING_IMAGE_POLICIES.join(', ')}, got "${value}"`);
  }
  return value as MissingImagePolicy;
}

export function parseQueries(value: string | undefined): QueryKind[] | undefined {
  if (value === undefined) return undefined;
  const kinds = value.split(',').map((s) => s.trim()).filter(Boolean);
  for (const k of kinds) if (!(QUERY_KINDS as readonly string[]).includes(k)) throw new UserError(`--queries: unknown kind "${k}" (expected ${QUERY_KINDS.join(', ')})`);
  return kinds as QueryKind[];
}

export interface SynthFlags {
  out?: string; train?: string; val?: string; test?: string; seed?: string; grid?: string;
  objects?: string; steps?: string; minSteps?: string; imageSize?: string; queries?: string; optionOrder?: string; startBy?: string; wording?: string; force?: boolean;
}

export async function synthCommand(flags: SynthFlags, log: Log = console.log): Promise<void> {
  if (!flags.out) throw new UserError('--out DIR is required');
  const options: Partial<SynthOptions> = {
    train: parseIntFlag('--train', flags.train), val: parseIntFlag('--val', flags.val), test: parseIntFlag('--test', flags.test),
    seed: parseIntFlag('--seed', flags.seed), grid: parseIntFlag('--grid', flags.grid), objects: parseIntFlag('--objects', flags.objects),
    steps: parseIntFlag('--steps', flags.steps), minSteps: parseIntFlag('--min-steps', flags.minSteps), imageSize: parseIntFlag('--image-size', flags.imageSize), queries: parseQueries(flags.queries),
    optionOrder: flags.optionOrder as SynthOptions['optionOrder'] | undefined,
    startBy: flags.startBy as SynthOptions['startBy'] | undefined,
    wording: flags.wording as SynthOptions['wording'] | undefined,
  };
  const t0 = Date.now();
  const summary = await writeSynthDataset(flags.out, options, { force: flags.force ?? false });
  const o = summary.options;
  log(`wrote ${resolve(flags.out)}: train ${summary.counts.train}, val ${summary.counts.val}, test ${summary.counts.test} ` +
    `(seed ${o.seed}, ${o.grid}x${o.grid} grid, ${o.objects} objects, ${o.minSteps < o.steps ? `${o.minSteps}-` : ''}${o.steps} steps, ${o.imageSize}px, ${o.queries.join('/')}, ${o.optionOrder} option order, start by ${o.startBy}, ${o.wording} wording) in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
  // Quoted where the shell would split or expand it, so the line can be pasted.
  const arg = /^[\w./:@%+=,-]+$/.test(flags.out) ? flags.out : `'${flags.out.replace(/'/g, `'\\''`)}'`;
  log(`next: ivt data inspect ${arg}   (statistics and a contact sheet)   ivt data check ${arg}   (baselines near chance)`);
}

interface LoadFlags { missingImage?: string; maxSteps?: string; rationale?: string }

function loadFlags(flags: LoadFlags): LoadOptions {
  const rationale = flags.rationale;
  if (rationale !== undefined && rationale !== 'lecture+solution' && rationale !== 'solution') {
    throw new UserError(`--rationale must be "lecture+solution" or "solution", got "${rationale}"`);
  }
  return {
    missingImage: parsePolicy(flags.missingImage),
    maxSteps: parseIntFlag('--max-steps', flags.maxSteps),
    ...(rationale ? { rationale } : {}),
  };
}

function scenesOf(dir: string, layout: string): Map<string, Scene> {
  return layout === 'scienceqa' ? readScenes(dir) : new Map();
}

export interface InspectFlags extends LoadFlags { sheet?: string | false; count?: string }

export async function inspectCommand(dir: string, flags: InspectFlags, log: Log = console.log): Promise<void> {
  const data = loadDataset(dir, loadFlags(flags));
  // Where the sheet goes is checked before anything is printed: a bad --sheet is one line.
  const count = flags.sheet === false ? 0 : parseIntFlag('--count', flags.count) ?? 6;
  if (flags.sheet !== false && (count < 1 || count > 50)) throw new UserError(`--count must be in [1, 50], got ${count}`);
  const sheet = resolve(typeof flags.sheet === 'string' ? flags.sheet : join(data.report.root, 'contact-sheet.png'));
  if (flags.sheet !== false) {
    if (existsSync(sheet) && statSync(sheet).isDirectory()) throw new UserError(`cannot write the contact sheet to ${sheet}: it is a folder; pass --sheet FILE`);
    let above = dirname(sheet);
    while (!existsSync(above)) above = dirname(above);
    if (!statSync(above).isDirectory()) throw new UserError(`cannot write the contact sheet to ${sheet}: ${above} is a file; pass --sheet FILE`);
  }
  const scenes = scenesOf(dir, data.report.layout);
  const stats = datasetStats(data, scenes);
  log(formatStats(data, stats));
  if (flags.sheet === false) return;
  const grid = scenes.size > 0 ? [...scenes.values()][0]!.grid : null;
  // Prefer test problems on the sheet (what evaluation sees), else whatever there is; for
  // synthetic data, take the question kinds in turn so each kind is shown.
  const test = data.records.filter((r) => r.split === 'test');
  let pool = test.length ? test : data.records;
  if (scenes.size > 0) {
    const byKind = new Map<string, typeof pool>();
    for (const r of pool) {
      const kind = scenes.get(r.id)?.query ?? '';
      if (!byKind.has(kind)) byKind.set(kind, []);
      byKind.get(kind)!.push(r);
    }
    const queues = [...byKind.values()];
    pool = [];
    for (let i = 0; pool.length < count && queues.some((q) => i < q.length); i++) for (const q of queues) if (i < q.length) pool.push(q[i]!);
    pool = pool.slice(0, count);
  }
  try {
    const n = await renderContactSheet(pool, sheet, { count, grid });
    log(`contact sheet: ${sheet} (${n} problems)`);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EROFS' || code === 'ENOENT' || code === 'EISDIR' || code === 'ENOTDIR' || code === 'EEXIST' || code === 'ENOTEMPTY') throw new UserError(`cannot write the contact sheet to ${sheet} (${code}); pass --sheet FILE`);
    throw err;
  }
}

export interface CheckFlags extends LoadFlags { pixels?: boolean }

export async function checkCommand(dir: string, flags: CheckFlags, log: Log = console.log): Promise<void> {
  const data = loadDataset(dir, loadFlags(flags));
  const scenes = scenesOf(dir, data.report.layout);
  const withImages = data.records.filter((r) => r.imagePath !== null);
  await verifyImages(withImages.map((r) => r.imagePath!));
  log(`images: ${withImages.length} decoded`);
  const failures: string[] = [];
  if (scenes.size > 0 && flags.pixels !== false) {
    let worst = 0;
    let worstId = '';
    for (const r of withImages) {
      const d = await sceneImageDifference(r.imagePath!, scenes.get(r.id)!);
      if (d > worst) { worst = d; worstId = r.id; }
    }
    log(`pictures vs scenes: largest pixel difference ${worst}${worstId ? ` (${worstId})` : ''}`);
    if (worst > 2) failures.push(`picture of ${worstId} differs from its scene (pixel difference ${worst})`);
  }
  const stats = datasetStats(data, scenes);
  log(formatStats(data, stats));
  const verdict = judgeStats(stats);
  for (const n of verdict.notes) log(`note: ${n}`);
  failures.push(...verdict.failures);
  if (failures.length > 0) {
    for (const f of failures) log(`FAIL: ${f}`);
    throw new UserError(`data check failed: ${failures.length} problem(s), first: ${failures[0]}`);
  }
  log('data check passed');
}

export function registerDataCommands(program: Command): void {
  const data = program.command('data').description('datasets: synthetic generator, loaders, statistics');
  const loadOpts = (c: Command) => c
    .option('--missing-image <policy>', 'records whose image file is missing: skip | text-only | error (default error)')
    .option('--max-steps <n>', 'merge rationales into at most N steps (default 3)')
    .option('--rationale <which>', 'ScienceQA layout: lecture+solution (default) or solution');

  data.command('synth')
    .description('generate the synthetic multimodal reasoning dataset (ScienceQA layout)')
    .option('--out <dir>', 'output folder (written atomically)')
    .option('--train <n>', 'training problems (default 2000)')
    .option('--val <n>', 'validation problems (default 200)')
    .option('--test <n>', 'test problems (default 400)')
    .option('--seed <n>', 'random seed (default 1)')
    .option('--grid <n>', 'cells per side (default 4)')
    .option('--objects <n>', 'objects per picture (default 10; count questions need >= 10)')
    .option('--steps <n>', 'reasoning steps per problem, >= 3 (default 3)')
    .option('--min-steps <n>', 'mixed chain lengths: each problem has min-steps..steps steps, every length equally often (default: all --steps; starting at a cell, 1 is a chain without moves)')
    .option('--image-size <px>', 'picture side in pixels, a multiple of --grid (default 32)')
    .option('--queries <list>', 'question kinds, comma separated: colour,shape,count (default all)')
    .option('--option-order <order>', 'fixed: options always in the same order (default); shuffled: random order')
    .option('--start-by <how>', 'object: "Start at the red circle." (default); cell: "Start at cell ten."')
    .option('--wording <how>', 'rationale steps: classic: "One cell left is nine red square." (default); cell-first: "nine red square is one cell left." (needs --start-by cell); cell-value: cell-first moves, then the asked value first: "green is the colour." (needs --start-by cell)')
    .option('--force', 'replace a non-empty output folder')
    .action(async (flags: SynthFlags) => synthCommand(flags));

  loadOpts(data.command('inspect')
    .description('print dataset statistics and baselines, and write a contact sheet PNG')
    .argument('<dir>', 'dataset folder (or M3CoT .jsonl file)')
    .option('--sheet <file>', 'contact sheet path (default DIR/contact-sheet.png)')
    .option('--no-sheet', 'do not write a contact sheet')
    .option('--count <n>', 'problems on the contact sheet (default 6)'))
    .action(async (dir: string, flags: InspectFlags) => inspectCommand(dir, flags));

  loadOpts(data.command('check')
    .description('verify images and that shortcut baselines stay near chance (exit 2 if not)')
    .argument('<dir>', 'dataset folder (or M3CoT .jsonl file)')
    .option('--no-pixels', 'skip comparing synthetic pictures with their scenes'))
    .action(async (dir: string, flags: CheckFlags) => checkCommand(dir, flags));
}
