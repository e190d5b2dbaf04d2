// The `ivt` command. Thin: parses flags and hands off to engine/, train/, bench/, model/.
// A user's mistake (bad flag, missing file, malformed data) prints one clear line and exits
// non-zero without a stack trace (exit 2). A run stopped by the GPU (device loss, GPU error) or
// by diverged numerics is not a bug either: one line, exit 1. Anything else is a bug and keeps
// its stack.
import { Command } from 'commander';
import { registerDataCommands } from '../train/data/cli.js';
import { registerEngineCommands } from './engine_commands.js';
import { registerDemoCommands } from './demo_commands.js';
import { registerBenchCommands } from './bench_commands.js';
import { registerTrainCommands } from './train_commands.js';
import { GpuError, UserError } from '../engine/errors.js';
import { TrainingAborted } from '../train/trainer.js';

const program = new Command();
program.name('ivt').description('WebGPU tensor engine and IVT-LR latent multimodal reasoning').showHelpAfterError();
registerEngineCommands(program);
registerDataCommands(program);
registerDemoCommands(program);
registerTrainCommands(program);
registerBenchCommands(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof UserError) {
    console.error(`ivt: ${err.message}`);
    process.exitCode = 2;
  } else if (err instanceof TrainingAborted || err instanceof GpuError) {
    console.error(`ivt: ${err.message}`);
    // The device may be lost or busy: exit now rather than wait on it.
    process.exit(1);
  } else {
    throw err;
  }
}
