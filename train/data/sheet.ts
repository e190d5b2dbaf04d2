// A contact sheet for eyeballing a dataset: for a few problems, the picture scaled up (with
// row/column numbers and, for synthetic pictures, cell lines), then the question, the
// choices (the correct one marked), the reasoning steps and the answer, drawn as SVG text
// and rasterised with sharp into one PNG.
import { writeFileAtomic } from '../../engine/atomic_file.js';
import sharp, { type OverlayOptions } from 'sharp';
import { letterOf, type ProblemRecord } from './record.js';
import { loadRgb } from '../images.js';

export interface SheetOptions {
  /** How many problems (default 6). */
  count?: number;
  /** Side of each picture on the sheet, in pixels (default 224). */
  imagePx?: number;
  /** Grid cells per side to draw over the pictures (synthetic data), or null for none. */
  grid?: number | null;
}

const WIDTH = 1100;
const PAD = 16;
const FONT = 15;
const LINE = 20;
const CHAR_W = FONT * 0.6; // DejaVu Sans Mono advance width
const TEXT_CHARS = Math.floor((WIDTH - 3 * PAD - 260) / CHAR_W);

function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Greedy word wrap to `width` characters; long words are cut. */
export function wrap(text: string, width: number, indent = ''): string[] {
  const out: string[] = [];
  for (const para of text.split('\n')) {
    let line = '';
    for (let word of para.split(/\s+/).filter(Boolean)) {
      while (word.length > width) {
        if (line) { out.push(line); line = ''; }
        out.push(word.slice(0, width));
        word = word.slice(width);
      }
      const next = line ? `${line} ${word}` : word;
      if (next.length > width) { out.push(line); line = indent + word; } else line = next;
    }
    if (line) out.push(line);
  }
  return out;
}

interface TextLine { text: string; colour: string; bold: boolean }

function panelLines(r: ProblemRecord): TextLine[] {
  const lines: TextLine[] = [];
  const add = (text: string, colour = '#222', bold = false, indent = '') => {
    for (const l of wrap(text, TEXT_CHARS, indent)) lines.push({ text: l, colour, bold });
  };
  add(`${r.id}  (${r.split})`, '#777');
  if (r.hint) add(`Hint: ${r.hint}`, '#555');
  add(r.question, '#000', true);
  r.choices.forEach((c, i) => {
    const right = i === r.answerIndex;
    add(`${right ? '>' : ' '} (${letterOf(i)}) ${c}`, right ? '#0a7d2c' : '#333', right, '      ');
  });
  if (r.steps.length === 0) add('(no rationale steps)', '#777');
  r.steps.forEach((s, i) => add(`Step ${i + 1}: ${s}`, '#1f3f8f', false, '        '));
  add(`Answer: ${letterOf(r.answerIndex)} (${r.choices[r.answerIndex]})`, '#0a7d2c', true);
  return lines;
}

/** Picks problems spread over the dataset: the first of each split, then evenly spaced. */
function pickRecords(records: readonly ProblemRecord[], count: number): ProblemRecord[] {
  if (records.length <= count) return records.slice();
  const step = records.length / count;
  return Array.from({ length: count }, (_, i) => records[Math.floor(i * step)]!);
}

export async function renderContactSheet(records: readonly ProblemRecord[], outFile: string, opts: SheetOptions = {}): Promise<number> {
  const count = opts.count ?? 6;
  const imagePx = opts.imagePx ?? 224;
  const chosen = pickRecords(records, count);
  const svg: string[] = [];
  const overlay: string[] = [];
  const composites: OverlayOptions[] = [];
  let y = PAD;
  for (const r of chosen) {
    const lines = panelLines(r);
    const height = Math.max(imagePx + 2 * PAD + LINE, lines.length * LINE + 2 * PAD);
    svg.push(`<rect x="${PAD / 2}" y="${y - PAD / 2}" width="${WIDTH - PAD}" height="${height}" rx="6" fill="#f6f6f6" stroke="#ccc"/>`);
    const ix = PAD + LINE, iy = y + LINE;
    if (r.imagePath) {
      // Nearest-neighbour scaling keeps the pixels the model sees visible as pixels.
      const rgb = await loadRgb(r.imagePath, imagePx, { kernel: 'nearest' });
      composites.push({ input: Buffer.from(rgb), raw: { width: imagePx, height: imagePx, channels: 3 }, left: ix, top: iy });
      svg.push(`<rect x="${ix - 1}" y="${iy - 1}" width="${imagePx + 2}" height="${imagePx + 2}" fill="none" stroke="#888"/>`);
      const g = opts.grid ?? null;
      if (g) {
        const cell = imagePx / g;
        for (let k = 1; k < g; k++) {
          overlay.push(`<line x1="${ix + k * cell}" y1="${iy}" x2="${ix + k * cell}" y2="${iy + imagePx}" stroke="#bbb" stroke-width="1"/>`);
          overlay.push(`<line x1="${ix}" y1="${iy + k * cell}" x2="${ix + imagePx}" y2="${iy + k * cell}" stroke="#bbb" stroke-width="1"/>`);
        }
        for (let k = 0; k < g; k++) {
          svg.push(`<text x="${ix + (k + 0.5) * cell}" y="${iy - 5}" font-size="12" text-anchor="middle" fill="#666">${k + 1}</text>`);
          svg.push(`<text x="${ix - 6}" y="${iy + (k + 0.5) * cell + 4}" font-size="12" text-anchor="end" fill="#666">${k + 1}</text>`);
        }
      }
    } else {
      svg.push(`<rect x="${ix}" y="${iy}" width="${imagePx}" height="${imagePx}" fill="#fff" stroke="#bbb" stroke-dasharray="4 3"/>`);
      svg.push(`<text x="${ix + imagePx / 2}" y="${iy + imagePx / 2}" font-size="14" text-anchor="middle" fill="#999">no image</text>`);
    }
    const tx = ix + imagePx + PAD * 1.5;
    lines.forEach((l, i) => {
      svg.push(`<text x="${tx}" y="${y + PAD + i * LINE + 4}" font-size="${FONT}" fill="${l.colour}"${l.bold ? ' font-weight="bold"' : ''} xml:space="preserve">${esc(l.text)}</text>`);
    });
    y += height + PAD;
  }
  const total = Math.max(y, 2 * PAD);
  const wrapSvg = (body: string[]) => Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${total}" font-family="DejaVu Sans Mono, monospace">${body.join('')}</svg>`);
  const base = `<rect width="${WIDTH}" height="${total}" fill="#ffffff"/>`;
  const png = await sharp(wrapSvg([base, ...svg]))
    .composite([...composites, { input: wrapSvg(overlay), left: 0, top: 0 }])
    .png()
    .toBuffer();
  writeFileAtomic(outFile, png); // a reader never sees half a PNG
  return chosen.length;
}
