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

/** Reads and parses a JSON file; a missing file or bad JSON is the user's error. */
export function readJsonFile(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UserError(`${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UserError(`${file}: not valid JSON (${(err as Error).message})`);
  }
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
  return value.map((choice, i) => {
    if (typeof choice !== 'string') throw new UserError(`${where}: field "${field}"[${i}] must be a string, got ${describe(choice)}`);
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
