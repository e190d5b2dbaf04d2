// Checks that a synthetic PNG shows exactly its scene: the file is decoded and compared,
// pixel by pixel, with a fresh rendering of the scene. This is what lets the lookup baselines
// work from scenes instead of pixels: scenes and pictures are proven to agree.
import sharp from 'sharp';
import { UserError } from '../../../engine/errors.js';
import { loadRgb } from '../../images.js';
import type { Scene } from './scene.js';
import { sceneSvg } from './render.js';

async function sceneRgb(scene: Scene, size: number): Promise<Uint8Array> {
  const { data } = await sharp(Buffer.from(sceneSvg(scene, size))).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return new Uint8Array(data.buffer, data.byteOffset, data.length);
}

/** Largest per-channel difference between the image file and its scene re-rendered. */
export async function sceneImageDifference(path: string, scene: Scene): Promise<number> {
  const meta = await sharp(path).metadata().catch((err: Error) => { throw new UserError(`${path}: not a readable image (${err.message})`); });
  const size = meta.width;
  if (!size || meta.height !== size) throw new UserError(`${path}: synthetic images are square; got ${meta.width}x${meta.height}`);
  const [file, fresh] = await Promise.all([loadRgb(path, size), sceneRgb(scene, size)]);
  let worst = 0;
  for (let i = 0; i < file.length; i++) worst = Math.max(worst, Math.abs(file[i]! - fresh[i]!));
  return worst;
}
