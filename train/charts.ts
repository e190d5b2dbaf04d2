// Charts for reports: small SVG builders rendered to PNG with sharp. No plotting library:
// a line chart, a grouped bar chart, and an image with highlighted patches are all we need.
import { writeFileAtomic } from '../engine/atomic_file.js';
import sharp from 'sharp';

const W = 720, H = 400, M = { l: 64, r: 24, t: 44, b: 64 };
const PALETTE = ['#3b6fd8', '#e07b39', '#3fa66b', '#c94a6b', '#8a63c9', '#6b7785', '#c9a23f'];

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function niceMax(x: number): number {
  if (x <= 0 || !Number.isFinite(x)) return 1;
  const p = 10 ** Math.floor(Math.log10(x));
  for (const m of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= x) return m * p;
  return 10 * p;
}

function axes(title: string, xLabel: string, yLabel: string, yMax: number, yFmt: (v: number) => string): string[] {
  const out = [`<rect width="${W}" height="${H}" fill="white"/>`, `<text x="${W / 2}" y="26" font-size="18" text-anchor="middle" font-family="sans-serif" font-weight="bold">${esc(title)}</text>`];
  for (let i = 0; i <= 5; i++) {
    const v = (yMax * i) / 5;
    const y = H - M.b - ((H - M.t - M.b) * i) / 5;
    out.push(`<line x1="${M.l}" x2="${W - M.r}" y1="${y}" y2="${y}" stroke="#e3e3e3"/>`);
    out.push(`<text x="${M.l - 8}" y="${y + 4}" font-size="12" text-anchor="end" font-family="sans-serif">${esc(yFmt(v))}</text>`);
  }
  out.push(`<line x1="${M.l}" x2="${M.l}" y1="${M.t}" y2="${H - M.b}" stroke="#333"/>`, `<line x1="${M.l}" x2="${W - M.r}" y1="${H - M.b}" y2="${H - M.b}" stroke="#333"/>`);
  out.push(`<text x="${W / 2}" y="${H - 14}" font-size="13" text-anchor="middle" font-family="sans-serif">${esc(xLabel)}</text>`);
  out.push(`<text x="16" y="${H / 2}" font-size="13" text-anchor="middle" font-family="sans-serif" transform="rotate(-90 16 ${H / 2})">${esc(yLabel)}</text>`);
  return out;
}

export interface Series {
  name: string;
  points: { x: number; y: number }[];
}

/** Line chart; `marks` draws labelled vertical lines (e.g. stage boundaries). */
export function lineChartSvg(title: string, xLabel: string, yLabel: string, series: Series[], marks: { x: number; label: string }[] = []): string {
  const xs = series.flatMap((s) => s.points.map((p) => p.x));
  const ys = series.flatMap((s) => s.points.map((p) => p.y)).filter(Number.isFinite);
  const xMin = Math.min(...xs, 0), xMax = Math.max(...xs, 1);
  const yMax = niceMax(Math.max(...ys, 0));
  const px = (x: number) => M.l + ((x - xMin) / (xMax - xMin || 1)) * (W - M.l - M.r);
  const py = (y: number) => H - M.b - (Math.max(0, Math.min(y, yMax)) / yMax) * (H - M.t - M.b);
  const out = axes(title, xLabel, yLabel, yMax, (v) => v.toFixed(yMax < 5 ? 1 : 0));
  for (const m of marks) {
    out.push(`<line x1="${px(m.x)}" x2="${px(m.x)}" y1="${M.t}" y2="${H - M.b}" stroke="#999" stroke-dasharray="4 4"/>`);
    out.push(`<text x="${px(m.x) + 4}" y="${M.t + 14}" font-size="12" font-family="sans-serif" fill="#555">${esc(m.label)}</text>`);
  }
  series.forEach((s, i) => {
    const pts = s.points.filter((p) => Number.isFinite(p.y)).map((p) => `${px(p.x).toFixed(1)},${py(p.y).toFixed(1)}`).join(' ');
    out.push(`<polyline points="${pts}" fill="none" stroke="${PALETTE[i % PALETTE.length]}" stroke-width="2"/>`);
    out.push(`<text x="${W - M.r - 8}" y="${M.t + 16 + 16 * i}" font-size="12" text-anchor="end" font-family="sans-serif" fill="${PALETTE[i % PALETTE.length]}">${esc(s.name)}</text>`);
  });
  for (let i = 0; i <= 4; i++) {
    const x = xMin + ((xMax - xMin) * i) / 4;
    out.push(`<text x="${px(x)}" y="${H - M.b + 18}" font-size="12" text-anchor="middle" font-family="sans-serif">${Math.round(x)}</text>`);
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}">${out.join('')}</svg>`;
}

