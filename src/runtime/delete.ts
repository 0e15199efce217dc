// Removing a stopped container: the row goes first, then the disk (layers, container and run
// directories), so a crash in between leaves only garbage that prune finds, never a row that
// points at nothing.
import { rmSync } from 'node:fs';
import type { Context } from './context.js';
import { deleteContainer, getContainer, type ContainerRow } from '../store/containers.js';
import { writeTx } from '../store/db.js';
import { ConflictError, EXIT_MANAGEMENT } from '../util/errors.js';
import { log } from '../util/log.js';
import { mark } from '../util/trace.js';
import { openGraph } from './graph.js';
import { releaseNetwork } from './network.js';

/** Deletes the row, then everything on disk. Only a created or exited container is removed;
 *  the check and the delete are one transaction, so a container another CLI has just started
 *  (or is stopping) is never removed under it. A row that is already gone is not an error. */
export async function removeStopped(ctx: Context, row: ContainerRow): Promise<void> {
  const db = ctx.db();
  const existed = writeTx(db, () => {
    const cur = getContainer(db, row.id);
    if (!cur) return false;
    if (cur.state !== 'created' && cur.state !== 'exited') {
      throw new ConflictError(`cannot remove container "${cur.name}": it is ${cur.state}`, EXIT_MANAGEMENT);
    }
    deleteContainer(db, row.id);
    return true;
  });
  if (!existed) return;
  await removeContainerFiles(ctx, row);
}

/** Everything on disk of a container whose row is already gone: its network leftovers, its
 *  layers, its container and run directories. */
export async function removeContainerFiles(ctx: Context, row: ContainerRow): Promise<void> {
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
