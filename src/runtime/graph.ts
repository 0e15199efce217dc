// The graph driver a container's layers live in (recorded in its row).
import type { Context } from './context.js';
import type { GraphDriver } from '../graph/driver.js';
import { driverByName } from '../graph/select.js';

export function openGraph(ctx: Context, name: string): GraphDriver {
  return driverByName(ctx, name);
}
