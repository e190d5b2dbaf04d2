// Generates synthetic problems (pure, no I/O). Construction, and why each choice is made:
//  - The answer (one of four values) and the answer letter are drawn FIRST (uniform value,
//    balanced letters), then a scene is built around them, so the question text carries no
//    information about the answer: text-only rules stay at chance.
//  - The path is a self-avoiding walk drawn uniformly among all walks of its length, which
//    keeps where it ends as unpredictable from the move words alone as the grid allows.
//  - Colour and shape counts are drawn independently of which colour/shape is the answer
//    ("most common colour" is right 1 time in 4); every colour and shape occurs (so "the
//    option that appears in the picture" is no help); the start object's colour and shape
//    are drawn independently of the answer (so reading the start object, i.e. skipping the
//    moves, is at chance, and so is excluding it; a chain without moves, --min-steps, asks
//    about the start object itself, and those rules are scored on the chains with moves); for
//    count questions the four colours have four different counts and the options are exactly
//    those counts.
//  - Options come in a fixed canonical order by default (the letter is then a fixed function of
//    the value, which is itself balanced), or shuffled with the letter drawn from its own
//    balanced blocks (--option-order shuffled: one more retrieval hop for the model).
//  - `ivt data check` and tests/train measure all of this (baselines.ts, synth/lookups.ts).
import { balancedPick, Rng } from '../rng.js';
import type { ProblemRecord, Split } from '../record.js';
import { rationaleToSteps } from '../steps.js';
import { COLOURS, DIRECTIONS, DIRECTION_NAMES, SHAPES, movesFor, stepCounts, type Direction, type QueryKind, type SynthOptions } from './spec.js';
import { questionText, rationaleSentences, solveScene, type Scene, type SceneObject } from './scene.js';

export interface SynthProblem {
  pid: string;
  split: Split;
  question: string;
  choices: string[];
  answerIndex: number;
  /** Rationale: one sentence per step. */
  solution: string;
  scene: Scene;
}

/**
 * Every colour and every shape occurs at least twice in a colour/shape question's picture.
 * Then the start object's colour and shape can be drawn independently of the answer (the
 * target already used one), so the question text, which names the start object, says nothing
 * about the answer; and every option occurs in the picture.
 */
export const MIN_PER_VALUE = 2;

/** Uniform random composition of n into k parts of at least `min` each (stars and bars). */
function composition(rng: Rng, n: number, k: number, min: number): number[] {
  const free = n - k * (min - 1);
  const cuts = rng.shuffle(Array.from({ length: free - 1 }, (_, i) => i + 1)).slice(0, k - 1).sort((a, b) => a - b);
  const parts: number[] = [];
  let prev = 0;
  for (const c of [...cuts, free]) { parts.push(c - prev + min - 1); prev = c; }
  return parts;
}

/** All sets of k distinct positive integers summing to n (ascending). */
function distinctPartitions(n: number, k: number, min = 1): number[][] {
  if (k === 0) return n === 0 ? [[]] : [];
  const out: number[][] = [];
  for (let first = min; first * k + (k * (k - 1)) / 2 <= n; first++) {
    for (const rest of distinctPartitions(n - first, k - 1, first + 1)) out.push([first, ...rest]);
  }
  return out;
}

/**
 * A self-avoiding walk of `moves` one-cell steps, drawn uniformly among all such walks in the
 * grid (rejection: uniform start, uniform directions, retry if it leaves the grid or revisits).
 * Uniform over walks keeps "where the moves end" as unpredictable from the move words alone as
 * the grid allows; null if no walk was accepted (the caller retries).
 */
function walkTo(rng: Rng, grid: number, moves: number): { start: [number, number]; dirs: Direction[]; cells: Array<[number, number]> } | null {
  for (let attempt = 0; attempt < 10_000; attempt++) {
    const cells: Array<[number, number]> = [[rng.int(grid), rng.int(grid)]];
    const seen = new Set([`${cells[0]![0]},${cells[0]![1]}`]);
    const dirs: Direction[] = [];
    let ok = true;
    for (let i = 0; i < moves && ok; i++) {
      const d = rng.pick(DIRECTION_NAMES);
      const [r, c] = cells[cells.length - 1]!;
      const next: [number, number] = [r + DIRECTIONS[d][0], c + DIRECTIONS[d][1]];
      const key = `${next[0]},${next[1]}`;
      ok = next[0] >= 0 && next[1] >= 0 && next[0] < grid && next[1] < grid && !seen.has(key);
      seen.add(key);
      cells.push(next);
      dirs.push(d);
    }
    if (ok) return { start: cells[0]!, dirs, cells };
  }
  return null;
}

