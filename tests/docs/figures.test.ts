// Every measured figure the README quotes comes from a report committed beside it
// (docs/demo-lavapipe/results.json for the seed-1 run, the five-seed run's seeds.md,
// bench/results/ for bench/RESULTS.md). These checks read both sides, so a figure typed or
// edited by hand, or a report replaced without updating the text, fails here.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';

const ROOT = new URL('../../..', import.meta.url).pathname; // dist/tests/docs -> repo root
const read = (p: string): string => readFileSync(join(ROOT, p), 'utf8');

interface Row { label: string; run: string; tag: string; accuracy: number; avg_passes: number; ms_per_question: number }
interface LatencyRow { mode: string; draft?: boolean; accuracy: number; avg_passes: number; ms_per_question: number }
interface DemoReport {
  rows: Row[];
  minutes: number;
  stage_epochs: number[];
  input_norms: { token: number; image: number; steps: { hidden: number; input: number }[] };
  vision_focus: { attention: number[][] };
  stage0_skills: { group: string; accuracy: number; accuracyOtherImage: number }[];
  latency_batch1: { n: number; rows: LatencyRow[]; speedup_latency: number; fewer_passes: number; drafted: { speedup_latency: number; fewer_passes: number }; spread: { plain: number[]; drafted: number[] } };
}

/** The text from a heading to the next heading of the same or a higher level. */
function section(md: string, heading: string): string {
  const start = md.indexOf(`\n${heading}\n`);
  if (start < 0) throw new Error(`README has no section "${heading}"`);
  const level = heading.match(/^#+/)![0].length;
  const rest = md.slice(start + heading.length + 2);
  const end = rest.search(new RegExp(`\\n#{1,${level}} `));
  return end < 0 ? rest : rest.slice(0, end);
}

/** The rows of the first table in `text` whose header line starts with `header`, as cells. */
function table(text: string, header: string): string[][] {
  const lines = text.split('\n');
  const at = lines.findIndex((l) => l.startsWith(header));
  if (at < 0) throw new Error(`no table with header "${header}"`);
  const rows: string[][] = [];
  for (const l of lines.slice(at + 2)) {
    if (!l.startsWith('|')) break;
    rows.push(l.split('|').slice(1, -1).map((c) => c.trim()));
  }
  return rows;
}

const flat = (s: string): string => s.replace(/\s+/g, ' ');
const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;

const readme = read('README.md');
const demo = JSON.parse(read('docs/demo-lavapipe/results.json')) as DemoReport;
const results = section(readme, '## Results of an actual run');

test("README's seed-1 table is the committed demo report's", () => {
  const rows = table(results, '| mode | weights | accuracy |');
  assert.is(rows.length, demo.rows.length, 'one README row per mode the report measured');
  for (const [label, weights, acc, passes, ms] of rows) {
    const r = demo.rows.find((x) => x.label === label);
    assert.ok(r, `README row "${label}" is not in docs/demo-lavapipe/results.json`);
    assert.is(weights, `${r.run.split('/').pop()}:${r.tag}`, `${label}: weights`);
    assert.is(acc, pct(r.accuracy), `${label}: accuracy`);
    assert.is(passes, r.avg_passes.toFixed(1), `${label}: forward passes`);
    assert.is(ms, r.ms_per_question.toFixed(1), `${label}: ms per question`);
  }
});

test("the seed-1 run's time, stage lengths, latency and diagnosis figures are the report's", () => {
  const text = flat(results);
  assert.ok(text.includes(`**${demo.minutes.toFixed(1)} minutes**`), `demo minutes ${demo.minutes.toFixed(1)}`);
  assert.ok(text.includes(`The stages trained ${demo.stage_epochs.join(' / ')} epochs`), `stage epochs ${demo.stage_epochs.join(' / ')}`);
  const l = demo.latency_batch1;
  const row = (mode: string, draft: boolean) => l.rows.find((r) => r.mode === mode && !!r.draft === draft)!;
  const [cot, ivt, cotD, ivtD] = [row('cot', false), row('ivt', false), row('cot', true), row('ivt', true)];
  const plain = `explicit CoT ${cot.ms_per_question.toFixed(1)} ms and ${cot.avg_passes.toFixed(1)} passes, IVT-LR ${ivt.ms_per_question.toFixed(1)} ms and ${ivt.avg_passes.toFixed(1)} passes (${l.speedup_latency}x lower latency, per-chunk quartiles ${l.spread.plain.join('-')}x; ${l.fewer_passes}x fewer passes)`;
  assert.ok(text.includes(plain), `batch-1 latency: ${plain}`);
  const drafted = `${cotD.ms_per_question.toFixed(1)} ms and ${cotD.avg_passes.toFixed(1)} passes against ${ivtD.ms_per_question.toFixed(1)} ms and ${ivtD.avg_passes.toFixed(1)} passes (${l.drafted.speedup_latency}x, per-chunk quartiles ${l.spread.drafted.join('-')}x; ${l.drafted.fewer_passes}x fewer passes)`;
  assert.ok(text.includes(drafted), `drafted latency: ${drafted}`);
  assert.ok(text.includes(`(first ${l.n} test problems, batch 1,`), `latency problems ${l.n}`);
  // The last latent step's attention on the asked cell, and the recycled states' norms.
  const focus = demo.vision_focus.attention.at(-1)!.at(-1)!;
  assert.ok(text.includes(`(${(100 * focus).toFixed(1)}% here,`), `attention on the asked cell ${(100 * focus).toFixed(1)}%`);
  const hidden = demo.input_norms.steps.map((s) => s.hidden), inputs = demo.input_norms.steps.map((s) => s.input);
  const range = (xs: number[], d: number) => `${Math.min(...xs).toFixed(d)}-${Math.max(...xs).toFixed(d)}`;
  assert.ok(text.includes(`(norm ${range(hidden, 1)} here,`), `recycled norms ${range(hidden, 1)}`);
  assert.ok(text.includes(`at ${range(inputs, 1)} through the learned per-dimension scale, next to the token embeddings' ${demo.input_norms.token.toFixed(1)} (image tokens: ${demo.input_norms.image.toFixed(1)})`), 'latent input norms');
});

test("README's skill table is the report's", () => {
  const rows = table(readme, '| tokens | own picture | another picture |');
  assert.is(rows.length, demo.stage0_skills.length);
  for (const [group, own, other] of rows) {
    const s = demo.stage0_skills.find((x) => x.group === group);
    assert.ok(s, `skill "${group}" is not in the report`);
    assert.is(own, pct(s.accuracy), `${group}: own picture`);
    assert.is(other, pct(s.accuracyOtherImage), `${group}: another picture`);
  }
});

test("README's five-seed tables are the five-seed run's seeds.md", () => {
  const five = section(readme, '### Over five seeds');
  const link = five.match(/\((docs\/seeds\/[^)]+\/seeds\.md)\)/);
  assert.ok(link, 'the five-seed section links its seeds.md');
  const seeds = read(link[1]).split('\n');
  // Its first two tables: accuracy by seed, then epochs, minutes and bars by seed.
  const blocks = five.split(/\n(?!\|)/).map((b) => b.split('\n').filter((l) => l.startsWith('|'))).filter((b) => b.length > 0);
  const lines = blocks.slice(0, 2).flat();
  assert.ok(blocks.length >= 2 && lines.length >= 20, 'both five-seed tables are quoted');
  for (const l of lines) assert.ok(seeds.includes(l), `not in ${link[1]}: ${l}`);
  // The last latent step's attention on the asked cell, over the seeds.
  const dir = link[1].replace(/seeds\.md$/, '');
  const shares = [1, 2, 3, 4, 5].map((n) => (JSON.parse(read(`${dir}seed-${n}/results.json`)) as DemoReport).vision_focus.attention.at(-1)!.at(-1)!);
  const range = `${(100 * Math.min(...shares)).toFixed(1)}-${(100 * Math.max(...shares)).toFixed(1)}% over the five seeds below`;
  assert.ok(flat(readme).includes(range), `attention on the asked cell: ${range}`);
});

