// `container cleanup ID` (hidden): what a detached container's monitor runs once the container
// has exited and exit.json is written. With no daemon, this is how a detached container's
// cgroups and network rules are given back promptly, and how `run -d --rm` removes itself.
import type { Context } from '../cli/context.js';
import { getContainer } from '../store/containers.js';
import type { ContainerConfig } from './config.js';
import { readExitFile } from './exitfile.js';
import { finishContainer } from './finish.js';
import { reconcile } from './reconcile.js';
import { removeStopped } from './remove.js';

export async function cleanupContainer(ctx: Context, id: string): Promise<void> {
  const row = getContainer(ctx.db(), id);
  if (!row) return; // already removed (rm -f won the race)
  const rec = readExitFile(ctx.layout.runContainer(id));
  let cur = row;
  const live = row.state === 'running' || row.state === 'paused';
  if (rec && rec.pid !== undefined && live && row.pid !== rec.pid) {
    // The row belongs to a newer start (restart raced us): that start owns cgroup and network.
    return;
  }
  if (rec && live) cur = await finishContainer(ctx, row, rec);
  else cur = await reconcile(ctx, row);
  const config = JSON.parse(cur.config) as ContainerConfig;
  if (config.autoRemove && cur.state === 'exited') await removeStopped(ctx, cur);
}
