// Tables of the k sweep (docs/latent-vision/topk-sweep.sh) from its eval.json and diagnose.json files, beside
// the demo's own k = 4 curriculum and its run without latent vision (k = 0) from each seed's
// results.json. Writes markdown to stdout.
//   node docs/latent-vision/topk-summarise.mjs SEEDS_DIR SWEEP_DIR "1 2 3 4 5" "1 2 4 5" > docs/latent-vision/topk.md
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const [seedsDir, sweepDir, seedList, kList] = process.argv.slice(2);
const seeds = seedList.trim().split(/\s+/).map(Number), ks = kList.trim().split(/\s+/).map(Number);
const read = (f) => JSON.parse(readFileSync(f, 'utf8'));
const pct = (x) => `${(100 * x).toFixed(1)}%`;
const mean = (xs) => xs.reduce((a, x) => a + x, 0) / xs.length;
const row = (cells) => `| ${cells.join(' | ')} |`;

const demo = Object.fromEntries(seeds.map((s) => [s, read(join(seedsDir, `seed-${s}`, 'report', 'results.json'))]));
const demoAcc = (s, label) => demo[s].rows.find((r) => r.label === label).accuracy;
const sweep = (s, k, f) => join(sweepDir, `seed-${s}`, `k${k}`, f);
// Every table needs every run: say which are missing instead of failing on the first.
const missing = seeds.flatMap((s) => ks.flatMap((k) => ['eval.json', 'diagnose.json'].filter((f) => !existsSync(sweep(s, k, f))).map((f) => `seed ${s} k ${k} (${f})`)));
if (missing.length) {
  console.error(`not run yet in ${sweepDir}: ${missing.join(', ')}`);
  process.exit(1);
}

const lines = ['# The ablation over k, and where latent vision looked', '', 'Made by docs/latent-vision/topk-summarise.mjs (see README.md here).', '', '## Test accuracy by k (200 test problems per seed)', '', row(['k', ...seeds.map((s) => `seed ${s}`), 'mean']), `|---|${seeds.map(() => '---|').join('')}---|`];
const accRow = (label, accOf) => { const a = seeds.map(accOf); lines.push(row([label, ...a.map(pct), pct(mean(a))])); };
accRow('0 (the demo\'s run without latent vision)', (s) => demoAcc(s, 'without latent vision'));
for (const k of ks) accRow(`${k}${k === 4 ? ' (branch off stage 0, as the others)' : ''}`, (s) => read(sweep(s, k, 'eval.json')).accuracy);
accRow('4 (the demo\'s curriculum)', (s) => demoAcc(s, 'IVT-LR stage 3'));

lines.push('', '## Where latent vision looked, by k (the asked cell: each chain\'s last)', '',
  'Mean over seeds of the share of latent step 3\'s attention onto the prompt\'s image tokens that goes to the asked cell, and of the problems whose asked cell has been inserted by steps 1, 2, 3.', '',
  row(['k', 'step-3 attention on the asked cell', 'inserted by step 1', 'by step 2', 'by step 3', 'random selections by step 1 / 2 / 3']), '|---|---|---|---|---|---|');
for (const k of ks) {
  const f = seeds.map((s) => read(sweep(s, k, 'diagnose.json')).vision_focus);
  const asked = (table, i) => mean(f.map((x) => x.asked[table][i]));
  lines.push(row([k, pct(asked('attention', 2)), pct(asked('inserted', 0)), pct(asked('inserted', 1)), pct(asked('inserted', 2)), randomInserted(k, f[0].tokens, 3).map(pct).join(' / ')]));
}
// The demo's k in full: every step and every cell of the chain, mean over seeds.
if (ks.includes(4)) {
  const f = seeds.map((s) => read(sweep(s, 4, 'diagnose.json')).vision_focus);
  const cells = f[0].cells;
  const table = (name, key) => [row([name, ...cells]), `|---|${cells.map(() => '---|').join('')}`,
    ...f[0][key].map((_, i) => row([`latent step ${i + 1}`, ...cells.map((_, j) => pct(mean(f.map((x) => x[key][i][j]))))]))];
  lines.push('', '## k = 4 (the demo\'s): every latent step and every cell of the chain, mean over seeds', '',
    `Attention share: of each step's selection scores (its attention onto the prompt's ${f[0].tokens} image tokens, summed over layers and heads), the share on the cell; ${pct(1 / f[0].tokens)} where spread evenly. Inserted by then: the share of problems whose cell is among the image embeddings inserted by that step (random: ${randomInserted(4, f[0].tokens, f[0].inserted.length).map(pct).join(', ')}).`, '',
    ...table('attention share', 'attention'), '', ...table('inserted by then', 'inserted'));
}
console.log(lines.join('\n'));

/** The share of problems random selections of k a step have inserted a given cell by steps 1..n. */
function randomInserted(k, tokens, n) {
  return Array.from({ length: n }, (_, i) => Math.min(1, ((i + 1) * k) / tokens));
}