test('every relative link in README.md and docs/ names a file that exists', () => {
  const files = ['README.md', ...walk(join(ROOT, 'docs')).map((p) => relative(ROOT, p))].filter((p) => p.endsWith('.md'));
  const broken: string[] = [];
  for (const f of files) {
    read(f).split('\n').forEach((line, i) => {
      for (const m of line.matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = m[1]!.split('#')[0]!;
        if (!target || /^[a-z]+:/.test(target)) continue;
        if (!existsSync(join(ROOT, dirname(f), target))) broken.push(`${f}:${i + 1} ${target}`);
      }
    });
  }
  assert.equal(broken, [], `broken links:\n${broken.join('\n')}`);
});

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? walk(join(dir, d.name)) : [join(dir, d.name)]));
}

test("the README's matmul figure is the kernel report's", () => {
  const k = JSON.parse(read('bench/results/kernels-lavapipe.json')) as { kernels: { name: string; shape: number[]; dtype: string; pct_peak: number }[] };
  const mm = k.kernels.find((r) => r.name === 'matmul' && r.shape[0] === 1024 && r.dtype === 'f32')!;
  assert.ok(flat(readme).includes(`${mm.pct_peak.toFixed(1)}% of the FMA peak at 1024^3`), `matmul 1024^3 at ${mm.pct_peak.toFixed(1)}% of the peak`);
});

test('bench/RESULTS.md is what scripts/results.mjs writes from bench/results/', () => {
  const r = spawnSync(process.execPath, [join(ROOT, 'scripts/results.mjs'), '--check'], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stdout + r.stderr);
});

test.run();
