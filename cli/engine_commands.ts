// `ivt device`: the adapter, its features and limits.
import { Command } from 'commander';
import { getDevice, shutdownDevice } from '../engine/device.js';

export function registerEngineCommands(program: Command): void {
  program
    .command('device')
    .description('print the WebGPU adapter, its features and limits')
    .option('--backend <name>', 'Dawn backend (vulkan, opengles, ...); also IVT_BACKEND')
    .option('--json', 'print JSON')
    .action(async (o: { backend?: string; json?: boolean }) => {
      if (o.backend) process.env.IVT_BACKEND = o.backend;
      const dev = await getDevice();
      const limits: Record<string, number> = {};
      for (const k in dev.limits) {
        const v = (dev.limits as unknown as Record<string, unknown>)[k];
        if (typeof v === 'number') limits[k] = v;
      }
      // Which kernel family runs here (engine/ops/matmul_kernels.ts, engine/ops/attention.ts).
      const kernels = dev.subgroupBroadcastKernels ? 'subgroup-broadcast (CPU adapter with 8-lane subgroups)' : 'workgroup-tiled matmul, one-row attention (GPU)';
      const info = { adapter: dev.describe(), backend: dev.backend, cpu: dev.isCpu, kernels, features: [...dev.features].sort(), limits };
      if (o.json) console.log(JSON.stringify(info, null, 2));
      else {
        console.log(`adapter:  ${info.adapter}`);
        console.log(`backend:  ${info.backend}`);
        console.log(`kernels:  ${info.kernels}`);
        console.log(`features: ${info.features.join(', ')}`);
        console.log('limits:');
        for (const [k, v] of Object.entries(limits)) console.log(`  ${k.padEnd(44)} ${v}`);
      }
      shutdownDevice();
    });
}
