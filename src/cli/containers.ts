// run, create, start, rm, ps: commander wiring only; the work lives in runtime/.
import { Command, Option } from 'commander';
import type { GetContext } from '../runtime/context.js';
import type { RunFlags } from '../runtime/options.js';
import type { PsOptions } from './actions/ps.js';
import { mark } from '../util/trace.js';
import { UsageError } from '../util/errors.js';

const collect = (v: string, prev: string[]) => [...prev, v];

/** The flags `run` and `create` share. */
function addCreateFlags(cmd: Command): Command {
  return cmd
    .helpOption('--help', 'display help for the command')
    .option('--name <name>', 'assign a name to the container')
    .option('-i, --interactive', 'keep stdin open')
    .option('-t, --tty', 'allocate a pseudo-terminal')
    .option('--rm', 'remove the container when it exits')
    .option('-e, --env <KEY=VALUE>', 'set an environment variable (repeatable)', collect, [])
    .option('--env-file <file>', 'read environment variables from a file (repeatable)', collect, [])
    .option('-w, --workdir <dir>', 'working directory inside the container')
    .option('-u, --user <uid[:gid]>', 'user to run as')
    .option('-h, --hostname <name>', 'container host name')
    .option('-v, --volume <src:dst[:ro]>', 'bind mount a host path (repeatable)', collect, [])
    .option('-m, --memory <bytes>', 'memory limit (e.g. 32m, 1g)')
    .option('--memory-swap <bytes>', 'memory plus swap limit; -1 for unlimited swap')
    .option('--cpus <number>', 'number of CPUs (e.g. 0.5)')
    .option('-c, --cpu-shares <shares>', 'relative CPU weight')
    .option('--cpuset-cpus <list>', 'CPUs the container may use (0-1, 0,1)')
    .option('--cpuset-mems <list>', 'memory nodes the container may use')
    .option('--pids-limit <n>', 'maximum number of processes (-1 unlimited)')
    .option('--entrypoint <cmd>', "override the image's entrypoint")
    .addOption(new Option('--network <mode>', 'bridge, none, host, container:<name|id> or a network name').default(undefined))
    .addOption(new Option('--net <mode>', 'alias of --network').hideHelp())
    .option('-p, --publish <[ip:]host:container[/proto]>', 'publish a port (repeatable)', collect, [])
    .option('-P, --publish-all', 'publish every exposed port to a random host port')
    .option('--expose <port>', 'expose a port (repeatable)', collect, [])
    .option('--dns <ip>', 'DNS server (repeatable)', collect, [])
    .option('--dns-search <domain>', 'DNS search domain (repeatable)', collect, [])
    .option('--dns-option <opt>', 'DNS option (repeatable)', collect, [])
    .option('--add-host <host:ip>', 'add a line to /etc/hosts (repeatable)', collect, [])
    .option('--network-alias <name>', 'extra name on a user network (repeatable)', collect, [])
    .option('--read-only', "mount the container's root filesystem read-only")
    .option('--ulimit <name=soft[:hard]>', 'resource limit (repeatable)', collect, [])
    .option('-l, --label <key=value>', 'set a label (repeatable)', collect, [])
    .option('--cap-add <cap>', 'add a Linux capability (repeatable; ALL for every one)', collect, [])
    .option('--cap-drop <cap>', 'drop a Linux capability (repeatable; ALL for every one)', collect, [])
    .option(
      '--security-opt <opt>',
      'security option: no-new-privileges, seccomp=unconfined|PROFILE.json, label=disable, apparmor=unconfined (repeatable)',
      collect,
      [],
    )
    .option('--cgroupns <mode>', 'cgroup namespace: private (the default: its own) or host')
    .option('--privileged', 'every capability, no seccomp filter, every host device, writable /sys')
    .option('--userns <mode>', 'user namespace: host (the default) or auto (root inside, subordinate ids outside)')
    .option('--device <host[:container[:rwm]]>', 'add a host device (repeatable)', collect, [])
    .option('--device-cgroup-rule <rule>', 'allow a device in the devices cgroup, e.g. "c 1:3 rwm" (repeatable)', collect, [])
    .option('--tmpfs <path[:options]>', 'mount a tmpfs, e.g. /run:size=16m,mode=1777 (repeatable)', collect, [])
    .option('--shm-size <bytes>', 'size of /dev/shm (default 64m)')
    .option('--sysctl <key=value>', 'namespaced kernel parameter, e.g. net.ipv4.ip_forward=1 (repeatable)', collect, [])
    .option('--init', 'run an init as pid 1 that reaps zombies and forwards signals')
    .option('--oom-score-adj <n>', "the OOM killer's bias, -1000 to 1000")
    .option('--stop-signal <signal>', 'signal to stop the container')
    .option('--stop-timeout <seconds>', 'seconds to wait before killing on stop')
    .option('--restart <policy>', 'restart policy: only "no" (restart policies are not supported yet)')
    .option('--pull <policy>', 'pull the image first: missing (default), always or never')
    .option('--platform <os/arch[/variant]>', 'the platform to pull from an image index')
    .argument('<image>', 'image reference')
    .argument('[command...]', 'command and arguments')
    .passThroughOptions();
}

