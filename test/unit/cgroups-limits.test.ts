import { describe, expect, it } from 'vitest';
import {
  blkioToIoWeight,
  parseCgroupLimits,
  parseCpuList,
  parseMemory,
  parseMemorySwap,
  sharesToWeight,
} from '../../src/cgroups/index.js';
import { resolveLimits, v1Writes, v2Writes, type V1Caps } from '../../src/cgroups/limits.js';
import { UnsupportedError, UsageError } from '../../src/util/errors.js';

const host = { cpuCount: 2, cpus: '0-1', mems: '0' };
const MiB = 1024 * 1024;
const allV1 = new Set(['memory', 'cpu', 'cpuacct', 'cpuset', 'pids', 'blkio', 'freezer', 'devices']);
const v1caps: V1Caps = { memsw: true, blkioWeightFile: 'blkio.weight', controllers: allV1, devices: false };
const v2caps = { controllers: new Set(['cpuset', 'cpu', 'io', 'memory', 'pids']), swap: true, ioBfqWeight: false };

describe('parseMemory', () => {
  it.each([
    ['32m', 32 * MiB],
    ['1g', 1024 * MiB],
    ['512k', 512 * 1024],
    ['100b', 100],
    ['1024', 1024],
    ['1.5g', 1.5 * 1024 * MiB],
    ['64M', 64 * MiB],
    ['64mb', 64 * MiB],
    ['2GiB', 2 * 1024 * MiB],
    ['1t', 1024 ** 4],
  ])('%s -> %d', (s, n) => expect(parseMemory(s)).toBe(n));

  it.each(['', 'abc', '-1', '32x', '1.2.3m', 'm', '10 mb b'])('rejects %j with one sentence', (s) => {
    expect(() => parseMemory(s)).toThrow(UsageError);
    try {
      parseMemory(s);
    } catch (err) {
      expect((err as Error).message).toMatch(/^Invalid size "[^"]*": [^\n]+\.$/);
    }
  });

  it('takes -1 for --memory-swap', () => {
    expect(parseMemorySwap('-1')).toBe(-1);
    expect(parseMemorySwap('1g')).toBe(1024 * MiB);
  });
});

describe('parseCpuList', () => {
  it('parses lists and ranges', () => {
    expect(parseCpuList('0-2,4')).toEqual([0, 1, 2, 4]);
    expect(parseCpuList('3')).toEqual([3]);
    expect(parseCpuList('1,1')).toEqual([1]);
    expect(parseCpuList('')).toEqual([]);
  });
  it.each(['a', '2-1', '1-', ',', '0,,1', '-1'])('rejects %j', (s) => expect(parseCpuList(s)).toBeUndefined());
});

describe('resolveLimits: docker validation', () => {
  const msg = (l: Parameters<typeof resolveLimits>[0]) => {
    try {
      resolveLimits(l, host);
    } catch (err) {
      expect(err).toBeInstanceOf(UsageError);
      return (err as Error).message;
    }
    return 'no error';
  };
  it('gives docker messages', () => {
    expect(msg({ memoryBytes: 4 * MiB })).toBe('Minimum memory limit allowed is 6MB.');
    expect(msg({ memoryBytes: 64 * MiB, memorySwapBytes: 32 * MiB })).toBe(
      '--memory-swap must be larger than or equal to --memory.',
    );
    expect(msg({ memorySwapBytes: 64 * MiB })).toBe(
      'You should always set the Memory limit when using Memoryswap limit, see usage.',
    );
    expect(msg({ cpus: 3 })).toBe('Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available.');
    expect(msg({ cpus: 0.001 })).toBe('Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available.');
    expect(msg({ cpusetCpus: '0-3' })).toBe('Requested CPUs are not available - requested 0-3, available: 0-1.');
    expect(msg({ cpusetMems: '1' })).toBe('Requested memory nodes are not available - requested 1, available: 0.');
    expect(msg({ cpusetCpus: 'x' })).toBe('Invalid value x for cpuset cpus.');
    expect(msg({ blkioWeight: 5 })).toBe('Range of blkio weight is from 10 to 1000.');
    expect(msg({ pidsLimit: 1.5 })).toMatch(/^Invalid value 1\.5 for --pids-limit/);
  });

  it('treats 0 as "not set" and -1 swap / <= 0 pids as unlimited', () => {
    const r = resolveLimits({ memoryBytes: 0, cpus: 0, cpuShares: 0, pidsLimit: -1 }, host);
    expect(r.memory).toBeUndefined();
    expect(r.cpuQuotaUs).toBeUndefined();
    expect(r.pids).toBe('max');
    expect(resolveLimits({ pidsLimit: 0 }, host).pids).toBe('max');
    expect(resolveLimits({ memoryBytes: 64 * MiB, memorySwapBytes: -1 }, host).memorySwap).toBe('max');
  });

  it('defaults memory+swap to twice the memory, as docker does', () => {
    const r = resolveLimits({ memoryBytes: 64 * MiB }, host);
    expect(r.memorySwap).toBe(128 * MiB);
    expect(r.swapExplicit).toBe(false);
  });

  it('clamps cpu shares with a warning', () => {
    const r = resolveLimits({ cpuShares: 1 }, host);
    expect(r.cpuShares).toBe(2);
    expect(r.warnings).toEqual(['Changing requested CPUShares of 1 to minimum allowed of 2.']);
    expect(resolveLimits({ cpuShares: 1_000_000 }, host).cpuShares).toBe(262144);
  });

  it('turns --cpus into a CFS quota', () => {
    const r = resolveLimits({ cpus: 0.5 }, host);
    expect([r.cpuQuotaUs, r.cpuPeriodUs]).toEqual([50000, 100000]);
    expect(resolveLimits({ cpus: 1.25 }, host).cpuQuotaUs).toBe(125000);
  });
});

