// exec, attach, and the hidden `container cleanup` the monitor runs when a detached container
// exits: commander wiring only; the work lives in runtime/.
import type { Command } from 'commander';
import type { GetContext } from '../runtime/context.js';
import type { ExecFlags } from '../runtime/exec.js';

const collect = (v: string, prev: string[]) => [...prev, v];

export function registerInteractive(program: Command, ctx: GetContext): void {
  program
    .command('exec')
    .description('run a command in a running container')
    .helpOption('--help', 'display help for the command')
    .option('-i, --interactive', 'keep stdin open')
    .option('-t, --tty', 'allocate a pseudo-terminal')
    .option('-d, --detach', 'run the command in the background')
    .option('-e, --env <KEY=VALUE>', 'set an environment variable (repeatable)', collect, [])
    .option('--env-file <file>', 'read environment variables from a file (repeatable)', collect, [])
    .option('-u, --user <user[:group]>', 'user to run as (name or id, resolved in the container)')
    .option('-w, --workdir <dir>', 'working directory inside the container')
    .argument('<container>')
    .argument('<command...>')
    .passThroughOptions()
    .action(async (name: string, command: string[], flags: ExecFlags) => {
      const { execInContainer } = await import('../runtime/exec.js');
      process.exitCode = await execInContainer(ctx(), name, command, flags);
    });

  program
    .command('attach')
    .description("attach the terminal's input and output to a running container (detach: Ctrl-P Ctrl-Q)")
    .option('--no-stdin', 'do not attach stdin')
    .option('--detach-keys <keys>', 'key sequence to detach (default ctrl-p,ctrl-q)')
    .option('--sig-proxy', 'accepted for docker compatibility (signals reach the container through the terminal)')
    .argument('<container>')
    .action(async (name: string, opts: { stdin: boolean; detachKeys?: string }) => {
      const { attachContainer } = await import('../runtime/attach.js');
      process.exitCode = await attachContainer(ctx(), name, opts);
    });

  // `container` is made by the lifecycle group (prune); add to it, or make it.
  const container =
    program.commands.find((c) => c.name() === 'container') ?? program.command('container').description('manage containers');
  container
    .command('cleanup', { hidden: true })
    .description("record a detached container's exit and give back its resources (run by its monitor)")
    .argument('<id>')
    .action(async (id: string) => {
      const { cleanupContainer } = await import('../runtime/cleanup.js');
      await cleanupContainer(ctx(), id);
    });
}
