// stop, kill, wait, restart, pause, unpause, rename, logs, inspect, top, stats, and the
// `container prune` / `system prune` commands: commander wiring only; the work lives in runtime/.
import type { Command } from 'commander';
import { confirm } from './prompt.js';
import type { GetContext } from '../runtime/context.js';

export function registerLifecycle(program: Command, ctx: GetContext): void {
  program
    .command('stop')
    .description('stop one or more running containers (stop signal, then SIGKILL after the timeout)')
    .option('-t, --time <seconds>', "seconds to wait before killing (default: the container's --stop-timeout, 10)")
    .argument('<container...>')
    .action(async (names: string[], opts: { time?: string }) => {
      const { stopCommand } = await import('./actions/lifecycle.js');
      process.exitCode = await stopCommand(ctx(), names, opts);
    });

  program
    .command('kill')
    .description('send a signal (default KILL) to one or more running containers')
    .option('-s, --signal <signal>', 'signal to send', 'KILL')
    .argument('<container...>')
    .action(async (names: string[], opts: { signal?: string }) => {
      const { killCommand } = await import('./actions/lifecycle.js');
      process.exitCode = await killCommand(ctx(), names, opts);
    });

  program
    .command('wait')
    .description('block until one or more containers stop, then print their exit codes')
    .argument('<container...>')
    .action(async (names: string[]) => {
      const { waitCommand } = await import('./actions/lifecycle.js');
      process.exitCode = await waitCommand(ctx(), names);
    });

  program
    .command('restart')
    .description('restart one or more containers')
    .option('-t, --time <seconds>', 'seconds to wait for stop before killing')
    .argument('<container...>')
    .action(async (names: string[], opts: { time?: string }) => {
      const { restartCommand } = await import('./actions/lifecycle.js');
      process.exitCode = await restartCommand(ctx(), names, opts);
    });

  program
    .command('pause')
    .description('suspend every process in one or more containers (cgroup freezer)')
    .argument('<container...>')
    .action(async (names: string[]) => {
      const { pauseCommand } = await import('./actions/lifecycle.js');
      process.exitCode = await pauseCommand(ctx(), names);
    });

  program
    .command('unpause')
    .description('resume every process in one or more paused containers')
    .argument('<container...>')
    .action(async (names: string[]) => {
      const { unpauseCommand } = await import('./actions/lifecycle.js');
      process.exitCode = await unpauseCommand(ctx(), names);
    });

  program
    .command('rename')
    .description('rename a container')
    .argument('<container>')
    .argument('<new-name>')
    .action(async (oldName: string, newName: string) => {
      const { renameCommand } = await import('./actions/lifecycle.js');
      renameCommand(ctx(), oldName, newName);
    });

  program
    .command('logs')
    .description("fetch a container's logs")
    .option('-f, --follow', 'follow the log output until the container exits')
    .option('-n, --tail <lines>', 'number of lines to show from the end ("all")', 'all')
    .option('-t, --timestamps', 'show timestamps')
    .option('--since <time>', 'only lines since a time (2026-11-21T13:23:37Z) or a relative duration (42m)')
    .option('--until <time>', 'only lines before a time or a relative duration')
    .argument('<container>')
    .action(
      async (name: string, opts: { follow?: boolean; tail?: string; timestamps?: boolean; since?: string; until?: string }) => {
        const { logsCommand } = await import('./actions/lifecycle.js');
        await logsCommand(ctx(), name, opts);
      },
    );

  program
    .command('inspect')
    .description('show detailed information on containers (or images)')
    .option('-f, --format <template>', "Go-style template such as '{{.State.Status}}' or '{{json .State}}'")
    .option('--type <type>', 'container or image')
    .argument('<name...>')
    .action(async (names: string[], opts: { format?: string; type?: string }) => {
      const { inspectCommand } = await import('./actions/lifecycle.js');
      process.exitCode = await inspectCommand(ctx(), names, opts);
    });

  program
    .command('top')
    .description('show the running processes of a container (ps options may follow, default -ef)')
    .argument('<container>')
    .argument('[ps-options...]')
    .allowUnknownOption()
    .passThroughOptions()
    .helpOption('--help', 'display help for the command')
    .action(async (name: string, psArgs: string[]) => {
      const { topCommand } = await import('./actions/lifecycle.js');
      await topCommand(ctx(), name, psArgs);
    });

  program
    .command('stats')
    .description('live resource usage of containers (from their cgroups)')
    .option('-a, --all', 'show all containers (default: running only)')
    .option('--no-stream', 'print one sample and exit')
    .option('--format <format>', "'json' for one JSON object per line, or a Go-style template")
    .argument('[container...]')
    .action(async (names: string[], opts: { stream: boolean; format?: string; all?: boolean }) => {
      const { statsCommand } = await import('./actions/lifecycle.js');
      await statsCommand(ctx(), names, opts);
    });

  const container = program.command('container').description('manage containers');
  container
    .command('prune')
    .description('remove all stopped (exited or created) containers')
    .option('-f, --force', 'do not prompt for confirmation')
    .action(async (opts: { force?: boolean }) => {
      if (!opts.force && !(await confirm('This will remove all stopped containers.'))) return;
      const { containerPruneCommand } = await import('./actions/lifecycle.js');
      await containerPruneCommand(ctx());
    });

  const system = program.command('system').description('manage tscontainer');
  system
    .command('prune')
    .description('remove stopped containers, unused networks, dangling images and files no record names')
    .option('-a, --all', 'remove every image no container uses, not just dangling ones')
    .option('-f, --force', 'do not prompt for confirmation')
    .action(async (opts: { all?: boolean; force?: boolean }) => {
      const what = opts.all ? 'all images without at least one container associated to them' : 'all dangling images';
      const warning = `This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n  - ${what}\n  - files in the state root that no record names`;
      if (!opts.force && !(await confirm(warning))) return;
      const { systemPruneCommand } = await import('./actions/lifecycle.js');
      await systemPruneCommand(ctx(), opts);
    });
}
