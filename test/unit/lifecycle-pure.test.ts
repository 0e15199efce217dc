// Pure parts of the container management commands: log lines, --tail and --since, stats math and
// units, /proc and cgroup file parsing, top's ps filtering, inspect's graph data, ps filters.
import { describe, expect, it } from 'vitest';
import { formatEntry, parseLogLine, parseSinceNs, parseTail, selectEntries, timeNs } from '../../src/runtime/logs.js';
import { binarySize, filterPs, parseBlkio, parseNetDev, statsLine, statsStrings, type Sample } from '../../src/runtime/stats.js';
import { graphData } from '../../src/runtime/inspect.js';
import { dockerTime, parsePsFilters } from '../../src/cli/actions/ps.js';
import type { ContainerRow } from '../../src/store/containers.js';
import { UsageError } from '../../src/util/errors.js';
import { decimalSize } from '../../src/util/units.js';

const line = (log: string, stream: string, time: string) => JSON.stringify({ log, stream, time });
const LOG = [
  line('a\n', 'stdout', '2026-11-21T10:00:00.000000001Z'),
  line('b\n', 'stderr', '2026-11-21T10:00:00.000000002Z'),
  '{"log":"torn',
  line('c\n', 'stdout', '2026-11-21T10:00:05.5Z'),
  line('d\n', 'stderr', '2026-11-21T10:01:00Z'),
  '',
].join('\n');

describe('logs', () => {
  it('parses a json-file line and skips torn or foreign lines', () => {
    expect(parseLogLine(line('x\n', 'stderr', 't'))).toEqual({ stream: 'stderr', text: 'x\n', time: 't' });
    expect(parseLogLine('{"log":')).toBeUndefined();
    expect(parseLogLine('{"other":1}')).toBeUndefined();
    expect(parseLogLine('')).toBeUndefined();
  });

  it('orders times to the nanosecond', () => {
    expect(timeNs('2026-11-21T10:00:00.000000002Z')! - timeNs('2026-11-21T10:00:00.000000001Z')!).toBe(1n);
    expect(timeNs('2026-11-21T11:00:00+01:00')).toBe(timeNs('2026-11-21T10:00:00Z'));
    expect(timeNs('yesterday')).toBeUndefined();
  });

  it('--tail takes the last entries across both streams, after --since', () => {
    expect(selectEntries(LOG, {}).map((e) => e.text)).toEqual(['a\n', 'b\n', 'c\n', 'd\n']);
    expect(selectEntries(LOG, { tail: 2 }).map((e) => e.text)).toEqual(['c\n', 'd\n']);
    expect(selectEntries(LOG, { tail: 0 })).toEqual([]);
    expect(selectEntries(LOG, { tail: 10 })).toHaveLength(4);
    const since = parseSinceNs('2026-11-21T10:00:00.000000002Z');
    expect(selectEntries(LOG, { sinceNs: since }).map((e) => e.text)).toEqual(['b\n', 'c\n', 'd\n']);
    expect(selectEntries(LOG, { sinceNs: since, tail: 1 }).map((e) => e.text)).toEqual(['d\n']);
    expect(selectEntries(LOG, { untilNs: parseSinceNs('2026-11-21T10:00:01Z') }).map((e) => e.text)).toEqual(['a\n', 'b\n']);
  });

  it('--since takes durations, unix times, RFC 3339 times and dates', () => {
    const now = Date.parse('2026-11-21T10:00:00Z');
    expect(parseSinceNs('10m', now)).toBe(BigInt(now - 600_000) * 1_000_000n);
    expect(parseSinceNs('1h30m', now)).toBe(BigInt(now - 5_400_000) * 1_000_000n);
    expect(parseSinceNs('1.5s', now)).toBe(BigInt(now - 1500) * 1_000_000n);
    expect(parseSinceNs('1700000000')).toBe(1_700_000_000_000_000_000n);
    expect(parseSinceNs('1700000000.25')).toBe(1_700_000_000_250_000_000n);
    expect(parseSinceNs('2026-11-21')).toBe(BigInt(Date.parse('2026-11-21T00:00:00Z')) * 1_000_000n);
    expect(parseSinceNs('2026-11-21T10:00:00')).toBe(timeNs('2026-11-21T10:00:00Z'));
    expect(() => parseSinceNs('soon')).toThrow(UsageError);
  });

  it('--tail accepts all, numbers, and treats negative as all', () => {
    expect(parseTail(undefined)).toBeUndefined();
    expect(parseTail('all')).toBeUndefined();
    expect(parseTail('5')).toBe(5);
    expect(parseTail('-1')).toBeUndefined();
    expect(() => parseTail('five')).toThrow(UsageError);
  });

  it('--timestamps puts the time in front', () => {
    expect(formatEntry({ stream: 'stdout', text: 'x\n', time: 'T' }, true)).toBe('T x\n');
    expect(formatEntry({ stream: 'stdout', text: 'x\n', time: 'T' }, false)).toBe('x\n');
  });
});

