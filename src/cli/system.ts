// version, info, system prune.
import type { Command } from 'commander';
import type { GetContext } from '../runtime/context.js';

export function registerSystem(program: Command, ctx: GetContext): void {
  program
    .command('version')
    .description('show the tscontainer version and what it runs on')
    .option('--format <format>', "'json' for machine-readable output")
    .action(async (opts: { format?: string }) => {
      const { versionInfo } = await import('../runtime/info.js');
      const v = versionInfo();
      if (opts.format === 'json') process.stdout.write(JSON.stringify(v, null, 2) + '\n');
      else for (const [k, val] of Object.entries(v)) process.stdout.write(`${k.padEnd(16)}${val}\n`);
    });

  program
    .command('info')
    .description('show the state root, storage driver, cgroup layout and counts')
    .option('--format <format>', "'json' for machine-readable output")
    .action(async (opts: { format?: string }) => {
      const { systemInfo } = await import('../runtime/info.js');
      const info = await systemInfo(ctx());
      if (opts.format === 'json') process.stdout.write(JSON.stringify(info, null, 2) + '\n');
      else process.stdout.write(formatInfo(info) + '\n');
    });
}

function formatInfo(info: Record<string, unknown>, indent = ''): string {
  return Object.entries(info)
    .map(([k, v]) =>
      v !== null && typeof v === 'object' && !Array.isArray(v)
        ? `${indent}${k}:\n${formatInfo(v as Record<string, unknown>, indent + '  ')}`
        : `${indent}${k}: ${Array.isArray(v) ? v.join(', ') : String(v)}`,
    )
    .join('\n');
}
