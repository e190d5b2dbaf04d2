// `ivt bench ...`: benchmarks (not tests). Each writes JSON (--json) and a markdown table.
import { Command, Option } from 'commander';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { runKernelBench, markdownTable } from '../bench/kernels.js';
import { shutdownEngine } from '../engine/tensor.js';
import { runLatencyBench, latencyMarkdown } from '../bench/latency.js';
import { runTrainBench, trainBenchMarkdown } from '../bench/train_bench.js';
import { loadRun, intArg, floatArg } from './train_commands.js';
import { PRESET_NAMES } from '../model/config.js';
import { SPLITS } from '../train/data/index.js';
import { readJsonObject } from '../train/trainer.js';

import { writeFileAtomic as writeAtomic } from '../engine/atomic_file.js';

export function registerBenchCommands(program: Command): void {
  const bench = program.command('bench').description('benchmarks: kernels against the measured peak and TensorFlow.js');
  bench
    .command('kernels')
    .description('time the hot kernels; FMA peak and TensorFlow.js WebGPU measured in the same run')
    .option('--json <file>', 'write the JSON report here')
    .option('--md <file>', 'write the markdown table here')
    .option('--no-peer', 'skip TensorFlow.js')
    .option('--quick', 'smaller shapes only (a smoke run)')
    .action(async (o: { json?: string; md?: string; peer: boolean; quick?: boolean }) => {
      const report = await runKernelBench({ peer: o.peer, quick: o.quick });
      const md = markdownTable(report);
      console.log('\n' + md);
      if (o.json) writeAtomic(o.json, JSON.stringify(report, null, 2) + '\n');
      if (o.md) writeAtomic(o.md, md + '\n');
      await shutdownEngine();
    });

  bench
    .command('latency')
    .description('explicit CoT vs IVT-LR (and IVT-LR without the KV cache): accuracy, forward passes, ms per question')
    .requiredOption('--run <dir>', 'a curriculum run folder (stage-0 and final checkpoints)')
    .requiredOption('--data <dir>', 'dataset folder')
    .addOption(new Option('--split <name>', 'split').choices([...SPLITS]).default('test'))
    .option('--batch <n>', 'batch size', intArg('batch', 1), 32)
    .option('--limit <n>', 'at most n problems (0: all)', intArg('limit'), 0)
    .option('--json <file>', 'write the JSON report here')
    .option('--md <file>', 'write the markdown table here')
    .action(async (o) => {
      const cot = stage0Source(o.run);
      if (cot !== o.run) console.log(`explicit CoT: the stage-0 weights of ${cot}, which ${o.run} branched off`);
      const report = await runLatencyBench({
        run: o.run, data: o.data, split: o.split, batch: o.batch, limit: o.limit,
        load: async (tag?: string) => {
          const { model, tok, cfg } = await loadRun(tag === 'stage-0' ? cot : o.run, tag);
          return { model, tok, latentSteps: cfg.latentSteps };
        },
      });
      if (cot !== o.run) report.cot_run = cot;
      const md = latencyMarkdown(report);
      console.log('\n' + md);
      if (o.json) writeAtomic(o.json, JSON.stringify(report, null, 2) + '\n');
      if (o.md) writeAtomic(o.md, md + '\n');
      await shutdownEngine();
    });

  bench
    .command('train')
    .description('training-step time of the IVT-LR model: this engine vs the same model in TensorFlow.js, same weights and batches')
    .requiredOption('--data <dir>', 'dataset folder (e.g. from `ivt data synth`)')
    .addOption(new Option('--preset <name>', 'model preset (the series in bench/RESULTS.md uses medium)').choices([...PRESET_NAMES]).default('medium'))
    .option('--batch <n>', 'batch size', intArg('batch', 1), 16)
    .option('--steps <n>', 'steps', intArg('steps', 2), 6)
    .option('--lr <x>', 'learning rate', floatArg('lr', 0, true), 1e-3)
    .option('--no-peer', 'skip TensorFlow.js')
    .option('--json <file>', 'write the JSON report here')
    .option('--md <file>', 'write the markdown table here')
    .action(async (o) => {
      const report = await runTrainBench({ data: o.data, preset: o.preset, batch: o.batch, steps: o.steps, lr: o.lr, peer: o.peer });
      const md = trainBenchMarkdown(report);
      console.log('\n' + md);
      if (o.json) writeAtomic(o.json, JSON.stringify(report, null, 2) + '\n');
      if (o.md) writeAtomic(o.md, md + '\n');
      await shutdownEngine();
    });
}

/**
 * Where a run's explicit-CoT (stage-0) weights are: its own stage-0 checkpoint, or, for a run
 * that branched off another run's stage 0 (--init-from RUN --init-tag stage-0), that run's.
 */
export function stage0Source(run: string): string {
  if (existsSync(join(run, 'checkpoints', 'stage-0'))) return run;
  const file = join(run, 'options.json');
  const opts = existsSync(file) ? readJsonObject(file) : {};
  return typeof opts.initFrom === 'string' && opts.initTag === 'stage-0' ? opts.initFrom : run;
}
