// The few filesystem calls the cgroups module makes, behind an interface so that unit tests can
// run the v1/v2 logic against a simulated cgroup tree in a temporary directory.
import * as fs from 'node:fs';
import { SystemError, errnoMessage } from '../util/errors.js';
import { traceEvent, tracing } from '../util/trace.js';

export interface CgroupFs {
  /** The whole file as text. Throws the errno error (ENOENT, ...) unchanged. */
  readFile(path: string): string;
  /** One write(2) of `data` to an existing file (cgroup files cannot be created). */
  writeFile(path: string, data: string): void;
  exists(path: string): boolean;
  /** Creates one directory; false when it already existed. */
  mkdir(path: string): boolean;
  /** Removes one (cgroup) directory. Throws the errno error unchanged. */
  rmdir(path: string): void;
  /** Names of the sub-directories (child groups). [] when the directory does not exist. */
  subdirs(path: string): string[];
}

export const nodeCgroupFs: CgroupFs = {
  readFile(path) {
    return fs.readFileSync(path, 'utf8');
  },
  writeFile(path, data) {
    // r+ so that a missing file is ENOENT rather than a new regular file, and one write(2) so
    // that the kernel sees the value in one piece.
    const t0 = tracing() ? performance.now() : 0;
    const fd = fs.openSync(path, 'r+');
    try {
      fs.writeSync(fd, data);
    } finally {
      fs.closeSync(fd);
    }
    if (tracing()) traceEvent('cgroup write', `${data.trim()} > ${path}`, performance.now() - t0);
  },
  exists(path) {
    return fs.existsSync(path);
  },
  mkdir(path) {
    try {
      fs.mkdirSync(path);
      if (tracing()) traceEvent('cgroup mkdir', path, 0, 'a new group: the kernel fills it with its control files');
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw err;
    }
  },
  rmdir(path) {
    fs.rmdirSync(path);
    if (tracing()) traceEvent('cgroup rmdir', path);
  },
  subdirs(path) {
    try {
      return fs
        .readdirSync(path, { withFileTypes: true })
        .filter((d) => d.isDirectory())
        .map((d) => d.name);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  },
};

export function errnoCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/** Writes a cgroup file; a failure becomes a SystemError naming the value and the file. */
export function writeCg(cfs: CgroupFs, path: string, value: string): void {
  try {
    cfs.writeFile(path, value);
  } catch (err) {
    const code = errnoCode(err);
    throw new SystemError(`cannot write "${value.trim()}" to ${path}: ${code ?? errnoMessage(err)}`, { cause: err });
  }
}

/** Reads a cgroup file trimmed; undefined when it does not exist. */
export function readCg(cfs: CgroupFs, path: string): string | undefined {
  try {
    return cfs.readFile(path).trim();
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOENT' || code === 'ENODEV') return undefined;
    throw new SystemError(`cannot read ${path}: ${code ?? errnoMessage(err)}`, { cause: err });
  }
}

/** Parses `key value` lines (memory.stat, cpu.stat, memory.events, memory.oom_control). */
export function parseKeyed(text: string | undefined): Map<string, number> {
  const out = new Map<string, number>();
  if (!text) return out;
  for (const line of text.split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined && /^-?\d+$/.test(v)) out.set(k, Number(v));
  }
  return out;
}

/** Parses a cgroup.procs file into pids. */
export function parsePids(text: string | undefined): number[] {
  if (!text) return [];
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => /^\d+$/.test(l))
    .map(Number);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
