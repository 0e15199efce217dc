// `rm`: refuses a running container unless forced; a forced one is killed first. The row goes
// first, then the disk (layers, container and run directories), so a crash in between leaves
// only garbage that prune finds, never a row pointing at nothing.
import { rmSync } from 'node:fs';
import type { Context } from '../cli/context.js';
import { deleteContainer, getContainer, setContainerState, type ContainerRow } from '../store/containers.js';
import { writeTx } from '../store/db.js';
import { ConflictError, EXIT_MANAGEMENT } from '../util/errors.js';
import { log } from '../util/log.js';
import { mark } from '../util/trace.js';
import { openGraph } from './graph.js';
import { releaseNetwork } from './network.js';
import { killContainer, waitForExit } from './kill.js';
import { reconcile } from './reconcile.js';
import { detectCgroups, openContainerCgroup } from '../cgroups/index.js';
import { cgroupParent } from './start.js';

export async function removeContainer(ctx: Context, row: ContainerRow, opts: { force: boolean }): Promise<void> {
  let cur = await reconcile(ctx, row);
  if (cur.state === 'running' || cur.state === 'paused') {
    if (!opts.force) {
      throw new ConflictError(
        `cannot remove container "${cur.name}": it is ${cur.state}; stop it first or use rm -f`,
        EXIT_MANAGEMENT,
      );
    }
    killContainer(cur, 'SIGKILL');
    // A frozen (paused) container takes the SIGKILL only once thawed.
    if (cur.state === 'paused') {
      const cg = openContainerCgroup(detectCgroups(), cur.id, cgroupParent());
      if (cg.exists()) cg.thaw();
    }
    cur = await waitForExit(ctx, cur, 10_000);
  }
  await removeStopped(ctx, cur);
}

/** Deletes the row, then everything on disk. The container must not be running. */
export async function removeStopped(ctx: Context, row: ContainerRow): Promise<void> {
  const db = ctx.db();
  const existed = writeTx(db, () => {
    if (!getContainer(db, row.id)) return false;
    setContainerState(db, row.id, 'removing');
    deleteContainer(db, row.id);
    return true;
  });
  if (!existed) return;
  mark('row deleted');
  try {
    await releaseNetwork(ctx, row.id);
  } catch (err) {
    log('warn', 'releasing the network of a removed container', { id: row.id, err: String(err) });
  }
  mark('network released');
  const driver = openGraph(ctx, row.driver);
  for (const layer of [row.rw_layer, row.init_layer]) {
    try {
      await driver.remove(layer);
    } catch (err) {
      log('warn', 'removing a container layer', { id: row.id, layer, err: String(err) });
    }
  }
  mark('layers removed');
  rmSync(ctx.layout.container(row.id), { recursive: true, force: true });
  rmSync(ctx.layout.runContainer(row.id), { recursive: true, force: true });
  mark('directories removed');
  log('debug', 'container removed', { id: row.id });
}
