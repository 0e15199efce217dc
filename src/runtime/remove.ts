// `rm`: refuses a running container unless forced; a forced one is killed first, then removed
// as a stopped one (delete.ts).
import type { Context } from './context.js';
import type { ContainerRow } from '../store/containers.js';
import { ConflictError, EXIT_MANAGEMENT } from '../util/errors.js';
import { removeStopped } from './delete.js';
import { killContainer, waitForExit } from './kill.js';
import { reconcile } from './reconcile.js';
import { containerCgroup } from './cgroup.js';

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
      const cg = containerCgroup(cur);
      if (cg.exists()) cg.thaw();
    }
    cur = await waitForExit(ctx, cur, 10_000);
  }
  await removeStopped(ctx, cur);
}
