// Shortcut baselines that DO look at the picture (through its exact scene description, which
// is what the pixels show) but skip reasoning steps: each reads one object or one picture-wide
// statistic instead of following the chain. Near-chance scores show the steps are needed;
// the oracle, which follows every step, must score 100% (the questions are answerable).
import { join } from 'node:path';
import { UserError } from '../../../engine/errors.js';
import type { ProblemRecord } from '../record.js';
import { chanceAccuracy, type BaselineResult } from '../baselines.js';
import { isObject, readJsonFile } from '../validate.js';
import { COLOURS, DIRECTIONS, SHAPES, type Colour } from './spec.js';
import { countColour, objectAt, pathCells, questionText, rationaleSentences, sceneProblem, solveScene, type Scene, type SceneObject } from './scene.js';

export interface Example {
  record: ProblemRecord;
  scene: Scene;
}

/** Reads the "scene" of every problem in a synthetic dataset's problems.json. */
export function readScenes(dir: string): Map<string, Scene> {
  const file = join(dir, 'problems.json');
  const raw = readJsonFile(file);
  if (!isObject(raw)) throw new UserError(`${file}: must be an object keyed by problem id`);
  const scenes = new Map<string, Scene>();
  for (const [pid, rec] of Object.entries(raw)) {
    if (!isObject(rec) || rec['scene'] === undefined) continue;
    const problem = sceneProblem(rec['scene']);
    if (problem) throw new UserError(`${file}: record "${pid}": field "scene": ${problem}`);
    scenes.set(pid, rec['scene'] as unknown as Scene);
  }
  return scenes;
}

/** Pairs records with their scenes; null when the dataset has no scenes (not synthetic). */
export function withScenes(records: readonly ProblemRecord[], scenes: Map<string, Scene>): Example[] | null {
  if (scenes.size === 0) return null;
  return records.map((record) => {
    const scene = scenes.get(record.id);
    if (!scene) throw new UserError(`record "${record.id}" has no scene, but other records do; the dataset is mixed or damaged`);
    return { record, scene };
  });
}

/** The answer value the query would give for `o`, or null if there is no object. */
function valueOf(scene: Scene, o: SceneObject | undefined): string | null {
  if (!o) return null;
  if (scene.query === 'colour') return o.colour;
  if (scene.query === 'shape') return o.shape;
  return String(countColour(scene, o.colour));
}

function choose(r: ProblemRecord, value: string | null): number {
  const i = value === null ? -1 : r.choices.indexOf(value);
  return i >= 0 ? i : 0;
}

interface LookupRule {
  name: string;
  description: string;
  /**
   * The problems on which the rule skips a step (default: all). A rule that answers about the
   * start object skips nothing on a chain without moves: there it is the oracle, so it is
   * scored on the problems with moves only.
   */
  skipsOn?: (e: Example) => boolean;
  /** Fits on training examples (most rules need nothing) and returns a value reader. */
  fit(train: readonly Example[]): (e: Example) => string | null;
}

function accuracyOf(read: (e: Example) => string | null, set: readonly Example[]): number {
  if (set.length === 0) return 0;
  return set.filter((e) => choose(e.record, read(e)) === e.record.answerIndex).length / set.length;
}

/** Picks, among candidate readers, the one most accurate on the training examples. */
function bestOf(candidates: Array<(e: Example) => string | null>, train: readonly Example[]): (e: Example) => string | null {
  let best = candidates[0]!;
  let bestAcc = -1;
  for (const c of candidates) {
    const acc = accuracyOf(c, train);
    if (acc > bestAcc) { best = c; bestAcc = acc; }
  }
  return best;
}

function histogramValue(scene: Scene, pickMax: boolean): string | null {
  const attr = scene.query === 'shape' ? 'shape' : 'colour';
  const names: readonly string[] = attr === 'shape' ? SHAPES : COLOURS;
  const counts = names.map((n) => scene.objects.filter((o) => o[attr] === n).length);
  const present = counts.map((c, i) => [c, i] as const).filter(([c]) => c > 0);
  const [count, index] = present.reduce((a, b) => ((pickMax ? b[0] > a[0] : b[0] < a[0]) ? b : a));
  if (scene.query === 'count') return String(count);
  return names[index]!;
}

const hasMoves = (e: Example) => e.scene.moves.length > 0;