/** Remove one occurrence of `index` from a count vector; false if none left. */
function take(counts: number[], index: number): boolean {
  if (counts[index]! <= 0) return false;
  counts[index]! -= 1;
  return true;
}

interface Draft { scene: Scene; answer: string; values: string[] }

/**
 * One attempt at a scene for the given query, answer and step count; null when the draw cannot
 * be completed.
 */
function tryScene(rng: Rng, o: SynthOptions, query: QueryKind, answerSlot: number, steps: number): Draft | null {
  const n = o.objects;
  const walk = walkTo(rng, o.grid, movesFor(query, steps));
  if (!walk) return null;
  // With no move the start object is the target: one object carries the answer's colour and
  // shape, and it is still the only one of its kind in the picture.
  const startIsTarget = walk.cells.length === 1;

  // Colour counts per colour index (every colour at least twice, see MIN_PER_VALUE).
  let colourCounts: number[];
  let values: string[];
  let kt: number; // target colour
  if (query === 'count') {
    const parts = rng.pick(distinctPartitions(n, COLOURS.length));
    colourCounts = rng.shuffle(parts);
    values = parts.map(String); // options: the four counts in the picture
    kt = colourCounts.indexOf(parts[answerSlot]!);
  } else {
    colourCounts = composition(rng, n, COLOURS.length, MIN_PER_VALUE);
    values = query === 'colour' ? [...COLOURS] : [...SHAPES];
    kt = query === 'colour' ? answerSlot : rng.int(COLOURS.length);
  }
  const shapeCounts = composition(rng, n, SHAPES.length, MIN_PER_VALUE);
  let st = query === 'shape' ? answerSlot : rng.int(SHAPES.length);

  // Start object: colour and shape uniform and independent of the target's. (For count
  // questions a colour drawn once only cannot also be the start's; the start's colour name
  // still says nothing about the count, because counts are assigned to colours at random.)
  const colourLeft = colourCounts.slice();
  const shapeLeft = shapeCounts.slice();
  take(colourLeft, kt);
  take(shapeLeft, st);
  const ka = startIsTarget ? kt : rng.pick(COLOURS.map((_, i) => i).filter((i) => colourLeft[i]! > 0));
  let sa = startIsTarget ? st : rng.int(SHAPES.length);
  if (!startIsTarget && ka === kt && sa === st) {
    // The start object must be the only one of its kind: change an attribute the question
    // does not ask about (never the answer).
    if (query === 'shape') {
      colourLeft[kt]! += 1;
      kt = rng.pick(COLOURS.map((_, i) => i).filter((i) => i !== ka));
      colourLeft[kt]! -= 1;
    } else {
      shapeLeft[st]! += 1;
      st = rng.pick(SHAPES.map((_, i) => i).filter((i) => i !== sa));
      shapeLeft[st]! -= 1;
    }
  }
  if (!startIsTarget) {
    if (colourLeft.some((c) => c < 0) || shapeLeft[sa]! <= 0 || colourLeft[ka]! <= 0) return null;
    take(colourLeft, ka);
    take(shapeLeft, sa);
  }

  // Everyone else: the remaining colours and shapes, paired at random, never repeating the
  // start object's colour + shape.
  const restColours: number[] = colourLeft.flatMap((c, i) => Array<number>(c).fill(i));
  const restShapes: number[] = shapeLeft.flatMap((c, i) => Array<number>(c).fill(i));
  let pairing: number[] | null = null;
  for (let attempt = 0; attempt < 20 && pairing === null; attempt++) {
    const shuffled = rng.shuffle(restShapes);
    if (!restColours.some((c, i) => c === ka && shuffled[i] === sa)) pairing = shuffled;
  }
  if (pairing === null) return null;

  const cellKey = (r: number, c: number) => `${r},${c}`;
  const onPath = new Set(walk.cells.map(([r, c]) => cellKey(r, c)));
  const free: Array<[number, number]> = [];
  for (let r = 0; r < o.grid; r++) for (let c = 0; c < o.grid; c++) if (!onPath.has(cellKey(r, c))) free.push([r, c]);
  const middle = walk.cells.slice(1, -1);
  const extraCells = [...middle, ...rng.shuffle(free).slice(0, n - walk.cells.length)];
  const restOrder = rng.shuffle(restColours.map((_, i) => i));
  const end = walk.cells[walk.cells.length - 1]!;
  const objects: SceneObject[] = [
    { row: walk.start[0], col: walk.start[1], colour: COLOURS[ka]!, shape: SHAPES[sa]! },
    ...(startIsTarget ? [] : [{ row: end[0], col: end[1], colour: COLOURS[kt]!, shape: SHAPES[st]! }]),
    ...extraCells.map(([row, col], j): SceneObject => ({
      row, col, colour: COLOURS[restColours[restOrder[j]!]!]!, shape: SHAPES[pairing![restOrder[j]!]!]!,
    })),
  ];
  objects.sort((a, b) => a.row - b.row || a.col - b.col);
  // startBy and wording are written only when not the original kind, so datasets of that kind stay byte-identical.
  const scene: Scene = {
    grid: o.grid, objects, query, start: walk.start, moves: walk.dirs,
    ...(o.startBy === 'cell' ? { startBy: 'cell' as const } : {}), ...(o.wording !== 'classic' ? { wording: o.wording } : {}),
  };
  return { scene, answer: values[answerSlot]!, values };
}

