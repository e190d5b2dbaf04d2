// `ivt demo` (the README's main job: IVT-LR end to end) and `ivt toy` (the engine alone:
// a small transformer learns to reverse sequences).
import { Command, Option } from 'commander';
import { join } from 'node:path';
import { shutdownEngine, rt } from '../engine/tensor.js';
import { trainToy } from '../train/toy.js';
import { DEMO_MAX_EPOCHS, DEMO_MAX_EPOCHS0, DEMO_MIN_STEPS, DEMO_MIX_STAGES, DEMO_QUERIES, DEMO_SETTLE_EPOCHS, DEMO_START_BY, DEMO_WORDING, runDemo, type DemoOptions } from '../train/demo.js';
import { intArg, floatArg, intListArg, probabilityArg } from './train_commands.js';
import { runDemoSeeds } from '../train/seeds.js';
import { UserError } from '../engine/errors.js';
import { writeFileAtomic } from '../engine/atomic_file.js';
import { EXTEND_PATIENCE, EXTEND_TOLERANCE } from '../train/trainer.js';
import { PRESET_NAMES } from '../model/config.js';
import { resolveSynthOptions, type StartBy, type Wording } from '../train/data/synth/spec.js';
import { parseQueries } from '../train/data/cli.js';

export function registerDemoCommands(program: Command): void {
  program
    .command('demo')
    .description('IVT-LR end to end: synthetic data, curriculum, baselines, ablations, evaluation, latency, report')
    .option('--out <dir>', 'output folder (data, runs, report)', 'out/demo')
    .addOption(new Option('--preset <name>', 'model preset').choices([...PRESET_NAMES]).default('small'))
    .option('--train <n>', 'training problems', intArg('train', 1), 2400)
    .option('--val <n>', 'validation problems', intArg('val', 1), 100)
    .option('--test <n>', 'test problems (2000: a point is 20 problems, so stage-to-stage differences of a point are measured, not guessed)', intArg('test', 1), 2000)
    .option('--epochs0 <n>', 'epochs of stage 0 (explicit CoT; with captions each epoch is twice as many steps)', intArg('epochs0', 1), 9)
    .option('--epochs <n>', 'epochs per latent stage', intArg('epochs', 1), 2)
    .option('--max-epochs0 <n>', `stage 0 may go on up to n epochs until its best validation accuracy is ${EXTEND_PATIENCE} epochs old (--epochs0 for a fixed length)`, intArg('max-epochs0', 1), DEMO_MAX_EPOCHS0)
    .option('--max-epochs <n>', `a latent stage may go on up to n epochs while its validation accuracy is more than ${EXTEND_TOLERANCE} point${EXTEND_TOLERANCE === 1 ? '' : 's'} below the best stage before it (--epochs for a fixed length)`, intArg('max-epochs', 1), DEMO_MAX_EPOCHS)
    .option('--batch <n>', 'batch size', intArg('batch', 1), 32)
    .option('--lr <x>', 'learning rate of stage 0 and the no-CoT baseline', floatArg('lr', 0, true), 3e-3)
    .option('--latent-lr <x>', 'learning rate of the latent stages (full model and ablations)', floatArg('latent-lr', 0, true), 1e-3)
    .option('--mix-stages <p>', 'stage mixing: each latent-stage batch is trained with probability p at an earlier stage, so the final weights also work with fewer latent steps (0: off)', probabilityArg('mix-stages'), DEMO_MIX_STAGES)
    .option('--settle-epochs <n>', 'each latent stage ends with n epochs at a quarter of the latent rate, then a last validation check (0: off)', intArg('settle-epochs', 0), DEMO_SETTLE_EPOCHS)
    .option('--keep-optimizer', 'carry AdamW\'s moments across stages (the reference code) instead of resetting them at each stage', false)
    .option('--seed <n>', 'seed', intArg('seed'), 1)
    .option('--seeds <list>', 'the demo once per seed (e.g. 1,2,3) into OUT/seed-N, then OUT/seeds.md: every mode\'s accuracy by seed with mean, lowest and highest, and the bars by seed (a seed already run with the same options is read, not rerun)', intListArg('seeds'))
    .option('--no-ablations', 'skip the ablation runs (without latent text, without latent vision, random latent vision, curricula of 1 and 2 latent stages)')
    .option('--start-by <how>', 'questions start at a cell ("Start at cell ten.") or at an object ("Start at the red circle.")', DEMO_START_BY)
    .option('--queries <list>', 'question kinds, comma separated: colour,shape,count', DEMO_QUERIES.join(','))
    .option('--wording <how>', 'rationale steps: cell-value (cell-first moves, then "green is the colour."), cell-first ("nine red square is one cell left.") or classic ("One cell left is nine red square.")', DEMO_WORDING)
    .option('--min-steps <n>', 'shortest reasoning chain in the data: problems have min-steps..3 steps, each length equally often (3: every problem has 3)', intArg('min-steps', 1), DEMO_MIN_STEPS)
    .option('--no-grounding', 'train without the alignment objective and the stage-0 captions')
    .action(async (o, cmd: Command) => {
      if (o.seeds && cmd.getOptionValueSource('seed') === 'cli') throw new UserError('--seed and --seeds: give one of them');
      // Checked here, before any work, by the data generator's own rules (the demo may reuse data).
      const synth = resolveSynthOptions({ startBy: o.startBy as StartBy, queries: parseQueries(o.queries), wording: o.wording as Wording, minSteps: o.minSteps, train: o.train, val: o.val, test: o.test, seed: o.seed });
      for (const seed of o.seeds ?? []) resolveSynthOptions({ ...synth, seed });
      const demo: DemoOptions = { out: o.out, preset: o.preset, train: o.train, val: o.val, test: o.test, epochs0: o.epochs0, epochs: o.epochs, maxEpochs0: o.maxEpochs0, maxEpochs: o.maxEpochs, batch: o.batch, lr: o.lr, latentLr: o.latentLr, resetOptimizer: !o.keepOptimizer, seed: o.seed, ablations: o.ablations, grounding: o.grounding, startBy: synth.startBy, queries: synth.queries, wording: synth.wording, minSteps: synth.minSteps, mixStages: o.mixStages, settleEpochs: o.settleEpochs, log: (s) => console.log(s) };
      if (o.seeds) {
        const r = await runDemoSeeds(demo, o.seeds);
        console.log(`\n${r.markdown}\nsummary: ${r.summaryPath}`);
      } else {
        const r = await runDemo(demo);
        console.log(`\n${r.summary}\n\nreport: ${r.reportPath}`);
      }
      await shutdownEngine();
    });

  program
    .command('toy')
    .description('the engine alone: train a small transformer to reverse sequences')
    .option('--out <dir>', 'report folder', 'out/toy')
    .option('--steps <n>', 'training steps', intArg('steps', 1), 400)
    .action(async (o: { out: string; steps: number }) => {
      const cfg = { symbols: 8, length: 6, batch: 32, steps: o.steps, lr: 3e-3, seed: 1, logEvery: 25, model: { dim: 48, heads: 4, layers: 2, seed: 2 } };
      console.log(`toy task: reverse ${cfg.length} symbols from an alphabet of ${cfg.symbols}; GPT dim ${cfg.model.dim}, ${cfg.model.layers} layers, ${cfg.model.heads} heads`);
      const r = await trainToy({ ...cfg, onStep: (s, l, ms) => console.log(`step ${String(s).padStart(4)}  loss ${l.toFixed(4)}  (${ms.toFixed(1)} ms/step)`) });
      const adapter = rt().dev.describe();
      const summary = { task: 'reverse', adapter, params: r.params, steps: cfg.steps, ms_per_step: r.msPerStep, final_loss: r.losses.at(-1)?.loss, accuracy: r.accuracy, losses: r.losses };
      writeFileAtomic(join(o.out, 'summary.json'), JSON.stringify(summary, null, 2));
      console.log(`\nadapter: ${adapter}\nparameters: ${r.params}\n${r.msPerStep.toFixed(1)} ms/step, final loss ${summary.final_loss?.toFixed(4)}, held-out accuracy ${(r.accuracy * 100).toFixed(1)}%`);
      await shutdownEngine();
    });
}
