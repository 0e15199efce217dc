// What happens once a container's process has exited, whoever notices first (the attached CLI,
// the monitor's clean-up command, or a later command reconciling). In order, so that a late
// finisher can never hurt a newer start of the same container:
//   1. claim the exit (running|paused with this pid -> exiting) in one transaction: a start
//      cannot claim the container while it is exiting, and a finisher for an older pid stops;
//   2. give back the cgroup (killing any leftover process) and the network rules;
//   3. record the exit (exiting -> exited); a --rm container is then removed.
import type { Context } from './context.js';
import { claimExit, deleteContainer, getContainer, markExited, type ContainerRow } from '../store/containers.js';
import { writeTx } from '../store/db.js';
import { log } from '../util/log.js';
import type { ContainerConfig } from './config.js';
import type { ExitRecord } from './exitfile.js';
import { detachNetwork } from './network.js';
import { removeContainerFiles } from './delete.js';
import { containerCgroup } from './cgroup.js';

export async function finishContainer(
  ctx: Context,
  row: ContainerRow,
  rec: ExitRecord,
  error: string | null = null,
): Promise<ContainerRow> {
  const db = ctx.db();
  if (!writeTx(db, () => claimExit(db, row.id, row.pid))) return getContainer(db, row.id) ?? row;
  try {
    await containerCgroup(row).remove();
  } catch (err) {
    log('warn', 'removing the cgroup of an exited container', { id: row.id, err: String(err) });
  }
  try {
    await detachNetwork(ctx, row.id);
  } catch (err) {
    log('warn', 'releasing the network of an exited container', { id: row.id, err: String(err) });
  }
  // Without a daemon, whoever records the exit of a --rm container removes it: the exit and
  // the row's removal are then one transaction, and the disk goes after it.
  const autoRemove = (JSON.parse(row.config) as ContainerConfig).autoRemove;
  const removed = writeTx(db, () => {
    if (getContainer(db, row.id)?.state !== 'exiting') return false;
    if (autoRemove) {
      deleteContainer(db, row.id);
      return true;
    }
    markExited(db, row.id, { exit_code: rec.exitCode, oom_killed: rec.oomKilled, finished_at: rec.finishedAt, error });
    return false;
  });
  if (removed) {
    await removeContainerFiles(ctx, row);
    return { ...row, state: 'removing', exit_code: rec.exitCode };
  }
  return getContainer(db, row.id) ?? { ...row, state: 'removing' };
}