/** Problem `index` of `split`: depends only on (seed, split, index) and the scene knobs. */
export function generateProblem(o: SynthOptions, split: Split, index: number): SynthProblem {
  const labels = [o.seed, 'synth', split] as const;
  // Query kind, answer slot (which colour, shape, or which of the four counts) and, with mixed
  // chain lengths, the step count are drawn together from balanced blocks, so each (kind,
  // answer value, length) occurs equally often; the letter comes from its own balanced blocks,
  // independent of all three. (With one length the blocks are as long and in the same order as
  // before lengths could mix, so those datasets are regenerated byte for byte.)
  const lengths = stepCounts(o);
  const combos = o.queries.flatMap((q) => [0, 1, 2, 3].flatMap((slot) => lengths.map((steps) => [q, slot, steps] as const)));
  const [query, answerSlot, steps] = balancedPick(combos, index, ...labels, 'query-answer');
  const letter = balancedPick([0, 1, 2, 3], index, ...labels, 'letter');
  const rng = new Rng(...labels, index);
  for (let attempt = 0; attempt < 1000; attempt++) {
    const draft = tryScene(rng, o, query, answerSlot, steps);
    if (!draft) continue;
    const solved = solveScene(draft.scene);
    if (solved !== draft.answer) throw new Error(`synthetic generator bug: built for answer ${draft.answer}, scene says ${solved}`);
    let choices: string[], answerIndex: number;
    if (o.optionOrder === 'fixed') {
      // The values in their canonical order; balanced answer values make balanced letters.
      choices = draft.values;
      answerIndex = answerSlot;
    } else {
      const distractors = rng.shuffle(draft.values.filter((v) => v !== draft.answer));
      choices = [...distractors.slice(0, letter), draft.answer, ...distractors.slice(letter)];
      answerIndex = letter;
    }
    if (choices[answerIndex] !== draft.answer) throw new Error(`synthetic generator bug: option ${answerIndex} is ${choices[answerIndex]}, the answer is ${draft.answer}`);
    return {
      pid: `${split}-${index}`, split, question: questionText(draft.scene), choices, answerIndex,
      solution: rationaleSentences(draft.scene).join(' '), scene: draft.scene,
    };
  }
  throw new Error(`synthetic generator could not build problem ${split}-${index} with ${JSON.stringify(o)}`);
}

export function generateSplit(o: SynthOptions, split: Split, count: number): SynthProblem[] {
  return Array.from({ length: count }, (_, i) => generateProblem(o, split, i));
}

export function generateProblems(o: SynthOptions): SynthProblem[] {
  return [...generateSplit(o, 'train', o.train), ...generateSplit(o, 'val', o.val), ...generateSplit(o, 'test', o.test)];
}

/**
 * The in-memory record of a generated problem, as the loader would read it back from disk
 * (image left out: null), so baselines can be measured without rendering anything.
 */
export function toProblemRecord(p: SynthProblem, maxSteps = 3): ProblemRecord {
  return {
    id: p.pid, split: p.split, question: p.question, hint: '', choices: p.choices, answerIndex: p.answerIndex,
    rationale: p.solution, steps: rationaleToSteps(p.solution, maxSteps), imagePath: null,
  };
}