describe('parseCgroupLimits (flags)', () => {
  it('parses the run flags', () => {
    expect(
      parseCgroupLimits(
        { memory: '32m', memorySwap: '-1', cpus: '0.5', cpuShares: '512', cpusetCpus: '0', pidsLimit: '100', blkioWeight: '300' },
        2,
      ),
    ).toEqual({
      memoryBytes: 32 * MiB,
      memorySwapBytes: -1,
      cpus: 0.5,
      cpuShares: 512,
      cpusetCpus: '0',
      pidsLimit: 100,
      blkioWeight: 300,
    });
    expect(parseCgroupLimits({})).toEqual({});
    expect(parseCgroupLimits({ memory: undefined, cpus: '' })).toEqual({});
  });
  it('fails on bad flags before anything is made', () => {
    expect(() => parseCgroupLimits({ cpus: 'lots' }, 2)).toThrow(
      'Invalid value "lots" for --cpus: it must be a number of CPUs such as 1.5.',
    );
    expect(() => parseCgroupLimits({ cpus: '4' }, 2)).toThrow(
      'Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available.',
    );
    expect(() => parseCgroupLimits({ memory: '1m' }, 2)).toThrow('Minimum memory limit allowed is 6MB.');
    expect(() => parseCgroupLimits({ memory: '64m', memorySwap: '32m' }, 2)).toThrow(
      '--memory-swap must be larger than or equal to --memory.',
    );
    expect(() => parseCgroupLimits({ pidsLimit: 'many' }, 2)).toThrow(UsageError);
  });
});

describe('v1Writes', () => {
  it('orders memory before memsw and period before quota', () => {
    const r = resolveLimits(
      {
        memoryBytes: 64 * MiB,
        memorySwapBytes: 128 * MiB,
        cpus: 0.5,
        cpuShares: 512,
        cpusetCpus: '1',
        pidsLimit: 50,
        blkioWeight: 300,
      },
      host,
    );
    expect(v1Writes(r, v1caps)).toEqual([
      { controller: 'memory', file: 'memory.limit_in_bytes', value: String(64 * MiB) },
      { controller: 'memory', file: 'memory.memsw.limit_in_bytes', value: String(128 * MiB) },
      { controller: 'cpu', file: 'cpu.shares', value: '512' },
      { controller: 'cpu', file: 'cpu.cfs_period_us', value: '100000' },
      { controller: 'cpu', file: 'cpu.cfs_quota_us', value: '50000' },
      { controller: 'cpuset', file: 'cpuset.cpus', value: '1' },
      { controller: 'pids', file: 'pids.max', value: '50' },
      { controller: 'blkio', file: 'blkio.weight', value: '300' },
    ]);
  });

  it('writes -1 for unlimited swap', () => {
    const r = resolveLimits({ memoryBytes: 64 * MiB, memorySwapBytes: -1 }, host);
    expect(v1Writes(r, v1caps)[1]).toEqual({ controller: 'memory', file: 'memory.memsw.limit_in_bytes', value: '-1' });
  });

  it('without swap accounting: an explicit --memory-swap is unsupported, the default only warns', () => {
    const caps = { ...v1caps, memsw: false };
    expect(() => v1Writes(resolveLimits({ memoryBytes: 64 * MiB, memorySwapBytes: 128 * MiB }, host), caps)).toThrow(
      UnsupportedError,
    );
    expect(() => v1Writes(resolveLimits({ memoryBytes: 64 * MiB, memorySwapBytes: 128 * MiB }, host), caps)).toThrow(
      '--memory-swap is not supported on this host: the kernel does not account swap (memory.memsw.limit_in_bytes is missing).',
    );
    const r = resolveLimits({ memoryBytes: 64 * MiB }, host);
    expect(v1Writes(r, caps)).toHaveLength(1);
    expect(r.warnings[0]).toMatch(/does not support swap limit capabilities/);
  });

  it('sets the docker device list: deny all, then allow', () => {
    const r = resolveLimits({ devices: [{ type: 'c', major: 10, minor: 200, access: 'rwm' }] }, host);
    const w = v1Writes(r, { ...v1caps, devices: true });
    expect(w[0]).toEqual({ controller: 'devices', file: 'devices.deny', value: 'a' });
    expect(w.map((x) => x.value)).toEqual(
      expect.arrayContaining(['c *:* m', 'b *:* m', 'c 1:3 rwm', 'c 136:* rwm', 'c 5:2 rwm', 'c 10:200 rwm']),
    );
  });

  it('names what is missing when a controller or file is not there', () => {
    const r = resolveLimits({ blkioWeight: 500 }, host);
    expect(() => v1Writes(r, { ...v1caps, blkioWeightFile: undefined })).toThrow(
      /--blkio-weight is not supported on this host: neither blkio.weight nor blkio.bfq.weight/,
    );
    expect(() => v1Writes(resolveLimits({ pidsLimit: 5 }, host), { ...v1caps, controllers: new Set(['memory']) })).toThrow(
      '--pids-limit is not supported on this host: no cgroup v1 hierarchy has the pids controller.',
    );
  });
});

