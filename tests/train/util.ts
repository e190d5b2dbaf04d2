// Helpers shared by the data tests: temporary folders (removed at exit) and assertions that
// a call fails with a UserError whose message names what is wrong.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { UserError } from '../../engine/errors.js';
import { FULL_LATENT } from '../../model/ivt.js';
import type { TrainOptions } from '../../train/trainer.js';

const made: string[] = [];
process.on('exit', () => { for (const d of made) rmSync(d, { recursive: true, force: true }); });

export function tempDir(label = 'ivt-data-test'): string {
  const d = mkdtempSync(join(tmpdir(), `${label}-`));
  made.push(d);
  return d;
}

export const SCIENCEQA_SAMPLE = process.env['IVT_SCIENCEQA_SAMPLE'] ?? '/work/shared/data/scienceqa-sample';

function checkUserError(err: unknown, patterns: Array<string | RegExp>): void {
  if (!(err instanceof UserError)) assert.unreachable(`expected a UserError, got ${String((err as Error)?.stack ?? err)}`);
  if (!(err instanceof UserError)) return;
  for (const p of patterns) {
    const ok = typeof p === 'string' ? err.message.includes(p) : p.test(err.message);
    assert.ok(ok, `UserError message should match ${String(p)}: "${err.message}"`);
  }
}

export function throwsUserError(fn: () => unknown, ...patterns: Array<string | RegExp>): UserError {
  try {
    fn();
  } catch (err) {
    checkUserError(err, patterns);
    return err as UserError;
  }
  assert.unreachable('expected a UserError, but nothing was thrown');
  throw new Error('unreachable');
}

export async function rejectsUserError(fn: () => Promise<unknown>, ...patterns: Array<string | RegExp>): Promise<UserError> {
  try {
    await fn();
  } catch (err) {
    checkUserError(err, patterns);
    return err as UserError;
  }
  assert.unreachable('expected a UserError, but nothing was thrown');
  throw new Error('unreachable');
}

/**
 * A tiny curriculum run for the trainer's schedule tests: `tiny` preset, 2 latent stages, 8
 * training problems in batches of 4 (2 steps an epoch), no evaluation; `over` sets the rest.
 */
export function tinyRunOptions(data: string, out: string, over: Partial<TrainOptions> = {}): TrainOptions {
  return {
    data, out, preset: 'tiny', stages: 2, epochsPerStage: 1, batch: 4, lr: 3e-3, weightDecay: 0.01, clip: 1, resetOptimizer: true, seed: 1,
    checkpointEvery: 0, resume: false, mode: 'ivt', latent: FULL_LATENT, evalEachStage: false, logEvery: 1000, maxTrain: 8, maxVal: 6, log: () => {}, ...over,
  };
}

/** A run's metrics.jsonl, one object per line. */
export function metricsLines<T>(run: string): T[] {
  return readFileSync(`${run}/metrics.jsonl`, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as T);
}
