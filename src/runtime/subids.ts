// The host ids --userns=auto hands out: the `tscontainer` entries of /etc/subuid and
// /etc/subgid (shadow's format, `NAME:START:COUNT`, one range a line; a user may have several).
// When the files hold none, tscontainer adds one to each, as `usermod --add-subuids` would: a
// range above every range already given to anyone, so no user's rootless containers (nor a
// later `useradd`, which skips ranges in use) can ever share host ids with ours. A fixed range
// that the files do not record would not have that guarantee.
import {
  chmodSync,
  chownSync,
  closeSync,
  existsSync,
  fsyncSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  writeSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { release } from 'node:os';
import { SystemError } from '../util/errors.js';

export const SUBID_USER = 'tscontainer';
/** Ids per container: 0-65535 inside, as podman's and docker's default. */
export const RANGE_SIZE = 65536;
/** What tscontainer adds when the files have no entry for it: 1024 containers' worth. */
export const DEFAULT_COUNT = RANGE_SIZE * 1024;
const FIRST_START = 100000; // shadow's SUB_UID_MIN

export const SUBUID_FILE = '/etc/subuid';
export const SUBGID_FILE = '/etc/subgid';

export interface SubidRange {
  start: number;
  count: number;
}

interface Entry extends SubidRange {
  name: string;
}

function parse(text: string): Entry[] {
  const out: Entry[] = [];
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (!t || t.startsWith('#')) continue;
    const [name, start, count] = t.split(':');
    if (name === undefined || !/^\d+$/.test(start ?? '') || !/^\d+$/.test(count ?? '')) continue;
    out.push({ name, start: Number(start), count: Number(count) });
  }
  return out;
}

function read(file: string): string {
  return existsSync(file) ? readFileSync(file, 'utf8') : '';
}

/** Appends `line` to `file` atomically (a new file renamed over the old), keeping its owner and mode. */
function appendLine(file: string, text: string, line: string): void {
  const st = existsSync(file) ? statSync(file) : undefined;
  const tmp = join(dirname(file), `.${SUBID_USER}-${process.pid}.tmp`);
  const fd = openSync(tmp, 'wx', 0o644);
  try {
    writeSync(fd, `${text}${text && !text.endsWith('\n') ? '\n' : ''}${line}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  if (st) {
    chmodSync(tmp, st.mode & 0o7777);
    chownSync(tmp, st.uid, st.gid);
  }
  renameSync(tmp, file);
}

/**
 * tscontainer's ranges in the two files, adding one entry to each when there is none (call this
 * inside the create transaction: concurrent CLIs then never both add one).
 */
export function tscontainerSubids(): { uids: SubidRange[]; gids: SubidRange[] } {
  const files = [SUBUID_FILE, SUBGID_FILE] as const;
  try {
    const texts = files.map(read);
    const entries = texts.map(parse);
    if (entries.some((e) => !e.some((x) => x.name === SUBID_USER))) {
      // above everything either file gives anyone, on a 65536 boundary
      const top = Math.max(FIRST_START, ...entries.flat().map((e) => e.start + e.count));
      const start = Math.ceil(top / RANGE_SIZE) * RANGE_SIZE;
      files.forEach((f, i) => {
        if (!entries[i]!.some((x) => x.name === SUBID_USER)) appendLine(f, texts[i]!, `${SUBID_USER}:${start}:${DEFAULT_COUNT}`);
      });
      return tscontainerSubids();
    }
    const mine = entries.map((e) => e.filter((x) => x.name === SUBID_USER).map(({ start, count }) => ({ start, count })));
    return { uids: mine[0]!, gids: mine[1]! };
  } catch (err) {
    throw new SystemError(`cannot read or extend ${SUBUID_FILE} and ${SUBGID_FILE}: ${(err as Error).message}`, { cause: err });
  }
}

/** Slot k: the k-th whole run of RANGE_SIZE ids through the ranges, in file order. */
function slotStart(ranges: SubidRange[], k: number): number | undefined {
  for (const r of ranges) {
    const n = Math.floor(r.count / RANGE_SIZE);
    if (k < n) return r.start + k * RANGE_SIZE;
    k -= n;
  }
  return undefined;
}

export function slotCount(ranges: SubidRange[]): number {
  return ranges.reduce((n, r) => n + Math.floor(r.count / RANGE_SIZE), 0);
}

/** How many slots the two files give, and the host ids of each: slot k of subuid with slot k of subgid. */
export function subidSlots(s: { uids: SubidRange[]; gids: SubidRange[] }): {
  slots: number;
  range: (k: number) => { uidBase: number; gidBase: number; size: number };
} {
  return {
    slots: Math.min(slotCount(s.uids), slotCount(s.gids)),
    range: (k) => ({ uidBase: slotStart(s.uids, k)!, gidBase: slotStart(s.gids, k)!, size: RANGE_SIZE }),
  };
}

/** Overlay on idmapped lower layers needs Linux 5.19; without it --userns=auto is refused (the
 *  chown'd-copy fallback is not built). */
export function idmappedLayersSupported(kernel: string = release()): boolean {
  const [major = 0, minor = 0] = kernel.split('.').map((n) => parseInt(n, 10));
  return major > 5 || (major === 5 && minor >= 19);
}