describe('stats', () => {
  const row = { id: 'a'.repeat(64), name: 'web' } as ContainerRow;
  const s = (atNs: bigint, usageNs: number, mem: number, limit: number | null): Sample => ({
    row,
    atNs,
    cg: {
      cpu: { usageNs },
      memory: { usageBytes: mem, limitBytes: limit, inactiveFileBytes: 1024 * 1024, oomKills: 0 },
      pids: { current: 3, limit: null },
    },
    net: { read: 1234, write: 56 },
    block: { read: 4096, write: 2_500_000 },
  });

  it('CPU % from two samples (100% = one CPU), memory minus inactive file against the limit', () => {
    const l = statsLine(s(0n, 0, 0, null), s(1_000_000_000n, 1_500_000_000, 65 * 1024 * 1024, 128 * 1024 * 1024), 8 * 1024 ** 3);
    expect(l.cpuPercent).toBeCloseTo(150);
    expect(l.memUsage).toBe(64 * 1024 * 1024);
    expect(l.memLimit).toBe(128 * 1024 * 1024);
    expect(l.memPercent).toBeCloseTo(50);
    expect(statsStrings(l)).toEqual({
      BlockIO: '4.1kB / 2.5MB',
      CPUPerc: '150.00%',
      Container: 'aaaaaaaaaaaa',
      ID: 'aaaaaaaaaaaa',
      MemPerc: '50.00%',
      MemUsage: '64MiB / 128MiB',
      Name: 'web',
      NetIO: '1.23kB / 56B',
      PIDs: '3',
    });
  });

  it('no limit (or one above the host) shows the host memory; one sample shows 0% CPU', () => {
    const l = statsLine(undefined, s(5n, 99, 2 * 1024 * 1024, null), 1024 ** 3);
    expect(l.cpuPercent).toBe(0);
    expect(l.memLimit).toBe(1024 ** 3);
    expect(statsLine(undefined, s(5n, 99, 2 * 1024 * 1024, 2 ** 62), 1024 ** 3).memLimit).toBe(1024 ** 3);
  });

  it('units: binary for memory, decimal for I/O', () => {
    expect(binarySize(0)).toBe('0B');
    expect(binarySize(1536)).toBe('1.5KiB');
    expect(binarySize(7.7 * 1024 ** 3)).toBe('7.7GiB');
    expect(decimalSize(999)).toBe('999B');
    expect(decimalSize(1_234_567)).toBe('1.23MB');
    expect(decimalSize(1_000_000)).toBe('1MB'); // %.3g, as docker: no trailing zeros
    expect(decimalSize(100_000)).toBe('100kB');
  });

  it('parses /proc/PID/net/dev without lo', () => {
    const text = [
      'Inter-|   Receive                                                |  Transmit',
      ' face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed',
      '    lo:     100       1    0    0    0     0          0         0      100       1    0    0    0     0       0          0',
      '  eth0:    2000      10    0    0    0     0          0         0      300       3    0    0    0     0       0          0',
      '  eth1:      50       1    0    0    0     0          0         0       20       1    0    0    0     0       0          0',
    ].join('\n');
    expect(parseNetDev(text)).toEqual({ read: 2050, write: 320 });
  });

  it('parses v1 blkio and v2 io.stat', () => {
    expect(parseBlkio('8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 1\n8:16 Read 1\nTotal 12289\n')).toEqual({
      read: 4097,
      write: 8192,
    });
    expect(parseBlkio('8:0 rbytes=100 wbytes=200 rios=1 wios=2\n253:0 rbytes=1 wbytes=2\n')).toEqual({ read: 101, write: 202 });
  });
});

