// Writes results.md in this folder from the eval and latency JSON reports run.sh leaves here.
// Usage: node docs/adaptive/summarize.mjs
import { readFileSync, writeFileSync } from 'node:fs';

const dir = new URL('.', import.meta.url).pathname;
const read = (f) => JSON.parse(readFileSync(dir + f, 'utf8'));
const pct = (x) => `${(100 * x).toFixed(1)}%`;
const runs = [
  ['adaptive latent steps (`--adaptive-latents`)', 'adaptive'],
  ['fixed count, from the same stage-0 weights (`--init-from` the adaptive run, `--no-adaptive-latents`)', 'fixed-branch'],
  ['fixed count, its own stage 0 (the same recipe without `--adaptive-latents`)', 'fixed'],
];
const out = ['# Adaptive latent steps: results', '', 'Written by `node docs/adaptive/summarize.mjs` from the reports beside it (`bash docs/adaptive/run.sh` makes them).', ''];
out.push('Test split, 200 problems (100 with 2-step chains, 100 with 3-step chains), batch 32 except where the count head chooses (one question at a time):', '');
out.push('| curriculum | explicit CoT (stage 0) | stage 1 | stage 2 | stage 3 | stage 3 on 2-step / 3-step chains | latent steps run on 2-step / 3-step chains | forward passes / question, stage 3 |', '|---|---|---|---|---|---|---|---|');
for (const [label, name] of runs) {
  const st = (s) => (name === 'fixed-branch' && s === 0 ? read('adaptive-stage0.json') : read(`${name}-stage${s}.json`));
  const s3 = st(3);
  const g = (k) => s3.by_group[k];
  const latent = s3.adaptive ? `${g('2 steps').avg_latent_steps.toFixed(2)} / ${g('3 steps').avg_latent_steps.toFixed(2)}` : `${s3.latentSteps} / ${s3.latentSteps}`;
  out.push(`| ${label} | ${pct(st(0).accuracy)} | ${pct(st(1).accuracy)} | ${pct(st(2).accuracy)} | ${pct(s3.accuracy)} | ${pct(g('2 steps').accuracy)} / ${pct(g('3 steps').accuracy)} | ${latent} | ${s3.avg_passes.toFixed(2)} |`);
}
const fixedOnAdaptive = read('adaptive-stage3-fixed.json');
out.push('', `The adaptive run's stage-3 weights made to run the fixed 3 latent steps (\`ivt eval --fixed-latents\`): ${pct(fixedOnAdaptive.accuracy)} (2-step chains ${pct(fixedOnAdaptive.by_group['2 steps'].accuracy)}, 3-step ${pct(fixedOnAdaptive.by_group['3 steps'].accuracy)}); the count head's choices on the test split: ${Object.entries(read('adaptive-stage3.json').latent_counts).map(([c, n]) => `${n} questions ${c} latent steps`).join(', ')}.`, '');
out.push('One question at a time (`ivt bench latency --batch 1`, first 100 test problems, modes interleaved in chunks of 10; each run its own benchmark process on this machine):', '');
out.push('| run | mode | accuracy | forward passes / question | ms / question |', '|---|---|---|---|---|');
for (const [label, name] of runs.slice(0, 2)) {
  const l = read(`${name}-latency.json`);
  for (const r of l.rows) {
    const mode = `${r.mode}${r.draft ? ', answer template drafted' : ''}${r.adaptive ? ', adaptive' : ''}${r.fixed_latents ? ', fixed count' : ''}`;
    out.push(`| ${name} | ${mode} | ${pct(r.accuracy)} | ${r.avg_passes.toFixed(1)} | ${r.ms_per_question.toFixed(1)} |`);
  }
  out.push(`| ${name} | IVT-LR against explicit CoT | | ${l.fewer_passes}x fewer | ${l.speedup_latency}x lower (drafted: ${l.drafted.speedup_latency}x) |`);
}
writeFileSync(dir + 'results.md', out.join('\n') + '\n');
console.log(out.join('\n'));
