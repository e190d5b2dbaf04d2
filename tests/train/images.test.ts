// Image preprocessing: patch layout and normalisation on known pixels, decoding real PNGs, and
// clear user errors for empty, truncated, non-image, missing and huge files.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { channelStats, loadImagePatches, loadRgb, pixelsToPatches, verifyImages } from '../../train/images.js';
import { rejectsUserError, tempDir, throwsUserError } from './util.js';

test('patches are row-major, pixels inside a patch row-major with RGB interleaved', () => {
  // 4x4 image, 2x2 patches; pixel (y, x) has R = 10y + x, G = 100, B = 200.
  const size = 4;
  const rgb = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) rgb.set([10 * y + x, 100, 200], (y * size + x) * 3);
  const p = pixelsToPatches(rgb, size, 2, [0, 0, 0], [1 / 255, 1 / 255, 1 / 255]); // identity scaling
  assert.is(p.numPatches, 4);
  assert.is(p.patchDim, 12);
  assert.is(p.gridSize, 2);
  const red = (patch: number) => Array.from({ length: 4 }, (_, k) => Math.round(p.patches[patch * 12 + k * 3]!));
  assert.equal(red(0), [0, 1, 10, 11]);
  assert.equal(red(1), [2, 3, 12, 13]);
  assert.equal(red(2), [20, 21, 30, 31]);
  assert.equal(red(3), [22, 23, 32, 33]);
  assert.is(Math.round(p.patches[1]!), 100);
  assert.is(Math.round(p.patches[2]!), 200);
});

test('normalisation is (x/255 - mean) / std per channel', () => {
  const rgb = new Uint8Array([255, 0, 51, 255, 0, 51, 255, 0, 51, 255, 0, 51]);
  const p = pixelsToPatches(rgb, 2, 2, [0.5, 0.5, 0.2], [0.5, 0.25, 0.1]);
  assert.ok(Math.abs(p.patches[0]! - 1) < 1e-6);
  assert.ok(Math.abs(p.patches[1]! - -2) < 1e-6);
  assert.ok(Math.abs(p.patches[2]! - 0) < 1e-6);
});

test('a PNG with four coloured quadrants gives four uniform patches of those colours', async () => {
  const dir = tempDir('img');
  const file = join(dir, 'q.png');
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><rect width="32" height="32" fill="#ff0000"/><rect x="32" width="32" height="32" fill="#00ff00"/><rect y="32" width="32" height="32" fill="#0000ff"/><rect x="32" y="32" width="32" height="32" fill="#ffffff"/></svg>`;
  await sharp(Buffer.from(svg)).png().toFile(file);
  // At the file's own size every pixel of a patch is exactly its quadrant's colour.
  const p = await loadImagePatches(file, { size: 64, patchSize: 32 });
  assert.is(p.patches.length, 4 * 32 * 32 * 3);
  const expect = [[1, -1, -1], [-1, 1, -1], [-1, -1, 1], [1, 1, 1]];
  for (let k = 0; k < 4; k++) {
    for (let i = 0; i < 1024; i++) {
      for (let c = 0; c < 3; c++) assert.ok(Math.abs(p.patches[k * 3072 + i * 3 + c]! - expect[k]![c]!) < 1e-6, `patch ${k} pixel ${i}`);
    }
  }
  // Resized to 16 x 16 in 8 x 8 patches: the quadrants still land in their patches (centres exact).
  const small = await loadImagePatches(file, { size: 16, patchSize: 8 });
  for (let k = 0; k < 4; k++) {
    const centre = (4 * 8 + 4) * 3;
    for (let c = 0; c < 3; c++) assert.ok(Math.abs(small.patches[k * 192 + centre + c]! - expect[k]![c]!) < 0.02, `resized patch ${k}`);
  }
  // Greyscale and RGBA inputs still give 3 channels (alpha flattened onto white).
  const grey = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#808080' } }).greyscale().png().toBuffer();
  assert.is((await loadImagePatches(grey, { size: 8, patchSize: 8 })).patchDim, 192);
  const clear = await sharp({ create: { width: 8, height: 8, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } }).png().toBuffer();
  const flat = await loadImagePatches(clear, { size: 8, patchSize: 4 });
  assert.ok(flat.patches.every((v) => Math.abs(v - 1) < 1e-6), 'transparent is white');
  const stats = await channelStats([file], 32);
  assert.ok(Math.abs(stats.mean[0] - 0.5) < 0.01 && Math.abs(stats.std[0] - 0.5) < 0.01);
});

test('the same picture gives the same pixels as PNG and as lossless WebP, shrunk or not', async () => {
  // A 200 x 150 gradient with detail, so a different downscaling filter would show.
  const W = 200, H = 150;
  const raw = Buffer.alloc(W * H * 3);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) raw.set([(x * 7 + y) % 256, (y * 5) % 256, (x * y) % 256], (y * W + x) * 3);
  const img = sharp(raw, { raw: { width: W, height: H, channels: 3 } });
  const png = await img.clone().png().toBuffer(), webp = await img.clone().webp({ lossless: true }).toBuffer();
  for (const size of [32, 100]) {
    const a = await loadRgb(png, size), b = await loadRgb(webp, size);
    assert.equal(Array.from(b), Array.from(a), `size ${size}`);
  }
});

test('bad files are user errors naming the file', async () => {
  const dir = tempDir('imgbad');
  const png = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#123456' } }).png().toBuffer();
  const file = (name: string, data: Buffer | string) => { const p = join(dir, name); writeFileSync(p, data); return p; };
  const opts = { size: 16, patchSize: 8 };
  const empty = file('empty.png', '');
  await rejectsUserError(() => loadImagePatches(empty, opts), empty, 'empty file');
  const text = file('text.png', 'this is not a picture at all');
  await rejectsUserError(() => loadImagePatches(text, opts), text, 'not a readable image');
  const trunc = file('trunc.png', png.subarray(0, Math.floor(png.length / 2)));
  await rejectsUserError(() => loadImagePatches(trunc, opts), trunc, 'not a readable image');
  await rejectsUserError(() => loadImagePatches(join(dir, 'missing.png'), opts), 'missing.png', 'cannot read image');
  await rejectsUserError(() => loadImagePatches(dir, opts), 'not a regular file');
  const ok = file('ok.png', png);
  await rejectsUserError(() => loadImagePatches(ok, { ...opts, maxPixels: 1000 }), ok, 'more than 1000 pixels');
  await rejectsUserError(() => loadImagePatches(ok, { ...opts, maxBytes: 10 }), ok, '10-byte limit');
  await rejectsUserError(() => verifyImages([ok, text]), text);
  assert.is(await verifyImages([ok, ok]), 2);
});

test('geometry is checked', () => {
  throwsUserError(() => pixelsToPatches(new Uint8Array(5 * 5 * 3), 5, 2), 'patch size 2', 'divides the image size 5');
  throwsUserError(() => pixelsToPatches(new Uint8Array(4 * 4 * 3), 4, 2, [0, 0, 0], [1, 0, 1]), 'std must be positive');
});

test.run();
