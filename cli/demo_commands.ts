// `ivt demo`: the README's main job. Today: train the toy GPT on sequence reversal and report.
import { Command } from 'commander';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { shutdownEngine, rt } from '../engine/tensor.js';
import { trainToy } from '../train/toy.js';
import { UserError } from '../engine/errors.js';

function positiveInt(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n <= 0) throw new UserError(`--${name} must be a positive integer, got "${v}"`);
    return n;
  };
}

export function registerDemoCommands(program: Command): void {
  program
    .command('demo')
    .description('train a small transformer on a toy sequence task on the GPU and write a report')
    .option('--out <dir>', 'report folder', 'out/demo')
    .option('--steps <n>', 'training steps', positiveInt('steps'), 400)
    .action(async (o: { out: string; steps: number }) => {
      const cfg = { symbols: 8, length: 6, batch: 32, steps: o.steps, lr: 3e-3, seed: 1, logEvery: 25, model: { dim: 48, heads: 4, layers: 2, seed: 2 } };
      console.log(`toy task: reverse ${cfg.length} symbols from an alphabet of ${cfg.symbols}; GPT dim ${cfg.model.dim}, ${cfg.model.layers} layers, ${cfg.model.heads} heads`);
      const r = await trainToy({ ...cfg, onStep: (s, l, ms) => console.log(`step ${String(s).padStart(4)}  loss ${l.toFixed(4)}  (${ms.toFixed(1)} ms/step)`) });
      const adapter = rt().dev.describe();
      const summary = { task: 'reverse', adapter, params: r.params, steps: cfg.steps, ms_per_step: r.msPerStep, final_loss: r.losses.at(-1)?.loss, accuracy: r.accuracy, losses: r.losses };
      mkdirSync(o.out, { recursive: true });
      const tmp = join(o.out, '.summary.json.tmp');
      writeFileSync(tmp, JSON.stringify(summary, null, 2));
      renameSync(tmp, join(o.out, 'summary.json'));
      console.log(`\nadapter: ${adapter}\nparameters: ${r.params}\n${r.msPerStep.toFixed(1)} ms/step, final loss ${summary.final_loss?.toFixed(4)}, held-out accuracy ${(r.accuracy * 100).toFixed(1)}%`);
      console.log(`report: ${join(o.out, 'summary.json')}`);
      await shutdownEngine();
    });
}
