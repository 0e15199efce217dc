// `container cleanup ID` (hidden): what a detached container's monitor runs once the container
// has exited and exit.json is written. With no daemon, this is how a detached container's
// cgroups and network rules are given back promptly, and how `run -d --rm` removes itself
// (finishContainer removes a --rm container once it records the exit).
import type { Context } from './context.js';
import { getContainer } from '../store/containers.js';
import { readExitFile } from './exitfile.js';
import { finishContainer } from './finish.js';
import { reconcile } from './reconcile.js';

/** How long to wait for the starting CLI to record the container as running (a container can
 *  exit before its `run -d` has written that). */
const STARTING_WAIT_MS = 10_000;

export async function cleanupContainer(ctx: Context, id: string): Promise<void> {
  const db = ctx.db();
  let row = getContainer(db, id);
  for (let waited = 0; row?.state === 'starting' && waited < STARTING_WAIT_MS; waited += 50) {
    await new Promise((r) => setTimeout(r, 50));
    row = getContainer(db, id);
  }
  if (!row) return; // already removed (rm -f won the race)
  const rec = readExitFile(ctx.layout.runContainer(id));
  const live = row.state === 'running' || row.state === 'paused';
  // The row belongs to a newer start (restart raced us): that start owns cgroup and network.
  if (rec && rec.pid !== undefined && live && row.pid !== rec.pid) return;
  if (rec && live) await finishContainer(ctx, row, rec);
  else await reconcile(ctx, row);
}
