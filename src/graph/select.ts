// Which graph driver a state root uses. One state root holds layers of one driver: an explicit
// --storage-driver must match what is already there; without one, the driver already in use
// wins (as docker keeps its prior driver), else the default for this kernel.
import type { GraphDriver } from './driver.js';
import { defaultDriverName, openDriver } from './index.js';
import { driversInUse } from '../store/layers.js';
import { UsageError } from '../util/errors.js';
import type { DB } from '../store/db.js';
import type { Layout } from '../util/paths.js';

/** What choosing a driver needs: where the state root is, what the user asked for, the rows. */
export interface GraphContext {
  readonly layout: Layout;
  /** --storage-driver / TSCONTAINER_STORAGE_DRIVER, if given. */
  readonly storageDriver: string | undefined;
  /** --storage-opt key=value (devicemapper's dm.*), if any. */
  readonly storageOpts?: readonly string[];
  db(): DB;
}

const opened = new WeakMap<GraphContext, Map<string, GraphDriver>>();

/** The driver name this state root uses; throws when --storage-driver disagrees with its layers. */
export async function storageDriverName(ctx: GraphContext): Promise<string> {
  const inUse = driversInUse(ctx.db());
  const wanted = ctx.storageDriver;
  if (wanted !== undefined && wanted !== '') {
    const other = inUse.find((d) => d !== wanted);
    if (other !== undefined) {
      throw new UsageError(
        `the state root ${ctx.layout.graph('').replace(/\/$/, '')} already holds layers or containers of the "${other}" storage driver, so it cannot use "${wanted}" (use --storage-driver ${other} or another --root)`,
      );
    }
    return wanted;
  }
  return inUse[0] ?? defaultDriverName(ctx.layout.graph('').replace(/\/$/, ''));
}

/** The opened graph driver for this state root (cached per context). */
export async function imageDriver(ctx: GraphContext): Promise<GraphDriver> {
  return driverByName(ctx, await storageDriverName(ctx));
}

/** A driver by name, for releasing layers recorded with it (cached per context). */
export function driverByName(ctx: GraphContext, name: string): GraphDriver {
  let byName = opened.get(ctx);
  if (!byName) {
    byName = new Map();
    opened.set(ctx, byName);
  }
  const cached = byName.get(name);
  if (cached) return cached;
  const d: GraphDriver = openDriver(name, ctx.layout.graph(name), {
    db: () => ctx.db(),
    storageOpts: name === 'devicemapper' ? (ctx.storageOpts ?? []) : [],
  });
  byName.set(name, d);
  return d;
}
