// Where a container's own files live, for the modules that read them without starting
// anything (inspect, logs): kept apart from start.ts so that they do not load the start path.
import { join } from 'node:path';
import type { Context } from './context.js';

/** The container's JSON-lines log, written by its monitor. */
export function logPath(ctx: Context, id: string): string {
  return join(ctx.layout.container(id), 'container.log');
}
