// Options and the load report shared by the loaders (ScienceQA layout, M3CoT layout).
import { UserError } from '../../engine/errors.js';
import type { ProblemRecord, Split } from './record.js';

/**
 * What to do with a record whose image file is named but absent (the ScienceQA sample ships
 * without images): drop it, keep it as a text-only problem, or stop with an error. The
 * choice is always explicit and its effect is counted in the report.
 */
export type MissingImagePolicy = 'skip' | 'text-only' | 'error';
export const MISSING_IMAGE_POLICIES: readonly MissingImagePolicy[] = ['skip', 'text-only', 'error'];

export interface LoadOptions {
  /** Maximum reasoning steps per problem (METHOD.md: N = 3). Default 3. */
  maxSteps?: number;
  /** Default 'error'. */
  missingImage?: MissingImagePolicy;
  /** ScienceQA only: rationale = lecture then solution (default), or the solution alone. */
  rationale?: 'lecture+solution' | 'solution';
  /** Load only these splits (default: all). */
  splits?: readonly Split[];
}

export interface LoadReport {
  layout: 'scienceqa' | 'm3cot';
  /** The dataset folder (or the M3CoT file's folder). */
  root: string;
  /** Records found in the data files (before split filtering). */
  total: number;
  /** Records returned. */
  loaded: number;
  /** Returned records with an image. */
  withImage: number;
  /** Returned records without an image because the data says so (image null). */
  textOnly: number;
  /** Records naming an image file that does not exist (whatever the policy did). */
  missingImage: number;
  missingImagePolicy: MissingImagePolicy;
  /** Records dropped by the missing-image policy. */
  skippedMissingImage: number;
  /** Records kept text-only by the missing-image policy. */
  convertedToTextOnly: number;
  /** Records not loaded because their split was not asked for. */
  otherSplits: number;
  perSplit: Record<Split, number>;
  /** Up to 5 "id: path" examples of missing images, for the message. */
  missingExamples: string[];
}

export interface LoadedDataset {
  records: ProblemRecord[];
  report: LoadReport;
}

/** The most steps a rationale is cut into (and so the most latent stages a run can train). */
export const MAX_STEPS = 64;

export function resolveLoadOptions(opts: LoadOptions): Required<LoadOptions> {
  const maxSteps = opts.maxSteps ?? 3;
  if (!Number.isInteger(maxSteps) || maxSteps < 1 || maxSteps > MAX_STEPS) throw new UserError(`maxSteps must be an integer in [1, ${MAX_STEPS}], got ${maxSteps}`);
  const missingImage = opts.missingImage ?? 'error';
  if (!MISSING_IMAGE_POLICIES.includes(missingImage)) throw new UserError(`missing-image policy must be one of ${MISSING_IMAGE_POLICIES.join(', ')}, got "${missingImage}"`);
  const rationale = opts.rationale ?? 'lecture+solution';
  if (rationale !== 'lecture+solution' && rationale !== 'solution') throw new UserError(`rationale must be "lecture+solution" or "solution", got "${rationale}"`);
  return { maxSteps, missingImage, rationale, splits: opts.splits ?? ['train', 'val', 'test'] };
}

export function emptyReport(layout: LoadReport['layout'], root: string, policy: MissingImagePolicy): LoadReport {
  return {
    layout, root, total: 0, loaded: 0, withImage: 0, textOnly: 0, missingImage: 0,
    missingImagePolicy: policy, skippedMissingImage: 0, convertedToTextOnly: 0, otherSplits: 0,
    perSplit: { train: 0, val: 0, test: 0 }, missingExamples: [],
  };
}

/**
 * Applies the missing-image policy to one record. Returns the image path to store, or
 * undefined when the record must be skipped.
 */
export function applyImagePolicy(
  report: LoadReport, id: string, imagePath: string | null, exists: boolean,
): string | null | undefined {
  if (imagePath === null) return null;
  if (exists) return imagePath;
  report.missingImage += 1;
  if (report.missingExamples.length < 5) report.missingExamples.push(`${id}: ${imagePath}`);
  if (report.missingImagePolicy === 'skip') { report.skippedMissingImage += 1; return undefined; }
  if (report.missingImagePolicy === 'text-only') { report.convertedToTextOnly += 1; return null; }
  return null; // 'error': counted here, raised once by finishReport so the message has the total.
}

/** Counts the returned records and raises the missing-image error if the policy says so. */
export function finishReport(report: LoadReport, records: ProblemRecord[], source: string): LoadedDataset {
  if (report.missingImagePolicy === 'error' && report.missingImage > 0) {
    throw new UserError(
      `${source}: ${report.missingImage} record(s) name an image file that does not exist ` +
      `(first: ${report.missingExamples[0]}); choose a missing-image policy to load the rest (CLI: --missing-image skip or text-only)`,
    );
  }
  for (const r of records) {
    report.perSplit[r.split] += 1;
    if (r.imagePath !== null) report.withImage += 1;
  }
  report.loaded = records.length;
  report.textOnly = records.length - report.withImage - report.convertedToTextOnly;
  return { records, report };
}
