// `tscontainer builder prune`: drops the build cache and the layers only it kept (stages that
// no image contains, steps of images since removed). Rows first in one transaction, then the
// driver directories, as everywhere else.
import type { Context } from '../runtime/context.js';
import { writeTx } from '../store/db.js';
import { clearBuildCache, danglingLayerIds } from '../store/buildcache.js';
import type { LayerRow } from '../store/layers.js';
import { releaseLayerRows, removeLayerDirs } from '../image/layers.js';
import { driverByName } from '../graph/select.js';

export async function pruneBuildCache(ctx: Context): Promise<{ entries: number; layers: number; reclaimed: number }> {
  const db = ctx.db();
  const { entries, released } = writeTx(db, () => {
    const entries = clearBuildCache(db);
    const released: LayerRow[] = [];
    for (const id of danglingLayerIds(db)) released.push(...releaseLayerRows(db, id));
    return { entries, released };
  });
  const byDriver = new Map<string, LayerRow[]>();
  for (const l of released) byDriver.set(l.driver, [...(byDriver.get(l.driver) ?? []), l]);
  for (const [name, rows] of byDriver) await removeLayerDirs(driverByName(ctx, name), rows);
  return { entries, layers: released.length, reclaimed: released.reduce((n, l) => n + l.size, 0) };
}
