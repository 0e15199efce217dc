// Pieces shared by the v1 and v2 implementations: names, host facts, process lists, killing
// and removing a group.
import { availableParallelism } from 'node:os';
import { join, posix } from 'node:path';
import { ConflictError, SystemError, UsageError, errnoMessage } from '../util/errors.js';
import { errnoCode, parsePids, readCg, sleep, writeCg, type CgroupFs } from './fsops.js';
import type { CgWrite } from './limits.js';
import type { HostResources } from './types.js';

export const DEFAULT_PARENT = 'tscontainer';

/** How long remove() waits for killed processes to leave the group. */
export const REMOVE_TIMEOUT_MS = 10_000;
/** How long freeze() waits for the kernel to report the group frozen. */
export const FREEZE_TIMEOUT_MS = 5_000;

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.@:-]*$/;

export function checkId(id: string): void {
  if (!NAME.test(id) || id.length > 255) throw new UsageError(`Invalid container id "${id}" for a cgroup name.`);
}

/** The parent group, relative to the hierarchy root: segments joined by "/". */
export function checkParent(parent: string): string[] {
  const segs = parent.split('/').filter((s) => s !== '');
  if (segs.length === 0 || !segs.every((s) => NAME.test(s) && s.length <= 255)) {
    throw new UsageError(`Invalid cgroup parent "${parent}": use names of letters, digits, "_", ".", "-" separated by "/".`);
  }
  return segs;
}

/** The group's path as /proc/PID/cgroup shows it. */
export function cgroupPathOf(root: string, parentSegs: readonly string[], id: string): string {
  return posix.join(root || '/', ...parentSegs, id);
}

/**
 * Host facts for validation; `cpusFrom`/`memsFrom` are cpuset files of the hierarchy root. The
 * CPU and node lists are read only when a cpuset limit asks for them (empty = not checked).
 */
export function hostResources(cfs: CgroupFs, needSets: boolean, cpusFrom: string[], memsFrom: string[]): HostResources {
  if (!needSets) return { cpuCount: availableParallelism(), cpus: '', mems: '' };
  const first = (paths: string[]) => {
    for (const p of paths) {
      const v = readCg(cfs, p);
      if (v) return v;
    }
    return '';
  };
  return {
    cpuCount: availableParallelism(),
    cpus: first([...cpusFrom, '/sys/devices/system/cpu/online']),
    mems: first([...memsFrom, '/sys/devices/system/node/online']) || '0',
  };
}

/** Pids in `dir` and every sub-group under it. */
export function pidsRecursive(cfs: CgroupFs, dir: string, out: Set<number> = new Set()): Set<number> {
  for (const p of parsePids(readCg(cfs, join(dir, 'cgroup.procs')))) out.add(p);
  for (const sub of cfs.subdirs(dir)) pidsRecursive(cfs, join(dir, sub), out);
  return out;
}

export function killAll(pids: Iterable<number>): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch (err) {
      if (errnoCode(err) !== 'ESRCH') throw new SystemError(`cannot kill process ${pid}: ${errnoMessage(err)}`, { cause: err });
    }
  }
}

/** Removes `dir` and its sub-groups, deepest first; retries while the kernel says busy. */
export async function removeTree(cfs: CgroupFs, dir: string, deadline: number): Promise<void> {
  for (const sub of cfs.subdirs(dir)) await removeTree(cfs, join(dir, sub), deadline);
  for (;;) {
    try {
      cfs.rmdir(dir);
      return;
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'ENOENT') return;
      if ((code === 'EBUSY' || code === 'ENOTEMPTY') && Date.now() < deadline) {
        await sleep(10);
        continue;
      }
      const left = [...pidsRecursive(cfs, dir)];
      throw new SystemError(
        `cannot remove cgroup ${dir}: ${code ?? errnoMessage(err)}${left.length ? ` (processes still inside: ${left.join(' ')})` : ''}`,
        { cause: err },
      );
    }
  }
}

/** Kills the processes listed by `list` until it comes back empty, or throws at the deadline. */
export async function killUntilEmpty(list: () => Set<number>, what: string, deadline: number): Promise<void> {
  for (;;) {
    const pids = list();
    if (pids.size === 0) return;
    if (Date.now() >= deadline) {
      throw new ConflictError(`cgroup ${what} still holds processes ${[...pids].join(' ')} after SIGKILL.`);
    }
    killAll(pids);
    await sleep(5);
  }
}

/**
 * Applies writes in order. memory.limit_in_bytes may have to follow memory.memsw.limit_in_bytes
 * when an existing group's limits grow (the kernel keeps limit <= memsw at every step).
 */
export function applyWrites(cfs: CgroupFs, dirOf: (controller: string) => string, writes: readonly CgWrite[]): void {
  for (let i = 0; i < writes.length; i++) {
    const w = writes[i]!;
    const next = writes[i + 1];
    const path = join(dirOf(w.controller), w.file);
    if (w.file === 'memory.limit_in_bytes' && next?.file === 'memory.memsw.limit_in_bytes') {
      try {
        cfs.writeFile(path, w.value);
      } catch (err) {
        if (errnoCode(err) !== 'EINVAL') throw writeError(path, w.value, err);
        writeCg(cfs, join(dirOf(next.controller), next.file), next.value);
        writeCg(cfs, path, w.value);
      }
      continue;
    }
    writeCg(cfs, path, w.value);
  }
}

function writeError(path: string, value: string, err: unknown): SystemError {
  return new SystemError(`cannot write "${value}" to ${path}: ${errnoCode(err) ?? errnoMessage(err)}`, { cause: err });
}

/** A limit value from the kernel: null when it means "unlimited". */
export function parseLimit(text: string | undefined): number | null | undefined {
  if (text === undefined) return undefined;
  const t = text.split(/\s+/)[0] ?? '';
  if (t === 'max' || t === '-1') return null;
  if (!/^\d+$/.test(t)) return undefined;
  const n = Number(t);
  return n >= 2 ** 62 ? null : n;
}

export function parseNum(text: string | undefined): number | undefined {
  if (text === undefined || !/^\d+$/.test(text.trim())) return undefined;
  return Number(text.trim());
}
