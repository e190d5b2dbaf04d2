// The synthetic dataset's vocabulary and knobs. Deliberately tiny (4 colours, 4 shapes,
// 4 directions, a small grid) so a transformer trained from scratch in minutes can learn it;
// what makes it hard is the chain of lookups, not the perception.
import { UserError } from '../../../engine/errors.js';

export const COLOURS = ['red', 'green', 'blue', 'yellow'] as const;
export const SHAPES = ['circle', 'square', 'triangle', 'cross'] as const;
export type Colour = (typeof COLOURS)[number];
export type Shape = (typeof SHAPES)[number];

/** Row/column offsets of one move. Rows count down from the top, columns right from the left. */
export const DIRECTIONS = { right: [0, 1], left: [0, -1], up: [-1, 0], down: [1, 0] } as const;
export type Direction = keyof typeof DIRECTIONS;
export const DIRECTION_NAMES = Object.keys(DIRECTIONS) as Direction[];

/**
 * What the question finally asks about the object reached at the end of the moves:
 * its colour, its shape, or how many objects in the picture share its colour.
 */
export const QUERY_KINDS = ['colour', 'shape', 'count'] as const;
export type QueryKind = (typeof QUERY_KINDS)[number];

/**
 * Count questions use four colours with four *different* counts (1+2+3+4 = 10 objects at
 * least), so "the count that appears in the picture" or "the largest count" cannot answer them.
 */
export const MIN_OBJECTS_FOR_COUNT = 10;

/** Every colour and every shape occurs at least twice (see generate.ts), so 4 x 2 objects. */
export const MIN_OBJECTS = 8;

export interface SynthOptions {
  train: number;
  val: number;
  test: number;
  seed: number;
  /** Cells per side of the square grid. */
  grid: number;
  /** Objects per picture (each in its own cell). */
  objects: number;
  /** Reasoning steps per problem: locate, then moves, then (count questions) the count. */
  steps: number;
  /**
   * Fewest reasoning steps (default: `steps`). Below `steps`, each problem's step count is drawn
   * from minSteps..steps in balanced blocks (every count equally often, and within each count
   * every answer value), so a test split holds chains of every length: what
   * a curriculum with fewer latent steps than the longest chain still solves shows up per length.
   */
  minSteps: number;
  /** Side of the square PNG in pixels; a multiple of `grid`. */
  imageSize: number;
  queries: QueryKind[];
  /**
   * Order of the four options. 'fixed': always the same order (colours and shapes as listed
   * above, counts ascending), so the answer letter is a fixed function of the answer value;
   * 'shuffled': a random order, so the model must also find the value among the options.
   * Either way the letter is balanced and the question text says nothing about it.
   */
  optionOrder: OptionOrder;
  startBy: StartBy;
  wording: Wording;
}

export const OPTION_ORDERS = ['fixed', 'shuffled'] as const;
export type OptionOrder = (typeof OPTION_ORDERS)[number];

/**
 * How the question names where the walk starts. 'object': "Start at the red circle." (the start
 * object is unique in its picture; the model must find its cell in the picture first, a lookup
 * from content to position). 'cell': "Start at cell ten." (every lookup then goes from a cell to
 * what the picture shows there, and the chain is: read the start cell, make each move, read the
 * object reached). A model trained from scratch learns the cell-to-content lookup within the
 * demo's budget but not the content-to-cell one (docs/grounding.md), so the demo uses 'cell'.
 */
export const START_BY = ['object', 'cell'] as const;
export type StartBy = (typeof START_BY)[number];

/**
 * How a rationale step is worded. 'classic': "One cell left is nine red square." 'cell-first':
 * each step starts with its result, the cell it reaches: "nine red square is one cell left."
 * Why it matters for latent reasoning: the hidden state that replaces step i+1 at stage i+1 was
 * trained at stage i to predict step i+1's first token. With the cell first, that state is the
 * prediction of the cell (what the next step needs; the output embedding being tied to the
 * input one, it is close to the cell's own token, which the cell's image token is aligned
 * with); with "One cell ..." it is the prediction of a constant word. Measured in
 * docs/grounding.md. Only with startBy 'cell' (the first step then names the start cell first
 * too).
 *
 * 'cell-value': each move's step is worded cell-first ("nine red square is one cell left."),
 * the start cell is not read (the question names it), and the last step states the asked value
 * first ("green is the colour."; count questions then add "3 is the number of green
 * objects."). Why: at the final latent stage every step is latent and the answer line must get
 * the value from the chain. With cell-first wording the last latent state is the prediction of
 * the last cell, and the answer line would have to look that cell up in the picture itself:
 * two hops inside the answer line, which a two-layer model did not learn even when given the
 * cell's own token embedding as the last latent input (docs/grounding.md). With the value step,
 * the lookup happens at a latent position whose output is supervised (at stage N-1, the value
 * word follows the last latent), so the last latent state is the prediction of the value, one
 * read away from the answer letter. Same scenes and step count as the other wordings.
 */
export const WORDINGS = ['classic', 'cell-first', 'cell-value'] as const;
export type Wording = (typeof WORDINGS)[number];

/**
 * Defaults: a 4x4 grid in 32x32 pixels, so each cell is exactly one 8x8 patch: one image
 * token per grid cell, which is what latent-vision selection picks from.
 */
