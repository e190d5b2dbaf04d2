// One file written whole or not at all: the bytes go to a temporary file beside the target (same
// folder, so the same file system) and are renamed over it, so a crash leaves the old file or the
// new one, never half of one. The folder is made if missing. The file is synced before the
// rename and the folder after it, so that a power loss, not only a killed process, leaves one or
// the other (a rename can reach the disk before the data it names).
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';

export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    const fd = openSync(tmp, 'w');
    try {
      writeFileSync(fd, data);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  fsyncDirSync(dirname(path));
}

/**
 * A folder that cannot be synced: some platforms and file systems refuse fsync on a folder.
 * Nothing is lost but the guarantee that a rename inside it survives a power loss.
 */
const UNSYNCABLE_FOLDER = new Set(['EISDIR', 'EPERM', 'EINVAL', 'EBADF']);

/** fsync a folder so a rename inside it survives a power loss (best effort where unsupported). */
export function fsyncDirSync(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch (e) {
    if (!UNSYNCABLE_FOLDER.has((e as NodeJS.ErrnoException).code ?? '')) throw e;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** fsyncDirSync without blocking the event loop (checkpoints, written while the GPU works). */
export async function fsyncDir(dir: string): Promise<void> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch (e) {
    if (!UNSYNCABLE_FOLDER.has((e as NodeJS.ErrnoException).code ?? '')) throw e;
  } finally {
    await fh?.close();
  }
}

/**
 * fsync a file appended to in place (a run's metrics.jsonl), so that its lines up to here reach
 * the disk before a checkpoint that a resume truncates them back to: otherwise a power loss could
 * keep the checkpoint and lose lines before it.
 */
export async function fsyncFile(path: string): Promise<void> {
  const fh = await open(path, 'r+');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** fsyncFile without the event loop: a file already closed, flushed to the disk. */
export function fsyncFileSync(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Whether a process with this id runs (EPERM: it does, owned by another user). */
export function processRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
