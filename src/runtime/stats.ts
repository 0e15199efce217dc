// `stats` and `top`: live numbers of running containers, read from their cgroups (CPU, memory,
// pids, block I/O) and from /proc of their init (network counters of its namespace).
import { totalmem } from 'node:os';
import { join } from 'node:path';
import type { Context } from './context.js';
import { cpuPercent, memoryInUse, type CgroupStats, type ContainerCgroup } from '../cgroups/index.js';
import type { ContainerRow } from '../store/containers.js';
import { ConflictError, EXIT_MANAGEMENT, SystemError } from '../util/errors.js';
import { readTextOr } from '../util/files.js';
import { decimalSize } from '../util/units.js';
import { containerCgroup } from './cgroup.js';
import { isLive } from './lifecycle.js';
import { reconcile } from './reconcile.js';

export interface IoPair {
  read: number;
  write: number;
}

/** /proc/PID/net/dev: received and sent bytes over every interface but lo. */
export function parseNetDev(text: string): IoPair {
  let rx = 0;
  let tx = 0;
  for (const line of text.split('\n').slice(2)) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    if (name === 'lo') continue;
    const f = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .map(Number);
    rx += f[0] ?? 0;
    tx += f[8] ?? 0;
  }
  return { read: rx, write: tx };
}

/** v1 blkio.throttle.io_service_bytes ("8:0 Read 4096" lines) or v2 io.stat ("8:0 rbytes=.. wbytes=.."). */
export function parseBlkio(text: string): IoPair {
  let read = 0;
  let write = 0;
  for (const line of text.split('\n')) {
    const v1 = /^\d+:\d+ (Read|Write) (\d+)$/.exec(line.trim());
    if (v1) {
      if (v1[1] === 'Read') read += Number(v1[2]);
      else write += Number(v1[2]);
      continue;
    }
    const r = /\brbytes=(\d+)/.exec(line);
    const w = /\bwbytes=(\d+)/.exec(line);
    if (r) read += Number(r[1]);
    if (w) write += Number(w[1]);
  }
  return { read, write };
}

function blockIo(cg: ContainerCgroup): IoPair {
  const v1 = cg.paths['blkio'];
  if (v1) return parseBlkio(readTextOr(join(v1, 'blkio.throttle.io_service_bytes')));
  const v2 = cg.paths['unified'];
  return v2 ? parseBlkio(readTextOr(join(v2, 'io.stat'))) : { read: 0, write: 0 };
}

export interface Sample {
  row: ContainerRow;
  atNs: bigint;
  cg: CgroupStats;
  net: IoPair;
  block: IoPair;
}

export function sample(row: ContainerRow): Sample | undefined {
  const cg = containerCgroup(row);
  if (!cg.exists()) return undefined;
  return {
    row,
    atNs: process.hrtime.bigint(),
    cg: cg.stats(),
    net: row.pid ? parseNetDev(readTextOr(`/proc/${row.pid}/net/dev`)) : { read: 0, write: 0 },
    block: blockIo(cg),
  };
}

/** One line of `docker stats`, as numbers. */
export interface StatsLine {
  id: string;
  name: string;
  cpuPercent: number;
  memUsage: number;
  memLimit: number;
  memPercent: number;
  net: IoPair;
  block: IoPair;
  pids: number;
}

/** The line from two samples of the same container (CPU % needs the interval between them). */
export function statsLine(before: Sample | undefined, after: Sample, hostMem: number = totalmem()): StatsLine {
  const usage = memoryInUse(after.cg) ?? 0;
  const limit = after.cg.memory?.limitBytes && after.cg.memory.limitBytes < hostMem ? after.cg.memory.limitBytes : hostMem;
  const cpu = before ? (cpuPercent(before.cg, after.cg, Number(after.atNs - before.atNs)) ?? 0) : 0;
  return {
    id: after.row.id,
    name: after.row.name,
    cpuPercent: cpu,
    memUsage: usage,
    memLimit: limit,
    memPercent: limit > 0 ? (usage / limit) * 100 : 0,
    net: after.net,
    block: after.block,
    pids: after.cg.pids?.current ?? 0,
  };
}

/** docker's binary units for memory: "1.5MiB". */
export function binarySize(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v}B` : `${v.toFixed(2).replace(/\.?0+$/, '')}${units[i]}`;
}

/** The strings docker prints (and puts in --format json). */
export function statsStrings(l: StatsLine): Record<string, string> {
  return {
    BlockIO: `${decimalSize(l.block.read)} / ${decimalSize(l.block.write)}`,
    CPUPerc: `${l.cpuPercent.toFixed(2)}%`,
    Container: l.id.slice(0, 12),
    ID: l.id.slice(0, 12),
    MemPerc: `${l.memPercent.toFixed(2)}%`,
    MemUsage: `${binarySize(l.memUsage)} / ${binarySize(l.memLimit)}`,
    Name: l.name,
    NetIO: `${decimalSize(l.net.read)} / ${decimalSize(l.net.write)}`,
    PIDs: String(l.pids),
  };
}

/** Running containers among `rows`, reconciled. */
export async function liveRows(ctx: Context, rows: ContainerRow[]): Promise<ContainerRow[]> {
  const out: ContainerRow[] = [];
  for (const r of rows) {
    const cur = await reconcile(ctx, r);
    if (isLive(cur)) out.push(cur);
  }
  return out;
}

// ------------------------------------------------------------------------------------ top

/**
 * docker top: the host processes in the container's cgroup, as `ps ARGS` shows them (default
 * `-ef`: UID PID PPID C STIME TTY TIME CMD); rows whose PID column is not in the cgroup are dropped.
 */
export async function topContainer(
  ctx: Context,
  row: ContainerRow,
  psArgs: string[],
): Promise<{ titles: string[]; lines: string[] }> {
  const cur = await reconcile(ctx, row);
  if (!isLive(cur)) throw new ConflictError(`container ${cur.name} is not running`, EXIT_MANAGEMENT);
  const pids = new Set(containerCgroup(cur).pids());
  const args = psArgs.length > 0 ? psArgs : ['-ef'];
  const out = await new Promise<string>((resolve, reject) => {
    process
      .getBuiltinModule('node:child_process')
      .execFile('ps', args, { maxBuffer: 64 * 1024 * 1024, env: { ...process.env, LC_ALL: 'C' } }, (err, stdout, stderr) => {
        if (err) reject(new SystemError(`ps ${args.join(' ')} failed: ${String(stderr).trim() || err.message}`));
        else resolve(stdout);
      });
  });
  return filterPs(out, pids);
}

/** Keeps the header and the rows whose PID column names one of `pids`. */
export function filterPs(psOutput: string, pids: Set<number>): { titles: string[]; lines: string[] } {
  const lines = psOutput.split('\n').filter((l) => l.trim() !== '');
  const header = lines[0] ?? '';
  const titles = header.trim().split(/\s+/);
  const col = titles.indexOf('PID');
  if (col < 0) throw new ConflictError(`ps output has no PID column: give ps options that print one (e.g. -ef)`, EXIT_MANAGEMENT);
  const rows = lines.slice(1).filter((l) => pids.has(Number(l.trim().split(/\s+/)[col])));
  return { titles, lines: [header, ...rows] };
}