export const DEFAULT_SYNTH: SynthOptions = {
  train: 2000, val: 200, test: 400, seed: 1, grid: 4, objects: 10, steps: 3, minSteps: 3, imageSize: 32,
  queries: ['colour', 'shape', 'count'], optionOrder: 'fixed', startBy: 'object', wording: 'classic',
};

export const LIMITS = {
  split: 200_000, grid: [3, 8], steps: [3, 8], imageSize: 512, minCellPx: 8, maxObjects: 40,
} as const;

function intIn(name: string, value: number, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) throw new UserError(`${name} must be an integer, got ${value}`);
  if (value < min || value > max) throw new UserError(`${name} must be in [${min}, ${max}], got ${value}`);
  return value;
}

/** Moves needed for a query kind with `steps` steps (1 step locates; count adds a count step). */
export function movesFor(query: QueryKind, steps: number): number {
  return query === 'count' ? steps - 2 : steps - 1;
}

/**
 * Fewest moves a problem may have. Starting at a named cell, none: the chain is then one read
 * of that cell. Starting at a named object, one: with no move the question would name the
 * object whose colour or shape it asks.
 */
export function minMovesFor(startBy: StartBy): number {
  return startBy === 'cell' ? 0 : 1;
}

/** The step counts problems are drawn from, fewest first. */
export function stepCounts(o: SynthOptions): number[] {
  return Array.from({ length: o.steps - o.minSteps + 1 }, (_, i) => o.minSteps + i);
}

/** Fills defaults and checks every knob; anything inconsistent is the user's error. */
export function resolveSynthOptions(partial: Partial<SynthOptions>): SynthOptions {
  const given = Object.fromEntries(Object.entries(partial).filter(([, v]) => v !== undefined)) as Partial<SynthOptions>;
  const o: SynthOptions = { ...DEFAULT_SYNTH, ...given, minSteps: given.minSteps ?? given.steps ?? DEFAULT_SYNTH.steps };
  intIn('--train', o.train, 0, LIMITS.split);
  intIn('--val', o.val, 0, LIMITS.split);
  intIn('--test', o.test, 0, LIMITS.split);
  if (o.train + o.val + o.test === 0) throw new UserError('nothing to generate: --train, --val and --test are all 0');
  intIn('--seed', o.seed, 0, 2 ** 32 - 1);
  intIn('--grid', o.grid, LIMITS.grid[0], LIMITS.grid[1]);
  intIn('--steps', o.steps, LIMITS.steps[0], LIMITS.steps[1]);
  intIn('--min-steps', o.minSteps, 1, o.steps);
  intIn('--image-size', o.imageSize, o.grid * LIMITS.minCellPx, LIMITS.imageSize);
  if (o.imageSize % o.grid !== 0) {
    throw new UserError(`--image-size ${o.imageSize} is not a multiple of --grid ${o.grid}; cells must be whole pixels (try ${o.grid * Math.max(LIMITS.minCellPx, Math.round(o.imageSize / o.grid))})`);
  }
  const cells = o.grid * o.grid;
  intIn('--objects', o.objects, MIN_OBJECTS, Math.min(cells, LIMITS.maxObjects));
  if (!Array.isArray(o.queries) || o.queries.length === 0) throw new UserError('--queries needs at least one of colour, shape, count');
  for (const q of o.queries) {
    if (!(QUERY_KINDS as readonly string[]).includes(q)) throw new UserError(`--queries: unknown kind "${q}" (expected colour, shape, count)`);
  }
  if (!(OPTION_ORDERS as readonly string[]).includes(o.optionOrder)) throw new UserError(`--option-order must be fixed or shuffled, got "${String(o.optionOrder)}"`);
  if (!(START_BY as readonly string[]).includes(o.startBy)) throw new UserError(`--start-by must be object or cell, got "${String(o.startBy)}"`);
  if (!(WORDINGS as readonly string[]).includes(o.wording)) throw new UserError(`--wording must be classic, cell-first or cell-value, got "${String(o.wording)}"`);
  if (o.wording !== 'classic' && o.startBy !== 'cell') throw new UserError(`--wording ${o.wording} needs --start-by cell (the steps name cells, starting from the one the question names)`);
  if (new Set(o.queries).size !== o.queries.length) throw new UserError(`--queries lists a kind twice: ${o.queries.join(',')}`);
  if (o.queries.includes('count') && o.objects < MIN_OBJECTS_FOR_COUNT) {
    throw new UserError(`count questions need --objects >= ${MIN_OBJECTS_FOR_COUNT} (four colours with distinct counts); got ${o.objects}. Use more objects or --queries colour,shape`);
  }
  for (const q of o.queries) {
    const cellsOnPath = movesFor(q, o.steps) + 1;
    if (cellsOnPath > o.objects) throw new UserError(`--steps ${o.steps} needs ${cellsOnPath} objects on the path of a ${q} question, but --objects is ${o.objects}`);
    const fewest = movesFor(q, o.minSteps), least = minMovesFor(o.startBy);
    if (fewest < least) {
      throw new UserError(`--min-steps ${o.minSteps} leaves a ${q} question ${fewest} moves; starting at ${o.startBy === 'cell' ? 'a cell' : 'an object'} it needs at least ${least} (--min-steps ${o.minSteps + least - fewest})`);
    }
  }
  return o;
}
