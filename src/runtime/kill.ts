// Signals to a container's init, checked against pid reuse, and waiting for the exit.
import { constants } from 'node:os';
import type { Context } from './context.js';
import { getContainer, type ContainerRow } from '../store/containers.js';
import { ConflictError, EXIT_MANAGEMENT, UsageError } from '../util/errors.js';
import { isSameProcess } from './proc.js';
import { reconcile } from './reconcile.js';

/** "KILL", "SIGKILL", "9" → "SIGKILL". */
export function parseSignal(s: string): NodeJS.Signals {
  const up = s.toUpperCase();
  const name = /^\d+$/.test(up)
    ? (Object.entries(constants.signals).find(([, n]) => n === Number(up))?.[0] as NodeJS.Signals | undefined)
    : ((up.startsWith('SIG') ? up : `SIG${up}`) as NodeJS.Signals);
  if (!name || constants.signals[name] === undefined) throw new UsageError(`invalid signal: ${s}`);
  return name;
}

export function killContainer(row: ContainerRow, signal: NodeJS.Signals): void {
  if (!row.pid || !isSameProcess(row.pid, row.pid_start)) {
    throw new ConflictError(`container ${row.name} is not running`, EXIT_MANAGEMENT);
  }
  try {
    process.kill(row.pid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/** Polls until the container is no longer running (reconciling its exit), or the timeout. */
export async function waitForExit(ctx: Context, row: ContainerRow, timeoutMs: number): Promise<ContainerRow> {
  const deadline = Date.now() + timeoutMs;
  let cur = row;
  for (let delay = 5; ; delay = Math.min(delay * 2, 100)) {
    const now = getContainer(ctx.db(), row.id);
    if (!now) return { ...cur, state: 'removing' }; // removed meanwhile (--rm)
    cur = await reconcile(ctx, now);
    // 'exiting': a finisher is giving back cgroup and network; reconcile completes it if not.
    if (cur.state !== 'running' && cur.state !== 'paused' && cur.state !== 'exiting') return cur;
    if (Date.now() > deadline) return cur;
    await new Promise((r) => setTimeout(r, delay));
  }
}
