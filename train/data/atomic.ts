// Writes a whole output folder or nothing: everything goes into a temporary sibling folder
// (same file system, so the final rename is atomic), which is renamed into place only when
// complete. On any error the temporary folder is removed and the target is left untouched.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { UserError } from '../../engine/errors.js';

export interface AtomicOptions {
  /** Replace an existing non-empty target folder (it is removed only after the new one is complete). */
  force?: boolean;
}

export function checkTarget(target: string, force: boolean): void {
  if (!existsSync(target)) return;
  if (!statSync(target).isDirectory()) throw new UserError(`${target} exists and is not a folder`);
  if (readdirSync(target).length > 0 && !force) throw new UserError(`${target} exists and is not empty; pass --force to replace it`);
}

export async function writeFolderAtomically<T>(target: string, fill: (tmp: string) => Promise<T>, opts: AtomicOptions = {}): Promise<T> {
  const out = resolve(target);
  checkTarget(out, opts.force ?? false);
  const parent = dirname(out);
  // The nearest existing folder above must be a folder, and writable: say which, in one line.
  let above = parent;
  while (!existsSync(above)) above = dirname(above);
  if (!statSync(above).isDirectory()) throw new UserError(`${target}: ${above} is a file, not a folder`);
  let tmp: string;
  try {
    mkdirSync(parent, { recursive: true });
    tmp = mkdtempSync(join(parent, `.${basename(out)}.tmp-`));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UserError(`${target}: cannot create it (${code ?? (err as Error).message})`);
  }
  let result: T;
  try {
    result = await fill(tmp);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
  // Re-check: the target may have appeared while we were writing.
  try {
    checkTarget(out, opts.force ?? false);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
  if (existsSync(out)) {
    // Move the old folder aside first, so that at every moment `out` is either the old
    // complete folder or the new complete folder.
    const old = mkdtempSync(join(parent, `.${basename(out)}.old-`));
    rmSync(old, { recursive: true });
    renameSync(out, old);
    try {
      renameSync(tmp, out);
    } catch (err) {
      renameSync(old, out);
      rmSync(tmp, { recursive: true, force: true });
      throw err;
    }
    rmSync(old, { recursive: true, force: true });
  } else {
    renameSync(tmp, out);
  }
  return result;
}