describe('v2Writes', () => {
  it('translates to cgroup2 files', () => {
    const r = resolveLimits(
      {
        memoryBytes: 64 * MiB,
        memorySwapBytes: 100 * MiB,
        cpus: 1.5,
        cpuShares: 1024,
        cpusetCpus: '0-1',
        cpusetMems: '0',
        pidsLimit: 7,
        blkioWeight: 500,
      },
      host,
    );
    expect(v2Writes(r, v2caps)).toEqual([
      { controller: 'unified', file: 'memory.max', value: String(64 * MiB) },
      { controller: 'unified', file: 'memory.swap.max', value: String(36 * MiB) },
      { controller: 'unified', file: 'cpu.weight', value: '39' },
      { controller: 'unified', file: 'cpu.max', value: '150000 100000' },
      { controller: 'unified', file: 'cpuset.cpus', value: '0-1' },
      { controller: 'unified', file: 'cpuset.mems', value: '0' },
      { controller: 'unified', file: 'pids.max', value: '7' },
      { controller: 'unified', file: 'io.weight', value: `default ${blkioToIoWeight(500)}` },
    ]);
  });

  it('unlimited swap is "max"; the default (2x memory) is memory.swap.max = memory', () => {
    expect(v2Writes(resolveLimits({ memoryBytes: 64 * MiB, memorySwapBytes: -1 }, host), v2caps)[1]?.value).toBe('max');
    expect(v2Writes(resolveLimits({ memoryBytes: 64 * MiB }, host), v2caps)[1]?.value).toBe(String(64 * MiB));
  });

  it('uses io.bfq.weight as is when BFQ is there', () => {
    expect(v2Writes(resolveLimits({ blkioWeight: 500 }, host), { ...v2caps, ioBfqWeight: true })).toEqual([
      { controller: 'unified', file: 'io.bfq.weight', value: '500' },
    ]);
  });

  it('refuses what cgroup2 here cannot do', () => {
    expect(() =>
      v2Writes(resolveLimits({ memoryBytes: 64 * MiB, memorySwapBytes: 128 * MiB }, host), { ...v2caps, swap: false }),
    ).toThrow(/memory.swap.max is missing/);
    expect(() => v2Writes(resolveLimits({ cpusetCpus: '0' }, host), { ...v2caps, controllers: new Set(['memory']) })).toThrow(
      '--cpuset-cpus is not supported on this host: the cpuset controller is not available in the parent cgroup.',
    );
    expect(() => v2Writes(resolveLimits({ devices: [{ type: 'c', major: 1, minor: 1, access: 'r' }] }, host), v2caps)).toThrow(
      UnsupportedError,
    );
  });
});

describe('weight conversions (crun/runc formulas)', () => {
  it('maps shares to cpu.weight', () => {
    expect(sharesToWeight(2)).toBe(1);
    expect(sharesToWeight(1024)).toBe(39);
    expect(sharesToWeight(262144)).toBe(10000);
  });
  it('maps blkio weight to io.weight', () => {
    expect(blkioToIoWeight(10)).toBe(1);
    expect(blkioToIoWeight(1000)).toBe(10000);
    expect(blkioToIoWeight(500)).toBe(4950);
  });
});
