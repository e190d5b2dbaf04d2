// Image preprocessing for the vision encoder: decode with sharp, flatten transparency onto
// white, resize to the model's square size, normalise each channel ((x/255 - mean) / std),
// and cut into non-overlapping square patches. Output: Float32Array [numPatches, P*P*3],
// patches in row-major order (left to right, top to bottom), and inside a patch pixels in
// row-major order with RGB interleaved, the layout a linear patch embedding expects.
// Files are untrusted: empty, truncated, non-image or enormous files are the user's error.
import { statSync } from 'node:fs';
import sharp from 'sharp';
import { UserError } from '../engine/errors.js';

export type Rgb = readonly [number, number, number];

export interface ImageOptions {
  /** Side of the square the image is resized to (pixels). */
  size: number;
  /** Side of a square patch (pixels); must divide `size`. */
  patchSize: number;
  /** Per-channel mean and std on the [0, 1] scale. Default 0.5 / 0.5 (maps to [-1, 1]). */
  mean?: Rgb;
  std?: Rgb;
  /** Refuse images with more input pixels than this (decompression bombs). Default 4096 * 4096. */
  maxPixels?: number;
  /** Refuse files larger than this many bytes. Default 64 MiB. */
  maxBytes?: number;
}

export interface ImagePatches {
  patches: Float32Array;
  numPatches: number;
  /** patchSize * patchSize * 3 */
  patchDim: number;
  /** Patches per side (size / patchSize). */
  gridSize: number;
}

export const DEFAULT_MEAN: Rgb = [0.5, 0.5, 0.5];
export const DEFAULT_STD: Rgb = [0.5, 0.5, 0.5];
export const DEFAULT_MAX_PIXELS = 4096 * 4096;
export const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;

function checkGeometry(size: number, patchSize: number): void {
  if (!Number.isInteger(size) || size < 1 || size > 4096) throw new UserError(`image size must be an integer in [1, 4096], got ${size}`);
  if (!Number.isInteger(patchSize) || patchSize < 1 || size % patchSize !== 0) {
    throw new UserError(`patch size ${patchSize} must be a positive integer that divides the image size ${size}`);
  }
}

/** Normalises interleaved 8-bit RGB pixels (size x size) and cuts them into patches. */
export function pixelsToPatches(rgb: Uint8Array, size: number, patchSize: number, mean: Rgb = DEFAULT_MEAN, std: Rgb = DEFAULT_STD): ImagePatches {
  checkGeometry(size, patchSize);
  if (rgb.length !== size * size * 3) throw new Error(`pixelsToPatches: expected ${size * size * 3} bytes, got ${rgb.length}`);
  for (const s of std) if (!(s > 0)) throw new UserError(`image std must be positive, got ${std.join(', ')}`);
  const grid = size / patchSize;
  const patchDim = patchSize * patchSize * 3;
  const out = new Float32Array(grid * grid * patchDim);
  const scale = std.map((s) => 1 / (255 * s));
  const shift = mean.map((m, c) => m / std[c]!);
  let o = 0;
  for (let py = 0; py < grid; py++) {
    for (let px = 0; px < grid; px++) {
      for (let y = 0; y < patchSize; y++) {
        let i = ((py * patchSize + y) * size + px * patchSize) * 3;
        for (let x = 0; x < patchSize; x++) {
          for (let c = 0; c < 3; c++) out[o++] = rgb[i++]! * scale[c]! - shift[c]!;
        }
      }
    }
  }
  return { patches: out, numPatches: grid * grid, patchDim, gridSize: grid };
}

function describeSource(source: string | Buffer): string {
  return typeof source === 'string' ? source : `image buffer (${source.length} bytes)`;
}