export const LOOKUP_RULES: readonly LookupRule[] = [
  {
    name: 'start-object',
    description: 'answer about the start object itself (skips every move)',
    skipsOn: hasMoves,
    fit: () => (e) => valueOf(e.scene, objectAt(e.scene, e.scene.start[0], e.scene.start[1])),
  },
  {
    name: 'skip-last-move',
    description: 'answer about the object one move before the end (skips the last move)',
    skipsOn: hasMoves,
    fit: () => (e) => {
      const cells = pathCells(e.scene);
      const [r, c] = cells[cells.length - 2]!;
      return valueOf(e.scene, objectAt(e.scene, r, c));
    },
  },
  {
    name: 'best-fixed-cell',
    description: 'answer about the object in one fixed cell (the cell best on training)',
    fit: (train) => {
      const grid = train[0]?.scene.grid ?? 1;
      const candidates: Array<(e: Example) => string | null> = [];
      for (let r = 0; r < grid; r++) for (let c = 0; c < grid; c++) candidates.push((e) => valueOf(e.scene, objectAt(e.scene, r, c)));
      return bestOf(candidates, train);
    },
  },
  {
    name: 'moves-from-fixed-cell',
    description: 'follow the moves from a fixed cell instead of locating the start object (best cell on training)',
    fit: (train) => {
      const grid = train[0]?.scene.grid ?? 1;
      const candidates: Array<(e: Example) => string | null> = [];
      for (let r0 = 0; r0 < grid; r0++) {
        for (let c0 = 0; c0 < grid; c0++) {
          candidates.push((e) => {
            let r = r0, c = c0;
            for (const m of e.scene.moves) { r += DIRECTIONS[m][0]; c += DIRECTIONS[m][1]; }
            return valueOf(e.scene, objectAt(e.scene, r, c));
          });
        }
      }
      return bestOf(candidates, train);
    },
  },
  {
    name: 'likeliest-cell-for-moves',
    description: 'skip locating the start: for the same move words, the cell where training walks most often ended',
    fit: (train) => {
      const ends = new Map<string, Map<string, number>>();
      for (const e of train) {
        const key = e.scene.moves.join(',');
        const [r, c] = pathCells(e.scene).at(-1)!;
        if (!ends.has(key)) ends.set(key, new Map());
        const m = ends.get(key)!;
        m.set(`${r},${c}`, (m.get(`${r},${c}`) ?? 0) + 1);
      }
      return (e) => {
        const m = ends.get(e.scene.moves.join(','));
        if (!m) return null;
        const [cell] = [...m.entries()].reduce((a, b) => (b[1] > a[1] ? b : a));
        const [r, c] = cell.split(',').map(Number) as [number, number];
        return valueOf(e.scene, objectAt(e.scene, r, c));
      };
    },
  },
  {
    name: 'avoid-start-object',
    description: 'the first option that is NOT the start object\'s value (exclusion shortcut)',
    skipsOn: hasMoves,
    fit: () => (e) => {
      const v = valueOf(e.scene, objectAt(e.scene, e.scene.start[0], e.scene.start[1]));
      return e.record.choices.find((c) => c !== v) ?? null;
    },
  },
  {
    name: 'most-common',
    description: 'the most common colour/shape in the picture (count questions: the largest colour count)',
    fit: () => (e) => histogramValue(e.scene, true),
  },
  {
    name: 'least-common',
    description: 'the rarest colour/shape in the picture (count questions: the smallest colour count)',
    fit: () => (e) => histogramValue(e.scene, false),
  },
  {
    name: 'first-option-in-picture',
    description: 'the first option (A, B, ...) that occurs in the picture',
    fit: () => (e) => {
      const present = (v: string) => e.scene.query === 'colour' ? e.scene.objects.some((o) => o.colour === v)
        : e.scene.query === 'shape' ? e.scene.objects.some((o) => o.shape === v)
          : COLOURS.some((c: Colour) => String(countColour(e.scene, c)) === v);
      return e.record.choices.find(present) ?? null;
    },
  },
];

export const ORACLE_RULE: LookupRule = {
  name: 'oracle-all-steps',
  description: 'follow every step: locate the start, make each move, then read or count',
  fit: () => (e) => solveScene(e.scene),
};

/** Each rule fitted on `train` and scored on the problems of `evalSet` on which it skips a step. */
export function lookupBaselines(train: readonly Example[], evalSet: readonly Example[]): BaselineResult[] {
  return [...LOOKUP_RULES, ORACLE_RULE].map((rule) => {
    const scored = rule.skipsOn ? evalSet.filter(rule.skipsOn) : evalSet;
    return {
      name: rule.name, description: rule.description + (scored.length < evalSet.length ? ' (problems with moves)' : ''),
      accuracy: accuracyOf(rule.fit(train), scored), n: scored.length, chance: chanceAccuracy(scored.map((e) => e.record)),
    };
  });
}

/**
 * Checks that each synthetic record says what its scene says: same question, same rationale
 * steps, and the marked answer is the oracle's. Returns the ids that disagree.
 */
export function inconsistentRecords(examples: readonly Example[]): string[] {
  const bad: string[] = [];
  for (const { record, scene } of examples) {
    const ok = record.question === questionText(scene) &&
      record.rationale === rationaleSentences(scene).join(' ') &&
      record.choices[record.answerIndex] === solveScene(scene);
    if (!ok) bad.push(record.id);
  }
  return bad;
}
