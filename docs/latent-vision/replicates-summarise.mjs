// The full model against the one without latent vision and the one with random latent vision,
// over several data orders of the latent stages: the demo's own runs (order = seed) and those of
// replicates.sh (order = seed + offset). Test accuracy, and each latent stage's training loss
// over its last 40 batches trained at that stage (mixed batches, trained at an earlier stage, left
// out). Writes markdown to stdout. OFFSET:DIR names the runs of replicates.sh with that offset;
// for offset 0 the full model and the one without latent vision are the demo's own.
//   node docs/latent-vision/replicates-summarise.mjs SEEDS_DIR "1 2 3 4 5" 0:DIR0 100:DIR1 ... > docs/latent-vision/replicates.md
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const [seedsDir, seedList, ...reps] = process.argv.slice(2);
const seeds = seedList.trim().split(/\s+/).map(Number);
const read = (f) => JSON.parse(readFileSync(f, 'utf8'));
const pct = (x) => `${(100 * x).toFixed(1)}%`;
const row = (cells) => `| ${cells.join(' | ')} |`;
const mean = (xs) => xs.reduce((a, x) => a + x, 0) / xs.length;
const LEARNED = 0.9;
const VARIANTS = [['full', 'IVT-LR'], ['no-vision', 'without latent vision'], ['random-vision', 'random latent vision']];

/** Mean loss of a stage's last 40 batches trained at that stage. */
function stageLoss(metricsFile, stage) {
  const losses = readFileSync(metricsFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l))
    .filter((m) => m.stage === stage && typeof m.loss === 'number' && m.mixed_stage === undefined).map((m) => m.loss);
  const tail = losses.slice(-40);
  return tail.reduce((a, x) => a + x, 0) / tail.length;
}

// Every (seed, order): each variant's accuracy and metrics file, where it was run.
const runs = [];
for (const rep of reps) {
  const [offsetText, dir] = rep.split(':');
  const offset = Number(offsetText);
  for (const s of seeds) {
    const r = { seed: s, order: s + offset };
    const demo = join(seedsDir, `seed-${s}`);
    if (offset === 0) {
      const res = read(join(demo, 'report', 'results.json'));
      const acc = (label) => res.rows.find((x) => x.label === label).accuracy;
      r.full = { acc: acc('IVT-LR stage 3'), metrics: join(demo, 'runs', 'ivt', 'metrics.jsonl') };
      r['no-vision'] = { acc: acc('without latent vision'), metrics: join(demo, 'runs', 'no-vision', 'metrics.jsonl') };
    }
    for (const [v] of VARIANTS) {
      const f = join(dir, `seed-${s}`, v, 'eval.json');
      if (existsSync(f)) r[v] = { acc: read(f).accuracy, metrics: join(dir, `seed-${s}`, v, 'metrics.jsonl') };
    }
    runs.push(r);
  }
}
// A variant is tabled where every (seed, order) has it; a variant only some have is an unfinished run.
const present = VARIANTS.filter(([v]) => runs.every((r) => r[v]));
const partial = VARIANTS.filter(([v]) => !present.some(([p]) => p === v) && runs.some((r) => r[v]));
if (!present.some(([v]) => v === 'full') || partial.length) {
  const gaps = runs.flatMap((r) => VARIANTS.filter(([v]) => !r[v] && (v === 'full' || partial.some(([p]) => p === v))).map(([v]) => `seed ${r.seed} order ${r.order} ${v}`));
  console.error(`not run yet: ${gaps.join(', ')}`);
  process.exit(1);
}

const lines = [
  `# ${present.map(([, name]) => name).join(', ')}: ${reps.length} data order${reps.length > 1 ? 's' : ''} of the latent stages`, '',
  'Made by docs/latent-vision/replicates-summarise.mjs (see README.md here).', '',
  `## Test accuracy and latent-stage losses, ${runs.length} curricula from ${seeds.length} seeds' stage-0 weights`, '',
  'Loss: mean training loss of the stage\'s last 40 batches trained at that stage, stages 1 / 2 / 3; about 0.107 at stage 2 and 0.20 at stage 3 is the value (or letter) at chance.', '',
  row(['seed', 'latent stages\' data order', ...present.map(([, name]) => name), ...present.map(([, name]) => `loss, ${name}`)]),
  `|---|---|${present.map(() => '---|---|').join('')}`,
];
for (const r of runs) {
  const losses = (m) => [1, 2, 3].map((st) => stageLoss(m, st).toFixed(3)).join(' / ');
  lines.push(row([r.seed, r.order, ...present.map(([v]) => pct(r[v].acc)), ...present.map(([v]) => losses(r[v].metrics))]));
}
// Summary: each variant over all runs, then against the full model pair by pair (same seed, same order).
const others = present.filter(([v]) => v !== 'full');
const bothLearned = (v) => runs.filter((r) => r.full.acc >= LEARNED && r[v].acc >= LEARNED);
const gap = (rs, v) => rs.map((r) => r.full.acc - r[v].acc);
lines.push('', row(['', ...present.map(([, name]) => name)]), `|---|${present.map(() => '---|').join('')}`,
  row([`learned (${pct(LEARNED)} or more)`, ...present.map(([v]) => `${runs.filter((r) => r[v].acc >= LEARNED).length} of ${runs.length}`)]),
  row(['mean accuracy', ...present.map(([v]) => pct(mean(runs.map((r) => r[v].acc))))]),
  row(['stage-2 loss at chance (0.1 or more)', ...present.map(([v]) => `${runs.filter((r) => stageLoss(r[v].metrics, 2) >= 0.1).length} of ${runs.length}`)]),
  '', row(['against IVT-LR, pair by pair', ...others.map(([, name]) => name)]), `|---|${others.map(() => '---|').join('')}`,
  row(['IVT-LR above / below it', ...others.map(([v]) => `${runs.filter((r) => r.full.acc > r[v].acc).length} / ${runs.filter((r) => r.full.acc < r[v].acc).length}`)]),
  row(['sign test, two-sided p (ties left out)', ...others.map(([v]) => signTest(runs.filter((r) => r.full.acc > r[v].acc).length, runs.filter((r) => r.full.acc < r[v].acc).length).toFixed(3))]),
  row(['pairs where both learned', ...others.map(([v]) => String(bothLearned(v).length))]),
  row(['there, mean accuracy: IVT-LR / it', ...others.map(([v]) => `${pct(mean(bothLearned(v).map((r) => r.full.acc)))} / ${pct(mean(bothLearned(v).map((r) => r[v].acc)))}`)]),
  row(['there, IVT-LR minus it: mean, range (points)', ...others.map(([v]) => { const g = gap(bothLearned(v), v).map((x) => 100 * x); return `${mean(g).toFixed(1)}, ${Math.min(...g).toFixed(1)} to ${Math.max(...g).toFixed(1)}`; })]));
console.log(lines.join('\n'));

/** Two-sided exact binomial sign test: the chance of a split at least this uneven with p = 1/2. */
function signTest(a, b) {
  const n = a + b, k = Math.max(a, b);
  const choose = (n, r) => { let c = 1; for (let i = 1; i <= r; i++) c = (c * (n - r + i)) / i; return c; };
  let tail = 0;
  for (let i = k; i <= n; i++) tail += choose(n, i);
  return Math.min(1, (2 * tail) / 2 ** n);
}
