// Draws a scene as a flat PNG: white background, one solid shape centred in each occupied
// cell, no grid lines or shading (edges antialiased, so shapes stay symmetric at 8 px).
// Cells are whole pixels and, at the default 32 px for a 4x4 grid, exactly one 8x8 patch,
// so each image token of the vision encoder sees one object. The circle is drawn as a thick
// ring: at 8 px a filled disc and a filled square differ in four corner pixels only, a ring's
// hole makes the two plainly different.
import sharp from 'sharp';
import type { Colour, Shape } from './spec.js';
import type { Scene } from './scene.js';

/** Saturated, well separated colours (distinct in hue and in brightness). */
export const COLOUR_HEX: Record<Colour, string> = {
  red: '#e6194b', green: '#2ca02c', blue: '#1f5fd6', yellow: '#f2c500',
};
export const BACKGROUND_HEX = '#ffffff';

function shapeSvg(shape: Shape, cx: number, cy: number, r: number, fill: string): string {
  const f = (v: number) => Number(v.toFixed(3));
  switch (shape) {
    case 'circle':
      return `<circle cx="${f(cx)}" cy="${f(cy)}" r="${f(r * 0.75)}" fill="none" stroke="${fill}" stroke-width="${f(r * 0.5)}"/>`;
    case 'square': {
      const h = r * 0.85;
      return `<rect x="${f(cx - h)}" y="${f(cy - h)}" width="${f(2 * h)}" height="${f(2 * h)}" fill="${fill}"/>`;
    }
    case 'triangle':
      return `<polygon points="${f(cx)},${f(cy - r)} ${f(cx + r)},${f(cy + r)} ${f(cx - r)},${f(cy + r)}" fill="${fill}"/>`;
    case 'cross': {
      const w = r * 0.7; // arm width
      return `<rect x="${f(cx - w / 2)}" y="${f(cy - r)}" width="${f(w)}" height="${f(2 * r)}" fill="${fill}"/>` +
        `<rect x="${f(cx - r)}" y="${f(cy - w / 2)}" width="${f(2 * r)}" height="${f(w)}" fill="${fill}"/>`;
    }
  }
}

export function sceneSvg(scene: Scene, size: number): string {
  const cell = size / scene.grid;
  const r = cell * 0.4;
  const body = scene.objects
    .map((o) => shapeSvg(o.shape, (o.col + 0.5) * cell, (o.row + 0.5) * cell, r, COLOUR_HEX[o.colour]))
    .join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}" viewBox="0 0 ${size} ${size}">` +
    `<rect width="${size}" height="${size}" fill="${BACKGROUND_HEX}"/>${body}</svg>`;
}

/** The scene as an 8-bit RGB PNG of size x size pixels. */
export async function renderScenePng(scene: Scene, size: number): Promise<Buffer> {
  return sharp(Buffer.from(sceneSvg(scene, size)), { density: 72 })
    .removeAlpha()
    .png({ compressionLevel: 9, adaptiveFiltering: false })
    .toBuffer();
}
