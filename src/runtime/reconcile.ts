// True state without a daemon: a row that says running is checked against the kernel. The
// monitor's exit.json wins; a container whose processes are gone without one (monitor killed,
// machine rebooted) is shown exited with what we know.
import type { Context } from '../cli/context.js';
import type { ContainerRow } from '../store/containers.js';
import { readExitFile } from './exitfile.js';
import { finishContainer } from './finish.js';
import { currentBootId, isSameProcess } from './proc.js';

export async function reconcile(ctx: Context, row: ContainerRow): Promise<ContainerRow> {
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

export async function reconcileAll(ctx: Context, rows: ContainerRow[]): Promise<ContainerRow[]> {
  const out: ContainerRow[] = [];
  for (const r of rows) out.push(await reconcile(ctx, r));
  return out;
}
