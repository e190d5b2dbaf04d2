// Field checks shared by the loaders. Each failure is a UserError that names where the bad
// value is (file, record id or line, field), because a data file is the user's to fix.
import { readFileSync } from 'node:fs';
import { UserError } from '../../engine/errors.js';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value}`;
}

/** Where the first invalid UTF-8 sequence starts (byte offset and 1-based line), or null. */
function firstInvalidUtf8(b: Uint8Array): { offset: number; line: number } | null {
  let line = 1;
  for (let i = 0; i < b.length;) {
    const c = b[i]!;
    let n = 0, min = 0;
    if (c < 0x80) { if (c === 0x0a) line++; i++; continue; }
    if (c >= 0xc2 && c <= 0xdf) { n = 1; min = 0x80; }
    else if (c >= 0xe0 && c <= 0xef) { n = 2; min = 0x800; }
    else if (c >= 0xf0 && c <= 0xf4) { n = 3; min = 0x10000; }
    else return { offset: i, line };
    let cp = c & (0x3f >> n);
    for (let k = 1; k <= n; k++) {
      const d = b[i + k];
      if (d === undefined || (d & 0xc0) !== 0x80) return { offset: i, line };
      cp = (cp << 6) | (d & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return { offset: i, line };
    i += n + 1;
  }
  return null;
}

/** Reads a text file that must be UTF-8: invalid bytes are the user's error (never silently replaced). */
export function readUtf8File(file: string): string {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    throw new UserError(`${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  const bad = firstInvalidUtf8(bytes);
  if (bad) throw new UserError(`${file}: not valid UTF-8 (byte 0x${bytes[bad.offset]!.toString(16).padStart(2, '0')} at offset ${bad.offset}, line ${bad.line}); save the file as UTF-8`);
  // A byte-order mark (some Windows editors write one) is not part of the text.
  return bytes.toString('utf8').replace(/^\uFEFF/, '');
}

/** Reads and parses a JSON file; a missing file, bad UTF-8 or bad JSON is the user's error. */
export function readJsonFile(file: string): unknown {
  const text = readUtf8File(file);
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UserError(`${file}: not valid JSON (${(err as Error).message})`);
  }
}

/**
 * The first key that occurs twice in one object of a JSON text, with the keys of the objects
 * around it (an array's place shows as "[]"), or null. JSON.parse keeps only the last of equal
 * keys, silently. The text must already parse.
 */
export function firstDuplicateKey(text: string): { path: string[]; key: string } | null {
  // One frame per open object or array: an object's keys so far, whether a key comes next, and
  // the key whose value is being read (the path to a nested duplicate).
  const stack: { keys: Set<string> | null; expectKey: boolean; key: string }[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      const top = stack[stack.length - 1];
      if (top?.keys && top.expectKey) {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        if (top.keys.has(key)) return { path: stack.slice(0, -1).map((f) => f.key), key };
        top.keys.add(key);
        top.key = key;
        top.expectKey = false;
      }
      i = j;
    } else if (c === '{') stack.push({ keys: new Set(), expectKey: true, key: '' });
    else if (c === '[') stack.push({ keys: null, expectKey: false, key: '[]' });
    else if (c === '}' || c === ']') stack.pop();
    else if (c === ',') {
      const top = stack[stack.length - 1];
      if (top?.keys) top.expectKey = true;
    }
  }
  return null;
}

/** readJsonFile for an object keyed by id: a key that occurs twice, at any depth, is an error naming it. */
export function readJsonObjectById(file: string): unknown {
  const text = readUtf8File(file);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new UserError(`${file}: not valid JSON (${(err as Error).message})`);
  }
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const dup = firstDuplicateKey(text);
    if (dup && dup.path.length === 0) throw new UserError(`${file}: problem "${dup.key}" occurs more than once (JSON keeps only the last)`);
    if (dup) throw new UserError(`${file}: record "${dup.path[0]}": field "${[...dup.path.slice(1), dup.key].join('.')}" occurs more than once (JSON keeps only the last)`);
  }
  return value;
}

export function requireString(obj: JsonObject, field: string, where: string, opts: { optional?: boolean; nonEmpty?: boolean } = {}): string {
  const value = obj[field];
  if (value === undefined) {
    if (opts.optional) return '';
    throw new UserError(`${where}: field "${field}" is missing`);
  }
  if (typeof value !== 'string') throw new UserError(`${where}: field "${field}" must be a string, got ${describe(value)}`);
  if (opts.nonEmpty && value.trim().length === 0) throw new UserError(`${where}: field "${field}" is empty`);
  return value;
}

export function requireStringOrNull(obj: JsonObject, field: string, where: string): string | null {
  if (!(field in obj)) throw new UserError(`${where}: field "${field}" is missing (use null for none)`);
  const value = obj[field];
  if (value === null) return null;
  if (typeof value !== 'string') throw new UserError(`${where}: field "${field}" must be a string or null, got ${describe(value)}`);
  return value;
}

export function requireChoices(obj: JsonObject, field: string, where: string): string[] {
  const value = obj[field];
  if (value === undefined) throw new UserError(`${where}: field "${field}" is missing`);
  if (!Array.isArray(value)) throw new UserError(`${where}: field "${field}" must be an array of strings, got ${describe(value)}`);
  if (value.length < 2) throw new UserError(`${where}: field "${field}" needs at least 2 choices, got ${value.length}`);
  if (value.length > 26) throw new UserError(`${where}: field "${field}" has ${value.length} choices; at most 26 (A-Z) are supported`);
  const seen = new Map<string, number>();
  return value.map((choice, i) => {
    if (typeof choice !== 'string') throw new UserError(`${where}: field "${field}"[${i}] must be a string, got ${describe(choice)}`);
    if (choice.trim() === '') throw new UserError(`${where}: field "${field}"[${i}] is empty`);
    // The prompt lists the options on one line, "(A) ... (B) ...", ended by a line break.
    if (/[\r\n]/.test(choice)) throw new UserError(`${where}: field "${field}"[${i}] contains a line break (${JSON.stringify(choice)}); the prompt lists the options on one line`);
    // Two equal options would make the gold answer indistinguishable from a wrong one.
    const key = choice.trim();
    if (seen.has(key)) throw new UserError(`${where}: field "${field}"[${i}] repeats choice ${seen.get(key)} (${JSON.stringify(choice)})`);
    seen.set(key, i);
    return choice;
  });
}

export function requireInteger(obj: JsonObject, field: string, where: string, min: number, max: number): number {
  const value = obj[field];
  if (value === undefined) throw new UserError(`${where}: field "${field}" is missing`);
  if (typeof value !== 'number' || !Number.isInteger(value)) throw new UserError(`${where}: field "${field}" must be an integer, got ${describe(value)} ${JSON.stringify(value)}`);
  if (value < min || value > max) throw new UserError(`${where}: field "${field}" is ${value}, out of range [${min}, ${max}]`);
  return value;
}
