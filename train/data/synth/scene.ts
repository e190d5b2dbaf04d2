// A synthetic problem's ground truth: the objects in the picture and the chain of cells the
// question walks through. From it come the question text, the rationale (one sentence per
// reasoning step), and the answer; problems.json stores it as the field "scene" so that
// `ivt data check` can measure shortcut baselines and re-derive every answer.
import { COLOURS, DIRECTIONS, DIRECTION_NAMES, QUERY_KINDS, SHAPES, type Colour, type Direction, type QueryKind, type Shape } from './spec.js';

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

function cellText(row: number, col: number): string {
  return `row ${row + 1}, column ${col + 1}`;
}

export function questionText(scene: Scene): string {
  const start = objectAt(scene, scene.start[0], scene.start[1])!;
  const moves = `Move ${scene.moves.join(', then ')}.`;
  const ask = scene.query === 'colour' ? 'What colour is the object you reach?'
    : scene.query === 'shape' ? 'What shape is the object you reach?'
      : 'How many objects have the same colour as the object you reach?';
  return `Start at the ${start.colour} ${start.shape}. ${moves} ${ask}`;
}

/** One sentence per reasoning step, each about a different cell (or, last, the whole picture). */
export function rationaleSentences(scene: Scene): string[] {
  const cells = pathCells(scene);
  const sentences: string[] = [];
  cells.forEach(([r, c], i) => {
    const o = objectAt(scene, r, c)!;
    if (i === 0) sentences.push(`The ${o.colour} ${o.shape} is in ${cellText(r, c)}.`);
    else sentences.push(`One cell ${scene.moves[i - 1]}, in ${cellText(r, c)}, is a ${o.colour} ${o.shape}.`);
  });
  if (scene.query === 'count') {
    const [r, c] = cells[cells.length - 1]!;
    const colour = objectAt(scene, r, c)!.colour;
    const n = countColour(scene, colour);
    sentences.push(n === 1 ? `There is 1 ${colour} object.` : `There are ${n} ${colour} objects.`);
  }
  return sentences;
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
  if (!Array.isArray(s['moves']) || !(s['moves'] as unknown[]).every((m) => (DIRECTION_NAMES as unknown[]).includes(m))) return 'scene.moves must be a list of right/left/up/down';
  const scene = value as Scene;
  for (const [r, c] of pathCells(scene)) {
    if (!inGrid(r, c) || !objectAt(scene, r, c)) return `scene path leaves the objects at cell (${r}, ${c})`;
  }
  const first = objectAt(scene, start[0], start[1])!;
  if (scene.objects.filter((o) => o.colour === first.colour && o.shape === first.shape).length !== 1) return 'scene start object is not unique';
  return null;
}
