// The container commands' actions: call the runtime, print what docker prints.
import type { Context } from '../context.js';
import { createContainer } from '../../runtime/create.js';
import { prepareCreate } from '../../runtime/prepare.js';
import { startAttached, startDetached } from '../../runtime/run.js';
import { findContainer } from '../../runtime/lookup.js';
import { removeContainer, removeStopped } from '../../runtime/remove.js';
import { reconcileAll } from '../../runtime/reconcile.js';
import { getContainer, listContainers, type ContainerRow } from '../../store/containers.js';
import { toTscError, ConflictError, EXIT_MANAGEMENT } from '../../util/errors.js';
import type { RunFlags } from '../../runtime/options.js';
import type { ContainerConfig } from '../../runtime/config.js';
import { ago, printTable } from '../output.js';
import { mark } from '../../util/trace.js';

export async function runCommand(ctx: Context, image: string, command: string[], flags: RunFlags): Promise<number> {
  mark('run action');
  const req = await prepareCreate(ctx, image, command, flags);
  mark('image resolved, flags checked');
  const row = await createContainer(ctx, req);
  mark('container created');
  try {
    if (flags.detach) {
      await startDetached(ctx, row);
      process.stdout.write(row.id + '\n');
      return 0;
    }
    return await startAttached(ctx, row, { stdin: Boolean(flags.interactive), autoRemove: Boolean(flags.rm) });
  } catch (err) {
    // A failed `run` removes what it made (a port conflict, a command that is not found): the
    // start has already given back its cgroup, network and monitor; the container goes too.
    // `create` + `start` keep the created container, as docker does.
    await removeStopped(ctx, getContainer(ctx.db(), row.id) ?? row);
    throw err;
  }
}

export async function createCommand(ctx: Context, image: string, command: string[], flags: RunFlags): Promise<void> {
  const req = await prepareCreate(ctx, image, command, flags);
  const row = await createContainer(ctx, req);
  process.stdout.write(row.id + '\n');
}

export async function startCommand(
  ctx: Context,
  names: string[],
  opts: { attach?: boolean; interactive?: boolean },
): Promise<number> {
  if (opts.attach && names.length > 1) {
    throw new ConflictError('you cannot start and attach multiple containers at once', EXIT_MANAGEMENT);
  }
  let failed = 0;
  for (const n of names) {
    try {
      const row = findContainer(ctx.db(), n);
      const [cur] = await reconcileAll(ctx, [row]);
      if (cur!.state === 'running' || cur!.state === 'paused') {
        if (!opts.attach) process.stdout.write(n + '\n');
        continue;
      }
      if (opts.attach) {
        const cfg = JSON.parse(cur!.config) as ContainerConfig;
        return await startAttached(ctx, cur!, { stdin: Boolean(opts.interactive), autoRemove: cfg.autoRemove });
      }
      await startDetached(ctx, cur!);
      process.stdout.write(n + '\n');
    } catch (err) {
      if (names.length === 1) throw err;
      process.stderr.write(`tscontainer: ${toTscError(err).message}\n`);
      failed = 1;
    }
  }
  return failed;
}

export async function rmCommand(ctx: Context, names: string[], force: boolean): Promise<number> {
  let failed = 0;
  for (const n of names) {
    try {
      const row = findContainer(ctx.db(), n);
      await removeContainer(ctx, row, { force });
      process.stdout.write(n + '\n');
    } catch (err) {
      process.stderr.write(`tscontainer: ${toTscError(err).message}\n`);
      failed = toTscError(err).exitCode === EXIT_MANAGEMENT ? EXIT_MANAGEMENT : failed || toTscError(err).exitCode;
    }
  }
  return failed;
}

function statusText(r: ContainerRow): string {
  switch (r.state) {
    case 'running':
      return `Up ${ago(r.started_at).replace(/ ago$/, '')}`;
    case 'paused':
      return `Up ${ago(r.started_at).replace(/ ago$/, '')} (Paused)`;
    case 'exited':
      return `Exited (${r.exit_code ?? 0}) ${ago(r.finished_at)}`;
    case 'created':
      return 'Created';
    default:
      return r.state;
  }
}

function commandText(r: ContainerRow, trunc: boolean): string {
  const args = (JSON.parse(r.config) as ContainerConfig).args.join(' ');
  const s = trunc && args.length > 20 ? `${args.slice(0, 19)}…` : args;
  return `"${s}"`;
}

export async function psCommand(
  ctx: Context,
  opts: { all?: boolean; quiet?: boolean; trunc: boolean; format?: string },
): Promise<void> {
  const db = ctx.db();
  // Reconcile every row that claims to run, then list what the caller asked for.
  await reconcileAll(ctx, listContainers(db, { all: false }));
  const rows = listContainers(db, { all: Boolean(opts.all) });
  if (opts.quiet) {
    process.stdout.write(rows.map((r) => (opts.trunc ? r.id.slice(0, 12) : r.id) + '\n').join(''));
    return;
  }
  if (opts.format === 'json') {
    for (const r of rows) {
      process.stdout.write(
        JSON.stringify({
          ID: r.id,
          Names: r.name,
          Image: r.image_ref,
          Command: (JSON.parse(r.config) as ContainerConfig).args.join(' '),
          CreatedAt: r.created_at,
          State: r.state,
          Status: statusText(r),
          ExitCode: r.exit_code,
          OOMKilled: r.oom_killed === 1,
        }) + '\n',
      );
    }
    return;
  }
  printTable(
    ['CONTAINER ID', 'IMAGE', 'COMMAND', 'CREATED', 'STATUS', 'NAMES'],
    rows.map((r) => [
      opts.trunc ? r.id.slice(0, 12) : r.id,
      r.image_ref,
      commandText(r, opts.trunc),
      ago(r.created_at),
      statusText(r),
      r.name,
    ]),
  );
}
