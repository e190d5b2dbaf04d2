// The `ivt` command. Thin: parses flags and hands off to engine/, train/, bench/, model/.
// A user's mistake (bad flag, missing file, malformed data) prints one clear line and exits
// non-zero without a stack trace (exit 2). A run stopped by the GPU (device loss, GPU error) or
// by diverged numerics is not a bug either: one line, exit 1. Anything else is a bug and keeps
// its stack.
import { Command, CommanderError } from 'commander';
import { registerDataCommands } from '../train/data/cli.js';
import { registerEngineCommands } from './engine_commands.js';
import { registerDemoCommands } from './demo_commands.js';
import { registerBenchCommands } from './bench_commands.js';
import { registerTrainCommands } from './train_commands.js';
import { GpuError, UserError } from '../engine/errors.js';
import { TrainingAborted } from '../train/trainer.js';

const program = new Command();
// Commander's own flag errors (unknown flag, missing value, a value outside its choices) are the
// user's mistakes too: the same one line, status 2, instead of its "error: ..." and a usage dump.
// Subcommands made below inherit these settings.
program.name('ivt').description('WebGPU tensor engine and IVT-LR latent multimodal reasoning')
  .exitOverride()
  .configureOutput({ outputError: (str, write) => write(`ivt: ${str.replace(/^error: /, '').trim().replace(/\s*\n\s*/g, ' ')} (--help lists the flags)\n`) });
registerEngineCommands(program);
registerDataCommands(program);
registerDemoCommands(program);
registerTrainCommands(program);
registerBenchCommands(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // Help and version requests end here too (exit 0); the error line is already printed.
    process.exitCode = err.exitCode === 0 ? 0 : 2;
  } else if (err instanceof UserError) {
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
