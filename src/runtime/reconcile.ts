// True state without a daemon: a row that says running is checked against the kernel. The
// monitor's exit.json wins; a container whose processes are gone without one (monitor killed,
// machine rebooted) is shown exited with what we know.
import type { Context } from './context.js';
import { claimStaleStart, getContainer, type ContainerRow } from '../store/containers.js';
import { writeTx } from '../store/db.js';
import { readExitFile } from './exitfile.js';
import type { ExitRecord } from './exitfile.js';
import { currentBootId, isSameProcess } from './proc.js';

/** The finisher (cgroups, network, graph) loads only when a container needs finishing: a
 *  `ps` of containers that are all fine never initialises those modules. */
async function finishContainer(
  ctx: Context,
  row: ContainerRow,
  rec: ExitRecord,
  error: string | null = null,
): Promise<ContainerRow> {
  const finish = await import('./finish.js');
  return finish.finishContainer(ctx, row, rec, error);
}

/** A start whose CLI died before it recorded the container as running. */
const STALE_START_MS = 60_000;

export async function reconcile(ctx: Context, row: ContainerRow): Promise<ContainerRow> {
  if (row.state === 'starting') return reconcileStarting(ctx, row);
  if (row.state === 'exiting') {
    // A finisher is at work, or crashed half-way: its steps are idempotent, finish them.
    const rec = readExitFile(ctx.layout.runContainer(row.id));
    return finishContainer(
      ctx,
      row,
      rec ?? { exitCode: 255, signal: null, oomKilled: false, finishedAt: new Date().toISOString() },
    );
  }
  if (row.state !== 'running' && row.state !== 'paused') return row;
  if (row.boot_id && row.boot_id !== currentBootId()) {
    return finishContainer(
      ctx,
      row,
      { exitCode: 255, signal: null, oomKilled: false, finishedAt: new Date().toISOString() },
      'the machine restarted while the container was running',
    );
  }
  const rec = readExitFile(ctx.layout.runContainer(row.id));
  if (rec) return finishContainer(ctx, row, rec);
  if (isSameProcess(row.pid, row.pid_start)) return row;
  // The container's init is gone. If the monitor lives it is about to write exit.json.
  if (row.monitor_pid && isSameProcess(row.monitor_pid, row.monitor_start)) {
    for (let i = 0; i < 50; i++) {
      await new Promise((r) => setTimeout(r, 20));
      const late = readExitFile(ctx.layout.runContainer(row.id));
      if (late) return finishContainer(ctx, row, late);
      if (!isSameProcess(row.monitor_pid, row.monitor_start)) break;
    }
    const late = readExitFile(ctx.layout.runContainer(row.id));
    if (late) return finishContainer(ctx, row, late);
  }
  // A live monitor that wrote nothing means the recorded process is not the container's any
  // more (its pid was reused, or the row's start time is wrong): never show it as running.
  const monitorAlive = row.monitor_pid !== null && isSameProcess(row.monitor_pid, row.monitor_start);
  return finishContainer(
    ctx,
    row,
    { exitCode: 255, signal: null, oomKilled: false, finishedAt: new Date().toISOString() },
    monitorAlive
      ? "the container's process is gone (its pid belongs to another process now) and its monitor recorded no exit: exit status unknown"
      : 'the container exited while its monitor was not running: exit status unknown',
  );
}

async function reconcileStarting(ctx: Context, row: ContainerRow): Promise<ContainerRow> {
  const since = row.started_at ? Date.now() - Date.parse(row.started_at) : Infinity;
  if (since < STALE_START_MS) return row; // another CLI is starting it right now
  const db = ctx.db();
  if (!writeTx(db, () => claimStaleStart(db, row.id, row.started_at))) return getContainer(db, row.id) ?? row;
  // Now 'exiting': give back whatever the interrupted start made (its cgroup kills any process).
  return finishContainer(
    ctx,
    { ...row, state: 'exiting' },
    { exitCode: 255, signal: null, oomKilled: false, finishedAt: new Date().toISOString() },
    'the start was interrupted before the container was recorded as running',
  );
}

export async function reconcileAll(ctx: Context, rows: ContainerRow[]): Promise<ContainerRow[]> {
  const out: ContainerRow[] = [];
  for (const r of rows) out.push(await reconcile(ctx, r));
  return out;
}
