// A synthetic problem's ground truth: the objects in the picture and the chain of cells the
// question walks through. From it come the question text, the rationale (one sentence per
// reasoning step), and the answer; problems.json stores it as the field "scene" so that
// `ivt data check` can measure shortcut baselines and re-derive every answer.
import { COLOURS, DIRECTIONS, DIRECTION_NAMES, QUERY_KINDS, SHAPES, START_BY, WORDINGS, minMovesFor, type Colour, type Direction, type QueryKind, type Shape, type StartBy, type Wording } from './spec.js';

export interface SceneObject {
  row: number;
  col: number;
  colour: Colour;
  shape: Shape;
}

export interface Scene {
  grid: number;
  objects: SceneObject[];
  query: QueryKind;
  /** Cell of the start object (unique colour + shape in the picture). */
  start: [number, number];
  /** Moves from the start, one cell each, always onto an object. */
  moves: Direction[];
  /** How the question names the start (absent: 'object', as datasets written before it). */
  startBy?: StartBy;
  /** How the rationale is worded (absent: 'classic', as datasets written before it). */
  wording?: Wording;
}

export function objectAt(scene: Scene, row: number, col: number): SceneObject | undefined {
  return scene.objects.find((o) => o.row === row && o.col === col);
}

/** Cells visited: start, then one per move (last = the object the question asks about). */
export function pathCells(scene: Scene): Array<[number, number]> {
  const cells: Array<[number, number]> = [[scene.start[0], scene.start[1]]];
  for (const m of scene.moves) {
    const [r, c] = cells[cells.length - 1]!;
    const [dr, dc] = DIRECTIONS[m];
    cells.push([r + dr, c + dc]);
  }
  return cells;
}

export function countColour(scene: Scene, colour: Colour): number {
  return scene.objects.filter((o) => o.colour === colour).length;
}

/** The answer as choice text, found by walking the chain on the scene (the oracle). */
export function solveScene(scene: Scene): string {
  const cells = pathCells(scene);
  const [r, c] = cells[cells.length - 1]!;
  const target = objectAt(scene, r, c);
  if (!target) throw new Error(`scene walk ends on an empty cell (${r}, ${c})`);
  if (scene.query === 'colour') return target.colour;
  if (scene.query === 'shape') return target.shape;
  return String(countColour(scene, target.colour));
}

const NUMBER_WORDS = ['one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten', 'eleven', 'twelve',
  'thirteen', 'fourteen', 'fifteen', 'sixteen', 'seventeen', 'eighteen', 'nineteen', 'twenty'];
const TENS = ['', '', 'twenty', 'thirty', 'forty', 'fifty', 'sixty'];

/**
 * The name of a cell: its number in reading order (left to right, top to bottom, from 1) as a
 * word. Why one word and not "row r, column c": a word is one token, so reading the object in
 * a named cell is one attention hop from that token to the image token of the cell; with two
 * coordinates the model must first gather both digits into one position, and from scratch
 * it does not learn that composition within the demo's budget (measured: docs/grounding.md).
 * Up to 20 cells (grids up to 4 x 4) every name is one word; larger grids get compound names.
 */
export function cellName(grid: number, row: number, col: number): string {
  const n = row * grid + col + 1;
  if (n <= 20) return NUMBER_WORDS[n - 1]!;
  const unit = n % 10;
  return unit === 0 ? TENS[n / 10]! : `${TENS[Math.floor(n / 10)]!}-${NUMBER_WORDS[unit - 1]!}`;
}

export function questionText(scene: Scene): string {
  const start = objectAt(scene, scene.start[0], scene.start[1])!;
  // A chain without moves (mixed lengths, starting at a cell) asks about the start itself.
  const moves = scene.moves.length > 0 ? ` Move ${scene.moves.join(', then ')}.` : '';
  const object = scene.moves.length > 0 ? 'the object you reach' : 'the object there';
  const ask = scene.query === 'colour' ? `What colour is ${object}?`
    : scene.query === 'shape' ? `What shape is ${object}?`
      : `How many objects have the same colour as ${object}?`;
  const from = scene.startBy === 'cell' ? `cell ${cellName(scene.grid, scene.start[0], scene.start[1])}` : `the ${start.colour} ${start.shape}`;
  return `Start at ${from}.${moves} ${ask}`;
}

/** One sentence per reasoning step, each about a different cell (or, last, the whole picture). */
export function rationaleSentences(scene: Scene): string[] {
  const cells = pathCells(scene);
  const sentences: string[] = [];
  if (scene.wording === 'cell-value') return cellValueSentences(scene, cells);
  cells.forEach(([r, c], i) => {
    const o = objectAt(scene, r, c)!;
    // The object's colour and shape follow the cell's name directly (see cellName).
    if (scene.wording === 'cell-first') {
      const what = `${cellName(scene.grid, r, c)} ${o.colour} ${o.shape}`;
      sentences.push(i === 0 ? `${what} is the start.` : `${what} is one cell ${scene.moves[i - 1]}.`);
    } else if (i === 0) {
      sentences.push(scene.startBy === 'cell' ? `Start is cell ${cellName(scene.grid, r, c)} ${o.colour} ${o.shape}.`
        : `The ${o.colour} ${o.shape} is in cell ${cellName(scene.grid, r, c)}.`);
    }
    else sentences.push(`One cell ${scene.moves[i - 1]} is ${cellName(scene.grid, r, c)} ${o.colour} ${o.shape}.`);
  });
  if (scene.query === 'count') {
    const [r, c] = cells[cells.length - 1]!;
    const colour = objectAt(scene, r, c)!.colour;
    const n = countColour(scene, colour);
    sentences.push(n === 1 ? `There is 1 ${colour} object.` : `There are ${n} ${colour} objects.`);
  }
  return sentences;
}

