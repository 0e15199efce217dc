// `logs`: reads the monitor's JSON-lines log (docker's json-file format, one object a line:
// {"log":"text\n","stream":"stdout","time":"2026-11-21T23:59:01.123456789Z"}), filters it by
// --since/--until/--tail, and with -f follows the file until the container has exited.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import type { Context } from './context.js';
import { getContainer, type ContainerRow } from '../store/containers.js';
import { UsageError } from '../util/errors.js';
import { reconcile } from './reconcile.js';
import { logPath } from './files.js';
import { changeOrTimeout } from '../util/watch.js';

export interface LogEntry {
  stream: 'stdout' | 'stderr';
  text: string;
  /** RFC 3339 with nanoseconds, as the monitor wrote it. */
  time: string;
}

/** One line of the log file; undefined for a line that is not a log object (torn write). */
export function parseLogLine(line: string): LogEntry | undefined {
  if (!line.trim()) return undefined;
  try {
    const o = JSON.parse(line) as { log?: unknown; stream?: unknown; time?: unknown };
    if (typeof o.log !== 'string') return undefined;
    return { stream: o.stream === 'stderr' ? 'stderr' : 'stdout', text: o.log, time: typeof o.time === 'string' ? o.time : '' };
  } catch {
    return undefined;
  }
}

/** Nanoseconds since the epoch of an RFC 3339 time with up to 9 fraction digits (as a bigint,
 *  so two lines within the same millisecond still compare in order). */
export function timeNs(iso: string): bigint | undefined {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/.exec(iso);
  if (!m) return undefined;
  const ms = Date.parse(`${m[1]}${m[3]}`);
  if (Number.isNaN(ms)) return undefined;
  return BigInt(ms) * 1_000_000n + BigInt((m[2] ?? '').padEnd(9, '0') || '0');
}

const UNIT_NS: Record<string, bigint> = {
  ns: 1n,
  us: 1_000n,
  µs: 1_000n,
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
};

/**
 * docker's --since/--until value as nanoseconds since the epoch: a Go duration relative to now
 * ("10m", "1h30m", "1.5s"), a unix timestamp ("1700000000" or "1700000000.5"), or an RFC 3339
 * time or date ("2026-11-21T23:59:01Z", "2026-11-21T23:59:01.5+01:00", "2026-11-21").
 */
export function parseSinceNs(v: string, nowMs: number = Date.now()): bigint {
  const dur = /^((?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+)$/.exec(v);
  if (dur) {
    let ns = 0;
    for (const part of v.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) ns += Number(part[1]) * Number(UNIT_NS[part[2]!]!);
    return BigInt(nowMs) * 1_000_000n - BigInt(Math.round(ns));
  }
  const unix = /^(\d+)(?:\.(\d{1,9}))?$/.exec(v);
  if (unix) return BigInt(unix[1]!) * 1_000_000_000n + BigInt((unix[2] ?? '').padEnd(9, '0') || '0');
  if (/^\d{4}-\d{2}-\d{2}$/.test(v)) return BigInt(Date.parse(`${v}T00:00:00Z`)) * 1_000_000n;
  const withZone = /(Z|[+-]\d{2}:\d{2})$/.test(v) ? v : `${v}Z`;
  const t = timeNs(withZone);
  if (t === undefined) throw new UsageError(`invalid time "${v}": give a duration (10m), a unix timestamp or an RFC 3339 time`);
  return t;
}

/** "all" or a whole number; docker treats a negative one as all. */
export function parseTail(v: string | undefined): number | undefined {
  if (v === undefined || v === 'all') return undefined;
  if (!/^-?\d+$/.test(v)) throw new UsageError(`invalid --tail "${v}": expected a number or "all"`);
  const n = Number(v);
  return n < 0 ? undefined : n;
}

export interface LogFilter {
  sinceNs?: bigint;
  untilNs?: bigint;
  tail?: number;
}

function inWindow(e: LogEntry, f: LogFilter): boolean {
  if (f.sinceNs === undefined && f.untilNs === undefined) return true;
  const t = timeNs(e.time);
  if (t === undefined) return true;
  if (f.sinceNs !== undefined && t < f.sinceNs) return false;
  if (f.untilNs !== undefined && t > f.untilNs) return false;
  return true;
}

/** The entries of a whole log text that pass the filter, --tail applied last (as docker). */
export function selectEntries(text: string, f: LogFilter): LogEntry[] {
  const out: LogEntry[] = [];
  for (const line of text.split('\n')) {
    const e = parseLogLine(line);
    if (e && inWindow(e, f)) out.push(e);
  }
  return f.tail === undefined ? out : f.tail === 0 ? [] : out.slice(-f.tail);
}

/** What `logs` prints for one entry: the text, with the time in front for --timestamps. */
export function formatEntry(e: LogEntry, timestamps: boolean): string {
  return timestamps ? `${e.time} ${e.text}` : e.text;
}

export interface LogsOptions extends LogFilter {
  follow: boolean;
  timestamps: boolean;
  write(stream: 'stdout' | 'stderr', text: string): void;
  /** Ends a follow early (Ctrl-C). */
  signal?: AbortSignal;
}

/** Reads a file from `offset` to its current end. */
function readFrom(path: string, offset: number): { text: string; end: number } {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { text: '', end: offset };
    throw err;
  }
  try {
    const size = fstatSync(fd).size;
    // Truncated (a new log for a restart would be appended, but be safe): start over.
    const from = size < offset ? 0 : offset;
    if (size === from) return { text: '', end: from };
    const buf = Buffer.alloc(size - from);
    let got = 0;
    while (got < buf.length) {
      const n = readSync(fd, buf, got, buf.length - got, from + got);
      if (n === 0) break;
      got += n;
    }
    return { text: buf.subarray(0, got).toString('utf8'), end: from + got };
  } finally {
    closeSync(fd);
  }
}

