// writeFileAtomic: the whole file or the old one, never a part, and no temporary left behind.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../engine/atomic_file.js';
import { tempDir } from './cli.js';

const dir = tempDir('atomic-file');

test('writes text and bytes, making the folder, replacing the old file', () => {
  const p = join(dir, 'a', 'b', 'x.json');
  writeFileAtomic(p, '{"v":1}\n');
  assert.is(readFileSync(p, 'utf8'), '{"v":1}\n');
  writeFileAtomic(p, Uint8Array.from([1, 2, 3]));
  assert.equal([...readFileSync(p)], [1, 2, 3]);
  assert.equal(readdirSync(join(dir, 'a', 'b')), ['x.json']);
});

test('a write that cannot land leaves the target and no temporary file', () => {
  const target = join(dir, 'taken');
  mkdirSync(join(target, 'inside'), { recursive: true }); // a non-empty folder cannot be renamed over
  assert.throws(() => writeFileAtomic(target, 'new'));
  assert.equal(readdirSync(dir).filter((f) => f.startsWith('taken')), ['taken']);
  assert.equal(readdirSync(target), ['inside']);
  const keep = join(dir, 'keep.txt');
  writeFileSync(keep, 'old');
  assert.throws(() => writeFileAtomic(join(keep, 'child.txt'), 'new')); // its folder is a file
  assert.is(readFileSync(keep, 'utf8'), 'old');
});

test.run();