type CliRunFlags = RunFlags & { net?: string; restart?: string };

function normalize(flags: CliRunFlags): RunFlags {
  if (flags.restart !== undefined && flags.restart !== 'no') {
    // With no daemon, someone has to outlive the container to restart it: the monitor would have
    // to re-run the process (and redo cgroups and network) itself. That design step is not done.
    throw new UsageError(
      `--restart ${flags.restart}: restart policies need a daemon-less design step (the monitor restarting the container) that is not done yet; only "no" is accepted`,
    );
  }
  if (flags.net !== undefined && flags.network === undefined) flags.network = flags.net;
  return flags;
}

export function registerContainers(program: Command, ctx: GetContext): void {
  addCreateFlags(program.command('run').description('create and start a container'))
    .option('-d, --detach', 'run in the background and print the container id')
    .action(async (image: string, command: string[], flags: CliRunFlags) => {
      mark('flags parsed');
      const { runCommand } = await import('./actions/containers.js');
      process.exitCode = await runCommand(ctx(), image, command, normalize(flags));
    });

  addCreateFlags(program.command('create').description('create a container without starting it')).action(
    async (image: string, command: string[], flags: CliRunFlags) => {
      const { createCommand } = await import('./actions/containers.js');
      await createCommand(ctx(), image, command, normalize(flags));
    },
  );

  program
    .command('start')
    .description('start one or more stopped containers')
    .option('-a, --attach', "attach to the container's output and wait for it")
    .option('-i, --interactive', "attach the container's stdin")
    .argument('<container...>')
    .action(async (names: string[], opts: { attach?: boolean; interactive?: boolean }) => {
      const { startCommand } = await import('./actions/containers.js');
      process.exitCode = await startCommand(ctx(), names, opts);
    });

  program
    .command('rm')
    .description('remove one or more containers')
    .option('-f, --force', 'kill a running container first')
    .argument('<container...>')
    .action(async (names: string[], opts: { force?: boolean }) => {
      const { rmCommand } = await import('./actions/containers.js');
      process.exitCode = await rmCommand(ctx(), names, Boolean(opts.force));
    });

  program
    .command('ps')
    .description('list containers')
    .option('-a, --all', 'show all containers (default: running only)')
    .option('-q, --quiet', 'only ids')
    .option('--no-trunc', 'do not truncate output')
    .option('-n, --last <n>', 'show the n last created containers (all states)')
    .option('-l, --latest', 'show the latest created container (all states)')
    .option('-f, --filter <filter>', 'filter: status=, name=, id=, label=, exited= (repeatable)', collect, [])
    .option('--format <format>', "'json' for one JSON object per line, or a Go-style template")
    .action(async (opts: PsOptions) => {
      const { psCommand } = await import('./actions/ps.js');
      await psCommand(ctx(), opts);
    });
}