/** Joins consecutive texts of one stream into one write of up to 64 KiB: a log of 20,000 lines
 *  is then ~20 writes to stdout, not 20,000 (each a system call on a pipe or file). */
function coalescing(write: LogsOptions['write']): { write: LogsOptions['write']; flush(): void } {
  let stream: 'stdout' | 'stderr' = 'stdout';
  let parts: string[] = [];
  let size = 0;
  const flush = () => {
    if (parts.length > 0) write(stream, parts.join(''));
    parts = [];
    size = 0;
  };
  return {
    write(s, text) {
      if (s !== stream || size > 65536) flush();
      stream = s;
      parts.push(text);
      size += text.length;
    },
    flush,
  };
}

export async function containerLogs(ctx: Context, row: ContainerRow, opts: LogsOptions): Promise<void> {
  const out = coalescing(opts.write);
  try {
    await readLogs(ctx, row, { ...opts, write: out.write }, out.flush);
  } finally {
    out.flush();
  }
}

async function readLogs(ctx: Context, row: ContainerRow, o: LogsOptions, flush: () => void): Promise<void> {
  const path = logPath(ctx, row.id);
  const first = readFrom(path, 0);
  // Only complete lines: a line the monitor is still writing is read with the next chunk.
  const lastNl = first.text.lastIndexOf('\n');
  const whole = lastNl < 0 ? '' : first.text.slice(0, lastNl + 1);
  for (const e of selectEntries(whole, o)) o.write(e.stream, formatEntry(e, o.timestamps));
  if (!o.follow) return;

  let offset = Buffer.byteLength(whole);
  let pending = '';
  const drain = () => {
    const r = readFrom(path, offset);
    if (r.end < offset) pending = '';
    offset = r.end;
    const text = pending + r.text;
    const nl = text.lastIndexOf('\n');
    pending = nl < 0 ? text : text.slice(nl + 1);
    if (nl < 0) return;
    for (const line of text.slice(0, nl).split('\n')) {
      const e = parseLogLine(line);
      if (e && inWindow(e, { untilNs: o.untilNs })) o.write(e.stream, formatEntry(e, o.timestamps));
    }
  };
  const dir = ctx.layout.container(row.id);
  for (;;) {
    drain();
    const cur = getContainer(ctx.db(), row.id);
    const live = cur ? await reconcile(ctx, cur) : undefined;
    if (!live || (live.state !== 'running' && live.state !== 'paused') || o.signal?.aborted) {
      // The monitor drains the container's pipes before it writes exit.json: one last read
      // gets everything.
      drain();
      if (pending) {
        const e = parseLogLine(pending);
        if (e) o.write(e.stream, formatEntry(e, o.timestamps));
      }
      return;
    }
    flush();
    await changeOrTimeout(dir, 500, o.signal);
  }
}
