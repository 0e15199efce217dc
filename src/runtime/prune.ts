// `container prune` and `system prune`. The state model: SQLite rows are the truth; a disk
// object no row names (a container directory, a run directory, a driver layer directory) is
// garbage left by a crash between "disk first" and "row last", and prune removes it. Objects
// younger than a grace period are left alone: a concurrent `create` makes its directories a
// moment before it commits its row.
import { existsSync, lstatSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Context } from './context.js';
import { DRIVER_NAMES } from '../graph/index.js';
import { dirSize, hostUnmount, isMountPoint } from '../graph/fsutil.js';
import { pruneNetworks } from '../network/index.js';
import { allContainerIds, listContainers } from '../store/containers.js';
import { usedCacheIds } from '../store/layers.js';
import { log } from '../util/log.js';
import { openGraph } from './graph.js';
import { reconcileAll } from './reconcile.js';
import { removeStopped } from './delete.js';

export const GARBAGE_GRACE_MS = 60_000;
/** A layer directory gets its row only after its whole tar is extracted, and extraction does not
 *  touch the layer directory's own mtime: give layers an hour, far beyond any import here. */
export const LAYER_GRACE_MS = 60 * 60_000;

export interface ContainerPruneResult {
  deleted: string[];
  reclaimed: number;
}

export async function pruneContainers(ctx: Context): Promise<ContainerPruneResult> {
  const db = ctx.db();
  await reconcileAll(ctx, listContainers(db, { all: false }));
  const out: ContainerPruneResult = { deleted: [], reclaimed: 0 };
  for (const row of listContainers(db, { all: true })) {
    if (row.state !== 'exited' && row.state !== 'created') continue;
    let size = 0;
    try {
      size = openGraph(ctx, row.driver).diffSize(row.rw_layer);
    } catch {
      /* unknown driver or missing layer: count nothing */
    }
    try {
      await removeStopped(ctx, row);
      out.deleted.push(row.id);
      out.reclaimed += size;
    } catch (err) {
      log('warn', 'container prune', { id: row.id, err: String(err) });
    }
  }
  return out;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function olderThan(path: string, ms: number, now: number): boolean {
  try {
    return now - lstatSync(path).mtimeMs > ms;
  } catch {
    return false;
  }
}

export interface Garbage {
  containerDirs: string[];
  runDirs: string[];
  layers: { driver: string; id: string }[];
  tmp: string[];
}

/** Disk objects no row names, older than the grace period. */
export function findGarbage(
  ctx: Context,
  now = Date.now(),
  graceMs = GARBAGE_GRACE_MS,
  layerGraceMs = Math.max(graceMs, LAYER_GRACE_MS),
): Garbage {
  const db = ctx.db();
  const ids = allContainerIds(db);
  const out: Garbage = { containerDirs: [], runDirs: [], layers: [], tmp: [] };
  for (const [base, into] of [
    [ctx.layout.containers, out.containerDirs],
    [join(ctx.roots.run, 'containers'), out.runDirs],
  ] as const) {
    if (!existsSync(base)) continue;
    for (const name of readdirSync(base)) {
      const p = join(base, name);
      if (!ids.has(name) && olderThan(p, graceMs, now)) into.push(p);
    }
  }
  const cacheIds = usedCacheIds(db);
  for (const driver of DRIVER_NAMES) {
    if (!existsSync(ctx.layout.graph(driver))) continue;
    const d = openGraph(ctx, driver);
    for (const { id, modifiedMs } of d.list()) {
      if (!cacheIds.has(id) && now - modifiedMs > layerGraceMs) out.layers.push({ driver, id });
    }
  }
  if (existsSync(ctx.layout.tmp)) {
    for (const name of readdirSync(ctx.layout.tmp)) {
      const p = join(ctx.layout.tmp, name);
      // a build's views and downloads name the process using them (view-PID-xxxx)
      const owner = /^[a-z]+-(\d+)-/.exec(name);
      if (owner && processAlive(Number(owner[1]))) continue;
      if (isMountPoint(p) || olderThan(p, graceMs, now)) out.tmp.push(p);
    }
  }
  return out;
}

export interface SystemPruneResult {
  containers: ContainerPruneResult;
  images: { events: { kind: string; value: string }[]; reclaimed: number };
  networks: string[];
  garbage: Garbage;
  reclaimed: number;
}

/** Stopped containers, then unused networks, then images (`pruneImages`, passed in by the CLI:
 *  image storage is the image module's), then disk objects no row names. */
export async function pruneSystem(
  ctx: Context,
  pruneImages: () => Promise<SystemPruneResult['images']>,
): Promise<SystemPruneResult> {
  const containers = await pruneContainers(ctx);
  const net = await pruneNetworks(ctx.db(), { removeUnused: true });
  const images = await pruneImages();
  const garbage = findGarbage(ctx);
  let reclaimed = containers.reclaimed + images.reclaimed;
  for (const p of [...garbage.containerDirs, ...garbage.runDirs, ...garbage.tmp]) {
    // a read-only view a killed build left mounted: unmount it, never delete through it
    if (isMountPoint(p)) {
      await hostUnmount(p).catch((err: unknown) =>
        log('warn', 'system prune: unmounting a left-over view', { path: p, err: String(err) }),
      );
      if (isMountPoint(p)) continue;
    }
    reclaimed += statSafeSize(p);
    rmSync(p, { recursive: true, force: true });
    log('info', 'system prune removed garbage', { path: p });
  }
  for (const { driver, id } of garbage.layers) {
    try {
      const d = openGraph(ctx, driver);
      reclaimed += d.diffSize(id);
      await d.remove(id);
      log('info', 'system prune removed a layer no row names', { driver, id });
    } catch (err) {
      log('warn', 'system prune: removing a layer directory', { driver, id, err: String(err) });
    }
  }
  return { containers, images, networks: net.removedNetworks, garbage, reclaimed };
}

function statSafeSize(p: string): number {
  try {
    return statSync(p).isDirectory() ? dirSize(p) : statSync(p).size;
  } catch {
    return 0;
  }
}
