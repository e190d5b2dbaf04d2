// One file written whole or not at all: the bytes go to a temporary file beside the target (same
// folder, so the same file system) and are renamed over it, so a crash leaves the old file or the
// new one, never half of one. The folder is made if missing. The file is synced before the
// rename and the folder after it, so that a power loss, not only a killed process, leaves one or
// the other (a rename can reach the disk before the data it names).
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeFileSync } from 'node:fs';
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
  syncFolder(dirname(path));
}

/** Syncs a folder's entries (a rename into it); where the platform cannot, nothing is lost but that guarantee. */
function syncFolder(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Some platforms refuse fsync on a folder (EISDIR, EPERM): the rename itself still happened.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