/**
 * The 'cell-value' rationale (see Wording): a cell-first sentence per move, then the asked value
 * first ("green is the colour."), and for count questions the count ("3 is the number of green
 * objects."). As many steps as the other wordings: the start read is replaced by the value.
 */
function cellValueSentences(scene: Scene, cells: Array<[number, number]>): string[] {
  const sentences = cells.slice(1).map(([r, c], i) => {
    const o = objectAt(scene, r, c)!;
    return `${cellName(scene.grid, r, c)} ${o.colour} ${o.shape} is one cell ${scene.moves[i]}.`;
  });
  const [r, c] = cells[cells.length - 1]!;
  const last = objectAt(scene, r, c)!;
  sentences.push(scene.query === 'shape' ? `${last.shape} is the shape.` : `${last.colour} is the colour.`);
  if (scene.query === 'count') {
    const n = countColour(scene, last.colour);
    sentences.push(`${n} is the number of ${last.colour} objects.`);
  }
  return sentences;
}

/**
 * A caption of the picture: every object in reading order, "Cell seven red circle." Used as
 * dense grounding practice in stage 0 (one image lookup per sentence instead of two per
 * rationale), never as a test problem.
 */
export function captionSentences(scene: Scene): string[] {
  return [...scene.objects]
    .sort((a, b) => a.row - b.row || a.col - b.col)
    .map((o) => `Cell ${cellName(scene.grid, o.row, o.col)} ${o.colour} ${o.shape}.`);
}

/**
 * The words each image token should mean, for the alignment objective: per cell in reading
 * order (one image token per cell), the cell's name, then the colour and shape of its object
 * if it has one.
 */
export function cellWords(scene: Scene): string[][] {
  const out: string[][] = [];
  for (let r = 0; r < scene.grid; r++) for (let c = 0; c < scene.grid; c++) {
    const o = objectAt(scene, r, c);
    out.push(o ? [cellName(scene.grid, r, c), o.colour, o.shape] : [cellName(scene.grid, r, c)]);
  }
  return out;
}

/** Checks a scene read back from problems.json; returns a message, or null if it is sound. */
export function sceneProblem(value: unknown): string | null {
  if (typeof value !== 'object' || value === null) return 'scene must be an object';
  const s = value as Record<string, unknown>;
  if (!Number.isInteger(s['grid']) || (s['grid'] as number) < 1) return 'scene.grid must be a positive integer';
  const grid = s['grid'] as number;
  if (!(QUERY_KINDS as readonly unknown[]).includes(s['query'])) return 'scene.query must be colour, shape or count';
  const inGrid = (r: unknown, c: unknown) => Number.isInteger(r) && Number.isInteger(c) && (r as number) >= 0 && (c as number) >= 0 && (r as number) < grid && (c as number) < grid;
  if (!Array.isArray(s['objects'])) return 'scene.objects must be an array';
  const taken = new Set<string>();
  for (const o of s['objects'] as unknown[]) {
    const obj = o as Record<string, unknown>;
    if (typeof o !== 'object' || o === null || !inGrid(obj['row'], obj['col'])) return 'scene.objects: each needs row and col inside the grid';
    if (!(COLOURS as readonly unknown[]).includes(obj['colour']) || !(SHAPES as readonly unknown[]).includes(obj['shape'])) return 'scene.objects: bad colour or shape';
    const key = `${obj['row']},${obj['col']}`;
    if (taken.has(key)) return `scene.objects: two objects in cell ${key}`;
    taken.add(key);
  }
  const start = s['start'];
  if (!Array.isArray(start) || start.length !== 2 || !inGrid(start[0], start[1])) return 'scene.start must be [row, col] inside the grid';
  if (s['startBy'] !== undefined && !(START_BY as readonly unknown[]).includes(s['startBy'])) return 'scene.startBy must be object or cell';
  if (s['wording'] !== undefined && (!(WORDINGS as readonly unknown[]).includes(s['wording']) || s['startBy'] !== 'cell')) return 'scene.wording must be classic, cell-first or cell-value (the last two with startBy cell)';
  if (!Array.isArray(s['moves']) || !(s['moves'] as unknown[]).every((m) => (DIRECTION_NAMES as unknown[]).includes(m))) return 'scene.moves must be a list of right/left/up/down';
  const scene = value as Scene;
  if (scene.moves.length < minMovesFor(scene.startBy ?? 'object')) return 'scene.moves: a walk that starts at a named object needs at least one move';
  for (const [r, c] of pathCells(scene)) {
    if (!inGrid(r, c) || !objectAt(scene, r, c)) return `scene path leaves the objects at cell (${r}, ${c})`;
  }
  const first = objectAt(scene, start[0], start[1])!;
  if (scene.objects.filter((o) => o.colour === first.colour && o.shape === first.shape).length !== 1) return 'scene start object is not unique';
  return null;
}
