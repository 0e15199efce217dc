// What happens once a container's process has exited, whoever notices first (the attached CLI,
// or a later command reconciling): the exit is recorded, cgroups and network are given back.
import type { Context } from '../cli/context.js';
import { openContainerCgroup, detectCgroups } from '../cgroups/index.js';
import { getContainer, markExited, type ContainerRow } from '../store/containers.js';
import { writeTx } from '../store/db.js';
import { log } from '../util/log.js';
import type { ExitRecord } from './exitfile.js';
import { detachNetwork } from './network.js';
import { cgroupParent } from './start.js';

export async function finishContainer(
  ctx: Context,
  row: ContainerRow,
  rec: ExitRecord,
  error: string | null = null,
): Promise<ContainerRow> {
  try {
    await openContainerCgroup(detectCgroups(), row.id, cgroupParent()).remove();
  } catch (err) {
    log('warn', 'removing the cgroup of an exited container', { id: row.id, err: String(err) });
  }
  try {
    await detachNetwork(ctx, row.id);
  } catch (err) {
    log('warn', 'releasing the network of an exited container', { id: row.id, err: String(err) });
  }
  const db = ctx.db();
  writeTx(db, () => {
    const cur = getContainer(db, row.id);
    // Only the first to notice records the exit; a later start may already be running.
    if (cur && (cur.state === 'running' || cur.state === 'paused') && cur.pid === row.pid) {
      markExited(db, row.id, { exit_code: rec.exitCode, oom_killed: rec.oomKilled, finished_at: rec.finishedAt, error });
    }
  });
  return getContainer(db, row.id) ?? row;
}
