// Writes a whole output folder or nothing: everything goes into a temporary sibling folder
// (same file system, so the final rename is atomic), which is renamed into place only when
// complete. On any error the temporary folder is removed and the target is left untouched. The
// temporary folders carry the writer's process id: what a killed writer left is cleaned up by
// the next write to the same target (its old folder moved back where the new one never arrived).
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { UserError } from '../../engine/errors.js';
import { fsyncDirSync, fsyncFileSync, processRunning } from '../../engine/atomic_file.js';

export interface AtomicOptions {
  /** Replace an existing non-empty target folder (it is removed only after the new one is complete). */
  force?: boolean;
}

export function checkTarget(target: string, force: boolean): void {
  // What a killed writer of this target left comes first: its old folder may be the target.
  const parent = dirname(resolve(target));
  if (existsSync(parent) && statSync(parent).isDirectory()) recoverLeftovers(resolve(target));
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
    // mkdirSync, not mkdtempSync: the folder gets the umask's permissions (mkdtemp's are 0700,
    // which the finished dataset would keep).
    tmp = siblingName(out, 'tmp');
    mkdirSync(tmp);
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
    syncTree(tmp);
    checkTarget(out, opts.force ?? false);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
  if (existsSync(out)) {
    // Move the old folder aside first, so that at every moment `out` is either the old
    // complete folder or the new complete folder.
    const old = siblingName(out, 'old');
    renameSync(out, old);
    try {
      renameSync(tmp, out);
    } catch (err) {
      renameSync(old, out);
      rmSync(tmp, { recursive: true, force: true });
      throw err;
    }
    // The new folder's rename reaches the disk before the old copy goes.
    fsyncDirSync(parent);
    rmSync(old, { recursive: true, force: true });
  } else {
    renameSync(tmp, out);
  }
  fsyncDirSync(parent);
  return result;
}

/**
 * Every file and folder under `dir` on the disk, before the rename that publishes it: a rename
 * can reach the disk before the data it names, and a power loss would then leave a complete-looking
 * folder of empty or short files.
 */
function syncTree(dir: string): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) syncTree(path);
    else if (entry.isFile()) fsyncFileSync(path);
  }
  fsyncDirSync(dir);
}

/** A temporary sibling of the target: .NAME.tmp-PID-XXXXXX (or .old-), on the same file system. */
function siblingName(out: string, kind: 'tmp' | 'old'): string {
  return join(dirname(out), `.${basename(out)}.${kind}-${process.pid}-${randomBytes(3).toString('hex')}`);
}

/**
 * What a killed writer of this target left beside it: its temporary folder is removed; its
 * old folder, moved aside just before the new one was to take its place, is moved back when
 * the target is missing (otherwise removed). Leftovers of running writers are left alone.
 */
function recoverLeftovers(out: string): void {
  const parent = dirname(out), name = basename(out);
  const re = new RegExp(`^\\.${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.(tmp|old)-(\\d+)-[0-9a-f]+$`);
  for (const entry of readdirSync(parent)) {
    const m = re.exec(entry);
    if (!m || Number(m[2]) === process.pid || processRunning(Number(m[2]))) continue;
    const path = join(parent, entry);
    if (m[1] === 'old' && !existsSync(out)) renameSync(path, out);
    else rmSync(path, { recursive: true, force: true });
  }
}
