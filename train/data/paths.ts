// Image paths come from data files, so they are untrusted: a record must not be able to make
// the loader read /etc/passwd or a file beside the dataset. Every image path is resolved
// against the dataset folder and rejected if it is absolute, climbs out with "..", or is a
// symlink (at any level) whose target lies outside the folder.
import { existsSync, realpathSync, statSync } from 'node:fs';
import { isAbsolute, resolve, sep } from 'node:path';
import { UserError } from '../../engine/errors.js';

export interface ResolvedPath {
  /** Absolute path (symlinks resolved when the file exists). */
  path: string;
  exists: boolean;
}

function inside(root: string, candidate: string): boolean {
  return candidate === root || candidate.startsWith(root.endsWith(sep) ? root : root + sep);
}

/**
 * Resolves `relative` (a path written in a data file) inside `root`.
 * `where` names the file/record/field for the error message.
 */
export function resolveInside(root: string, relative: string, where: string): ResolvedPath {
  if (relative.length === 0) throw new UserError(`${where}: empty path`);
  if (relative.includes('\0')) throw new UserError(`${where}: path contains a NUL byte`);
  if (isAbsolute(relative) || /^[a-zA-Z]:[\\/]/.test(relative) || relative.startsWith('\\')) {
    throw new UserError(`${where}: absolute path "${relative}" is not allowed; paths must be relative to the dataset folder`);
  }
  if (relative.split(/[\\/]+/).includes('..')) {
    throw new UserError(`${where}: path "${relative}" climbs out of the dataset folder with ".."`);
  }
  const rootAbs = resolve(root);
  const joined = resolve(rootAbs, relative);
  if (!inside(rootAbs, joined)) throw new UserError(`${where}: path "${relative}" lies outside the dataset folder`);
  if (!existsSync(joined)) return { path: joined, exists: false };
  const real = realpathSync(joined);
  const rootReal = realpathSync(rootAbs);
  if (!inside(rootReal, real)) {
    throw new UserError(`${where}: path "${relative}" is a symlink to ${real}, outside the dataset folder`);
  }
  if (!statSync(real).isFile()) throw new UserError(`${where}: path "${relative}" is not a regular file`);
  return { path: real, exists: true };
}

/** A record id used as a folder name (ScienceQA: images/<split>/<pid>/) must be one plain segment. */
export function assertSafeSegment(id: string, where: string): void {
  if (id.length === 0 || id === '.' || id === '..' || /[\\/\0]/.test(id)) {
    throw new UserError(`${where}: id "${id}" cannot be used as a folder name (empty, "." / "..", or contains a slash)`);
  }
}