/** Decodes and resizes to size x size 8-bit RGB; every decoding failure becomes a UserError. */
export async function loadRgb(
  source: string | Buffer, size: number,
  opts: Pick<ImageOptions, 'maxPixels' | 'maxBytes'> & { kernel?: 'nearest' | 'lanczos3' } = {},
): Promise<Uint8Array> {
  const name = describeSource(source);
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
  let bytes: number;
  if (typeof source === 'string') {
    try {
      const st = statSync(source);
      if (!st.isFile()) throw new UserError(`${name}: not a regular file`);
      bytes = st.size;
    } catch (err) {
      if (err instanceof UserError) throw err;
      throw new UserError(`${name}: cannot read image (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
  } else {
    bytes = source.length;
  }
  if (bytes === 0) throw new UserError(`${name}: empty file, not an image`);
  if (bytes > maxBytes) throw new UserError(`${name}: ${bytes} bytes, more than the ${maxBytes}-byte limit for an image`);
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  try {
    // failOn 'warning' (sharp's strictest level) so a truncated or corrupt file is an error,
    // not a partly grey picture the model would silently train on.
    const { data, info } = await sharp(source, { limitInputPixels: maxPixels, failOn: 'warning' })
      // Upright as a viewer shows it: a JPEG's EXIF orientation (a phone photo) applied.
      .rotate()
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      // No shrink-on-load: the same picture gives the same pixels whatever its file format
      // (WebP and JPEG would otherwise be downscaled by the decoder first, a different filter).
      .resize(size, size, { fit: 'fill', kernel: opts.kernel ?? 'lanczos3', fastShrinkOnLoad: false })
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3 || info.width !== size || info.height !== size) {
      throw new Error(`unexpected decoded layout ${info.width}x${info.height}x${info.channels}`);
    }
    return new Uint8Array(data.buffer, data.byteOffset, data.length);
  } catch (err) {
    const msg = (err as Error).message ?? String(err);
    if (/pixel limit/i.test(msg)) throw new UserError(`${name}: image has more than ${maxPixels} pixels (the limit; raise maxPixels if intended)`);
    throw new UserError(`${name}: not a readable image (${msg.split('\n')[0]})`);
  }
}

/** Loads one image file (or buffer) as normalised patches. */
export async function loadImagePatches(source: string | Buffer, opts: ImageOptions): Promise<ImagePatches> {
  checkGeometry(opts.size, opts.patchSize);
  const rgb = await loadRgb(source, opts.size, opts);
  return pixelsToPatches(rgb, opts.size, opts.patchSize, opts.mean ?? DEFAULT_MEAN, opts.std ?? DEFAULT_STD);
}

/** Per-channel mean and std (on [0, 1]) over images, to use as normalisation constants. */
export async function channelStats(sources: ReadonlyArray<string | Buffer>, size: number, opts: Pick<ImageOptions, 'maxPixels' | 'maxBytes'> = {}): Promise<{ mean: Rgb; std: Rgb }> {
  const sum = [0, 0, 0];
  const sumSq = [0, 0, 0];
  let n = 0;
  for (const s of sources) {
    const rgb = await loadRgb(s, size, opts);
    for (let i = 0; i < rgb.length; i += 3) {
      for (let c = 0; c < 3; c++) { const v = rgb[i + c]! / 255; sum[c]! += v; sumSq[c]! += v * v; }
    }
    n += rgb.length / 3;
  }
  if (n === 0) throw new UserError('channelStats: no images');
  const mean = sum.map((s) => s / n) as unknown as Rgb;
  const std = sumSq.map((s, c) => Math.sqrt(Math.max(s / n - mean[c]! ** 2, 1e-12))) as unknown as Rgb;
  return { mean, std };
}

/**
 * Decodes every image once (at a small size) so that a damaged file is reported before
 * training starts, not in the middle of it. Returns the number checked.
 */
export async function verifyImages(paths: readonly string[], opts: Pick<ImageOptions, 'maxPixels' | 'maxBytes'> = {}, concurrency = 8): Promise<number> {
  let next = 0;
  async function worker(): Promise<void> {
    while (next < paths.length) await loadRgb(paths[next++]!, 8, opts);
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, paths.length) }, worker));
  return paths.length;
}
