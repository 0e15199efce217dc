// The container commands' actions: call the runtime, print what docker prints.
import type { Context } from '../../runtime/context.js';
import { createContainer } from '../../runtime/create.js';
import { prepareCreate } from '../../runtime/prepare.js';
import { resolveOrPull } from '../../image/registry/ensure.js';
import { startAttached, startDetached } from '../../runtime/run.js';
import { findContainer, getContainer } from '../../store/containers.js';
import { removeContainer } from '../../runtime/remove.js';
import { removeStopped } from '../../runtime/delete.js';
import { reconcileAll } from '../../runtime/reconcile.js';
import { toTscError, ConflictError, EXIT_MANAGEMENT } from '../../util/errors.js';
import type { RunFlags } from '../../runtime/options.js';
import type { ContainerConfig } from '../../runtime/config.js';
import { mark } from '../../util/trace.js';

export async function runCommand(ctx: Context, image: string, command: string[], flags: RunFlags): Promise<number> {
  mark('run action');
  const req = await prepareCreate((ref) => resolveOrPull(ctx, ref, flags), image, command, flags);
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
    await removeStopped(ctx, getContainer(ctx.db(), row.id) ?? row).catch(() => undefined);
    throw err;
  }
}

export async function createCommand(ctx: Context, image: string, command: string[], flags: RunFlags): Promise<void> {
  const req = await prepareCreate((ref) => resolveOrPull(ctx, ref, flags), image, command, flags);
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
        if (opts.attach) {
          // Already running: docker attaches to it (paused: attach's "unpause it first").
          const { attachContainer } = await import('../../runtime/attach.js');
          return await attachContainer(ctx, cur!.id, { stdin: Boolean(opts.interactive) });
        }
        process.stdout.write(n + '\n');
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