/** Bar chart: one bar per entry, value printed above it. */
export function barChartSvg(title: string, yLabel: string, bars: { label: string; value: number; group?: number }[], fmt: (v: number) => string, yMaxHint?: number): string {
  const yMax = niceMax(Math.max(yMaxHint ?? 0, ...bars.map((b) => b.value)));
  const out = axes(title, '', yLabel, yMax, fmt);
  const slot = (W - M.l - M.r) / Math.max(bars.length, 1);
  bars.forEach((b, i) => {
    const h = (Math.max(b.value, 0) / yMax) * (H - M.t - M.b);
    const x = M.l + i * slot + slot * 0.15;
    const colour = PALETTE[(b.group ?? i) % PALETTE.length];
    out.push(`<rect x="${x}" y="${H - M.b - h}" width="${slot * 0.7}" height="${h}" fill="${colour}"/>`);
    out.push(`<text x="${x + slot * 0.35}" y="${H - M.b - h - 6}" font-size="12" text-anchor="middle" font-family="sans-serif">${esc(fmt(b.value))}</text>`);
    out.push(`<text x="${x + slot * 0.35}" y="${H - M.b + 18}" font-size="12" text-anchor="middle" font-family="sans-serif">${esc(b.label)}</text>`);
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}">${out.join('')}</svg>`;
}

export async function svgToPng(svg: string, path: string): Promise<void> {
  writeFileAtomic(path, await sharp(Buffer.from(svg)).png().toBuffer()); // no half-written chart
}

/**
 * A test image scaled up with the patches each latent step selected outlined (one colour per
 * step, numbered), plus a caption.
 */
export async function selectionPng(imagePath: string, grid: number, steps: number[][], caption: string[], out: string, imageSize = 32): Promise<void> {
  // As the model sees it (squashed to its square input, like train/images.ts), scaled to 256 px.
  const size = 256;
  // EXIF orientation applied, as train/images.ts does, so the outlines land on the cells the model saw.
  const img = await sharp(imagePath).rotate().flatten({ background: '#ffffff' }).resize(imageSize, imageSize, { fit: 'fill' }).resize(size, size, { kernel: 'nearest' }).png().toBuffer();
  const cell = size / grid, pad = 12, capH = 18 * caption.length + 10;
  const shapes: string[] = [];
  steps.forEach((sel, s) => {
    const colour = PALETTE[s % PALETTE.length];
    for (const j of sel) {
      const r = Math.floor(j / grid), c = j % grid, inset = 3 + 4 * s;
      shapes.push(`<rect x="${pad + c * cell + inset}" y="${pad + r * cell + inset}" width="${cell - 2 * inset}" height="${cell - 2 * inset}" fill="none" stroke="${colour}" stroke-width="3"/>`);
      shapes.push(`<text x="${pad + c * cell + inset + 3}" y="${pad + r * cell + inset + 14}" font-size="13" font-family="sans-serif" font-weight="bold" fill="${colour}">${s + 1}</text>`);
    }
  });
  const lines = caption.map((t, i) => `<text x="${pad}" y="${pad + size + 20 + 18 * i}" font-size="13" font-family="sans-serif">${esc(t)}</text>`);
  // Wide enough for the caption lines (13 px sans-serif, about 7 px per character).
  const w = Math.max(size + 2 * pad, 2 * pad + 7 * Math.max(...caption.map((c) => c.length))), h = size + 2 * pad + capH;
  const overlay = `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}">${shapes.join('')}${lines.join('')}</svg>`;
  const png = await sharp({ create: { width: w, height: h, channels: 3, background: '#ffffff' } })
    .composite([{ input: img, left: pad, top: pad }, { input: Buffer.from(overlay), left: 0, top: 0 }])
    .png()
    .toBuffer();
  writeFileAtomic(out, png); // no half-written picture
}
