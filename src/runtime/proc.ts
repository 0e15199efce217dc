// Facts about processes read from /proc: liveness that survives pid reuse, and the boot id.
import { readFileSync } from 'node:fs';

/** Field 22 of /proc/PID/stat: the start time in clock ticks since boot; undefined if gone. */
export function processStartTime(pid: number): number | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // comm (field 2) may contain spaces and parentheses: split after the last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const start = Number(rest[19]); // field 22 overall = index 19 after state (field 3)
  return Number.isFinite(start) ? start : undefined;
}

/** True when `pid` is alive and is still the process that started at `startTime`. */
export function isSameProcess(pid: number | null, startTime: number | null): boolean {
  if (!pid) return false;
  const now = processStartTime(pid);
  if (now === undefined) return false;
  if (startTime !== null && now !== startTime) return false;
  // A zombie has exited: its parent has not reaped it yet.
  try {
    const state = readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (state.slice(state.lastIndexOf(')') + 2, state.lastIndexOf(')') + 3) === 'Z') return false;
  } catch {
    return false;
  }
  return true;
}

let bootId: string | undefined;
export function currentBootId(): string {
  bootId ??= readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  return bootId;
}
