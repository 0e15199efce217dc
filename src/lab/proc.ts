// Kernel facts read from outside a process: its namespaces, mounts, status fields, cgroups,
// and the tree of processes under a pid. Nothing here trusts what a process prints.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { parseMountinfo } from '../cgroups/detect.js';

export const NAMESPACES = ['pid', 'mnt', 'uts', 'ipc', 'net', 'user', 'cgroup'] as const;
export type Namespace = (typeof NAMESPACES)[number];

/** "pid:[4026531836]" for the namespace of `pid` (a number, or "self"). */
export function nsOf(pid: number | 'self', ns: Namespace): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/ns/${ns}`);
  } catch {
    return undefined;
  }
}

export function readProc(pid: number, file: string): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return undefined;
  }
}

/** The fields of /proc/PID/status ("NSpid" -> "4242 1"). */
export function statusOf(pid: number): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of (readProc(pid, 'status') ?? '').split('\n')) {
    const i = line.indexOf(':');
    if (i > 0) out.set(line.slice(0, i), line.slice(i + 1).trim());
  }
  return out;
}

export function cmdlineOf(pid: number): string[] {
  const raw = readProc(pid, 'cmdline') ?? '';
  return raw.split('\0').filter((s, i, a) => s !== '' || i < a.length - 1);
}

export interface MountLine {
  readonly root: string;
  readonly mountPoint: string;
  readonly fsType: string;
  readonly device: string;
  readonly source: string;
  readonly superOptions: readonly string[];
}

/** /proc/PID/mountinfo, with the device (major:minor) and mount source too. */
export function parseMountLines(text: string): MountLine[] {
  const base = parseMountinfo(text);
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  return base.map((m, i) => {
    const f = lines[i]!.split(' ');
    const sep = f.indexOf('-');
    return { ...m, device: f[2] ?? '', source: f[sep + 2] ?? '' };
  });
}

export function mountsOf(pid: number | 'self'): MountLine[] {
  try {
    return parseMountLines(readFileSync(`/proc/${pid}/mountinfo`, 'utf8'));
  } catch {
    return [];
  }
}

/** /proc/PID/cgroup as controller -> cgroup path ("" is the v2 entry). */
export function parseProcCgroup(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line.trim());
    if (!m) continue;
    const controllers = m[1]!.split(',');
    for (const c of controllers) out.set(c, m[2]!);
  }
  return out;
}

/** Every process's parent, from /proc/[0-9]+/stat. */
function parents(): Map<number, number> {
  const out = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = readProc(Number(name), 'stat');
    if (!stat) continue;
    const after = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    out.set(Number(name), Number(after[1]));
  }
  return out;
}

/** The pids below `root` (children, grandchildren ...), not `root` itself. */
export function descendants(root: number): number[] {
  const ppid = parents();
  const kids = new Map<number, number[]>();
  for (const [pid, parent] of ppid) kids.set(parent, [...(kids.get(parent) ?? []), pid]);
  const out: number[] = [];
  const todo = [...(kids.get(root) ?? [])];
  while (todo.length > 0) {
    const p = todo.shift()!;
    out.push(p);
    todo.push(...(kids.get(p) ?? []));
  }
  return out;
}

/** Sends `signal` to each pid, ignoring those already gone. */
export function killPids(pids: readonly number[], signal: NodeJS.Signals = 'SIGKILL'): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      /* already gone */
    }
  }
}