describe('top', () => {
  it('keeps the header and the rows of the given pids, whatever the PID column', () => {
    const ps =
      'UID          PID    PPID  C STIME TTY          TIME CMD\nroot           1       0  0 10:00 ?        00:00:01 init\nroot         42       7  0 10:00 ?        00:00:00 sleep 100\n';
    expect(filterPs(ps, new Set([42])).lines).toEqual([ps.split('\n')[0], ps.split('\n')[2]]);
    expect(filterPs('  PID COMMAND\n   42 sleep\n   43 sh\n', new Set([43])).lines).toEqual(['  PID COMMAND', '   43 sh']);
    expect(() => filterPs('COMMAND\nsleep\n', new Set([1]))).toThrow(/PID column/);
  });
});

describe('inspect and ps shaping', () => {
  it('turns overlay mount data relative to the driver home into absolute paths', () => {
    const d = graphData(
      {
        type: 'overlay',
        source: 'overlay',
        data: 'lowerdir=l/A:l/B,upperdir=X/diff,workdir=X/work,index=off',
        cwd: '/s/overlay',
      },
      '/s/overlay/X/merged',
    );
    expect(d).toEqual({
      LowerDir: '/s/overlay/l/A:/s/overlay/l/B',
      UpperDir: '/s/overlay/X/diff',
      WorkDir: '/s/overlay/X/work',
      MergedDir: '/s/overlay/X/merged',
    });
    expect(graphData({ type: 'bind', source: '/s/vfs/dir/X', data: 'rbind' }, '/s/vfs/dir/X')).toEqual({ Dir: '/s/vfs/dir/X' });
  });

  it('ps filters: status, name, id, label, exited; bad ones are usage errors', () => {
    const f = parsePsFilters(['status=exited', 'status=created', 'name=web', 'label=a=b', 'label=c', 'exited=0']);
    expect([...f.status]).toEqual(['exited', 'created']);
    expect(f.label).toEqual([
      ['a', 'b'],
      ['c', undefined],
    ]);
    expect(f.exited).toEqual([0]);
    expect(() => parsePsFilters(['status=sleepy'])).toThrow(UsageError);
    expect(() => parsePsFilters(['colour=red'])).toThrow(UsageError);
    expect(() => parsePsFilters(['nonsense'])).toThrow(UsageError);
    expect(f.name.map((re) => re.test('my-web-1'))).toEqual([true]);
    // name= is a regular expression: a bad one is a one-line usage error (exit 125), not a crash
    expect(() => parsePsFilters(['name=('])).toThrow(UsageError);
    expect(() => parsePsFilters(['name=('])).toThrow(/^invalid filter 'name=\(': Unterminated group$/);
    expect(() => parsePsFilters(['name=['])).toThrow(/^invalid filter 'name=\[': [^\n]+$/);
  });

  it("CreatedAt in docker's format", () => {
    expect(dockerTime('2026-11-21T23:59:01.123Z')).toBe('2026-11-21 23:59:01 +0000 UTC');
  });
});
