// network create/ls/inspect/rm/connect/disconnect/prune and `port`: commander wiring only;
// the work lives in network/.
import type { Command } from 'commander';
import type { GetContext } from '../runtime/context.js';
import { printJson, printTable, ago } from './output.js';
import { confirm } from './prompt.js';

const collect = (v: string, prev: string[]) => [...prev, v];

function parseOpts(values: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const i = v.indexOf('=');
    out[i < 0 ? v : v.slice(0, i)] = i < 0 ? '' : v.slice(i + 1);
  }
  return out;
}

export function registerNetwork(program: Command, ctx: GetContext): void {
  const net = program.command('network').description('manage networks');

  net
    .command('create')
    .description('create a bridge network')
    .argument('<name>')
    .option('-d, --driver <driver>', 'network driver (only bridge)', 'bridge')
    .option('--subnet <cidr>', 'IPv4 subnet, e.g. 10.123.0.0/24 (default: a free 10.89.x.0/24)')
    .option('--gateway <ip>', "the bridge's address (default: the subnet's first address)")
    .option('--internal', 'no traffic to or from outside the network')
    .option('-o, --opt <key=value>', 'driver option: com.docker.network.bridge.name=NAME (repeatable)', collect, [])
    .option('--label <key=value>', 'set a label (repeatable)', collect, [])
    .action(
      async (
        name: string,
        o: { driver: string; subnet?: string; gateway?: string; internal?: boolean; opt: string[]; label: string[] },
      ) => {
        const { createNetwork } = await import('../network/index.js');
        const opts = parseOpts(o.opt);
        const row = await createNetwork(ctx().db(), {
          name,
          driver: o.driver,
          subnet: o.subnet,
          gateway: o.gateway,
          bridgeName: opts['com.docker.network.bridge.name'] ?? opts['bridge.name'],
          internal: Boolean(o.internal),
          labels: parseOpts(o.label),
        });
        process.stdout.write(row.id + '\n');
      },
    );

  net
    .command('ls')
    .alias('list')
    .description('list networks')
    .option('-q, --quiet', 'only ids')
    .option('--no-trunc', 'full ids')
    .option('--format <format>', "'json' for machine-readable output")
    .action(async (o: { quiet?: boolean; trunc: boolean; format?: string }) => {
      const { listNetworks } = await import('../network/index.js');
      const nets = listNetworks(ctx().db());
      const id = (s: string) => (o.trunc ? s.slice(0, 12) : s);
      if (o.format === 'json') return printJson(nets);
      if (o.quiet) return void process.stdout.write(nets.map((n) => id(n.id) + '\n').join(''));
      printTable(
        ['NETWORK ID', 'NAME', 'DRIVER', 'SCOPE', 'SUBNET', 'BRIDGE', 'CONTAINERS', 'CREATED'],
        nets.map((n) => [id(n.id), n.name, n.driver, n.scope, n.subnet, n.bridge, String(n.containers), ago(n.createdAt)]),
      );
    });

  net
    .command('inspect')
    .description('show networks as JSON')
    .argument('<network...>')
    .action(async (refs: string[]) => {
      const { inspectNetwork } = await import('../network/index.js');
      const db = ctx().db();
      printJson(refs.map((r) => inspectNetwork(db, r)));
    });

  net
    .command('rm')
    .alias('remove')
    .description('remove networks (refused while containers use them)')
    .argument('<network...>')
    .action(async (refs: string[]) => {
      const { removeNetwork } = await import('../network/index.js');
      const { toTscError } = await import('../util/errors.js');
      const db = ctx().db();
      let failed: unknown;
      for (const r of refs) {
        try {
          await removeNetwork(db, r);
          process.stdout.write(r + '\n');
        } catch (err) {
          if (refs.length === 1) throw err;
          failed = err;
          process.stderr.write(`tscontainer: ${toTscError(err).message}\n`);
        }
      }
      if (failed) process.exitCode = toTscError(failed).exitCode;
    });

  net
    .command('connect')
    .description('connect a container to a network')
    .argument('<network>')
    .argument('<container>')
    .option('--alias <name>', 'extra name on this network (repeatable)', collect, [])
    .action(async (network: string, container: string, o: { alias: string[] }) => {
      const { connectNetwork } = await import('../network/index.js');
      await connectNetwork(ctx().db(), network, container, { aliases: o.alias });
    });

  net
    .command('disconnect')
    .description('disconnect a container from a network')
    .argument('<network>')
    .argument('<container>')
    .action(async (network: string, container: string) => {
      const { disconnectNetwork } = await import('../network/index.js');
      await disconnectNetwork(ctx().db(), network, container);
    });

  net
    .command('prune')
    .description('remove unused user networks and reclaim leases of removed containers')
    .option('-f, --force', 'do not prompt for confirmation')
    .action(async (opts: { force?: boolean }) => {
      if (!opts.force && !(await confirm('This will remove all custom networks not used by at least one container.'))) return;
      const { pruneNetworks } = await import('../network/index.js');
      const r = await pruneNetworks(ctx().db(), { removeUnused: true });
      if (r.removedNetworks.length > 0) process.stdout.write(`Deleted Networks:\n${r.removedNetworks.join('\n')}\n`);
    });

  program
    .command('port')
    .description("list a container's published ports")
    .argument('<container>')
    .argument('[port]', 'a container port, e.g. 80 or 80/tcp')
    .action(async (container: string, port?: string) => {
      const { containerPorts, formatMapping } = await import('../network/index.js');
      let ports = containerPorts(ctx().db(), container);
      if (port) {
        const [p, proto = 'tcp'] = port.split('/');
        ports = ports.filter((m) => String(m.containerPort) === p && m.proto === proto);
        process.stdout.write(ports.map((m) => `${m.hostIp || '0.0.0.0'}:${m.hostPort}\n`).join(''));
        return;
      }
      process.stdout.write(ports.map((m) => formatMapping(m) + '\n').join(''));
    });
}
