// Limits: docker's units and ranges, validation with one-sentence errors, and the translation of
// one set of limits into the files of cgroup v1 and cgroup v2. Pure functions, unit-tested.
import { availableParallelism } from 'node:os';
import { UnsupportedError, UsageError } from '../util/errors.js';
import type { CgroupLimits, DeviceRule, HostResources } from './types.js';

// ---------------------------------------------------------------------------------------------
// Sizes

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 };

/**
 * Parses a size as docker's `--memory` does: a number with an optional binary unit
 * (b, k, m, g, t, p; "kb", "mib" and capitals accepted), e.g. 32m, 1g, 512k, 100b, 1024, 1.5g.
 */
export function parseMemory(value: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s?([bkmgtp]?)(?:i?b)?\s*$/i.exec(value);
  if (!m) {
    throw new UsageError(`Invalid size "${value}": use a number with an optional unit b, k, m, g (for example 512m or 1g).`);
  }
  const bytes = Math.floor(Number(m[1]) * UNITS[m[2]!.toLowerCase()]!);
  if (!Number.isSafeInteger(bytes)) throw new UsageError(`Invalid size "${value}": the value is too large.`);
  return bytes;
}

/** `--memory-swap`: a size, or -1 for unlimited swap. */
export function parseMemorySwap(value: string): number {
  return value.trim() === '-1' ? -1 : parseMemory(value);
}

// ---------------------------------------------------------------------------------------------
// CPU lists

/** Parses a cpuset list ("0-2,4") into sorted numbers; undefined when malformed. */
export function parseCpuList(list: string): number[] | undefined {
  const s = list.trim();
  if (s === '') return [];
  const out = new Set<number>();
  for (const part of s.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) return undefined;
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (b < a || b - a > 65536) return undefined;
    for (let i = a; i <= b; i++) out.add(i);
  }
  return [...out].sort((x, y) => x - y);
}

function checkCpuset(value: string, available: string, what: 'cpus' | 'mems'): string {
  const want = parseCpuList(value);
  if (!want || want.length === 0) throw new UsageError(`Invalid value ${value} for cpuset ${what}.`);
  const have = new Set(parseCpuList(available) ?? []);
  if (have.size > 0 && !want.every((n) => have.has(n))) {
    const noun = what === 'cpus' ? 'CPUs' : 'memory nodes';
    throw new UsageError(`Requested ${noun} are not available - requested ${value}, available: ${available}.`);
  }
  return value.replace(/\s+/g, '');
}

// ---------------------------------------------------------------------------------------------
// Validation

export const MIN_MEMORY = 6 * 1024 * 1024;
export const CFS_PERIOD_US = 100_000;
const MIN_SHARES = 2;
const MAX_SHARES = 262_144;

/** docker's default device list for unprivileged containers (v1 devices controller). */
export const DEFAULT_DEVICES: readonly DeviceRule[] = [
  { type: 'c', major: '*', minor: '*', access: 'm' },
  { type: 'b', major: '*', minor: '*', access: 'm' },
  { type: 'c', major: 1, minor: 3, access: 'rwm' }, // null
  { type: 'c', major: 1, minor: 5, access: 'rwm' }, // zero
  { type: 'c', major: 1, minor: 7, access: 'rwm' }, // full
  { type: 'c', major: 1, minor: 8, access: 'rwm' }, // random
  { type: 'c', major: 1, minor: 9, access: 'rwm' }, // urandom
  { type: 'c', major: 5, minor: 0, access: 'rwm' }, // tty
  { type: 'c', major: 5, minor: 1, access: 'rwm' }, // console
  { type: 'c', major: 5, minor: 2, access: 'rwm' }, // ptmx
  { type: 'c', major: 136, minor: '*', access: 'rwm' }, // pts
];

export function formatDeviceRule(r: DeviceRule): string {
  return r.type === 'a' ? 'a' : `${r.type} ${r.major}:${r.minor} ${r.access}`;
}

/** Limits after validation, in kernel units. `undefined` = leave the kernel default. */
export interface ResolvedLimits {
  memory?: number;
  /** Total memory + swap; 'max' = unlimited swap. */
  memorySwap?: number | 'max';
  /** memorySwap came from the user (else it is docker's default of twice the memory). */
  swapExplicit: boolean;
  cpuQuotaUs?: number;
  cpuPeriodUs?: number;
  cpuShares?: number;
  cpusetCpus?: string;
  cpusetMems?: string;
  pids?: number | 'max';
  blkioWeight?: number;
  devices: readonly DeviceRule[];
  warnings: string[];
}

function isNum(v: number | undefined): v is number {
  return v !== undefined && v !== null;
}

function requireFinite(v: number, flag: string): void {
  if (!Number.isFinite(v)) throw new UsageError(`Invalid value ${v} for ${flag}.`);
}

/** Checks limits as docker does and turns them into kernel values. */
export function resolveLimits(limits: CgroupLimits, host: HostResources): ResolvedLimits {
  const warnings: string[] = [];
  const out: ResolvedLimits = { swapExplicit: false, devices: limits.devices ?? [], warnings };

  if (isNum(limits.memoryBytes) && limits.memoryBytes !== 0) {
    requireFinite(limits.memoryBytes, '--memory');
    if (limits.memoryBytes < 0) throw new UsageError('Invalid value for --memory: it must be a positive size.');
    if (limits.memoryBytes < MIN_MEMORY) throw new UsageError('Minimum memory limit allowed is 6MB.');
    out.memory = Math.floor(limits.memoryBytes);
  }
  if (isNum(limits.memorySwapBytes) && limits.memorySwapBytes !== 0) {
    requireFinite(limits.memorySwapBytes, '--memory-swap');
    if (out.memory === undefined) {
      throw new UsageError('You should always set the Memory limit when using Memoryswap limit, see usage.');
    }
    if (limits.memorySwapBytes === -1) {
      out.memorySwap = 'max';
    } else if (limits.memorySwapBytes < 0) {
      throw new UsageError('Invalid value for --memory-swap: use a size or -1 for unlimited swap.');
    } else if (limits.memorySwapBytes < out.memory) {
      throw new UsageError('--memory-swap must be larger than or equal to --memory.');
    } else {
      out.memorySwap = Math.floor(limits.memorySwapBytes);
    }
    out.swapExplicit = true;
  } else if (out.memory !== undefined) {
    out.memorySwap = out.memory * 2; // docker's default
  }

  if (isNum(limits.cpus) && limits.cpus !== 0) {
    requireFinite(limits.cpus, '--cpus');
    const n = host.cpuCount;
    if (limits.cpus < 0.01 || limits.cpus > n) {
      throw new UsageError(`Range of CPUs is from 0.01 to ${n}.00, as there are only ${n} CPUs available.`);
    }
    out.cpuPeriodUs = CFS_PERIOD_US;
    out.cpuQuotaUs = Math.round(limits.cpus * CFS_PERIOD_US);
  }
  if (isNum(limits.cpuShares) && limits.cpuShares !== 0) {
    requireFinite(limits.cpuShares, '--cpu-shares');
    if (limits.cpuShares < 0 || !Number.isInteger(limits.cpuShares)) {
      throw new UsageError(`Invalid value ${limits.cpuShares} for --cpu-shares: it must be a positive integer.`);
    }
    let s = limits.cpuShares;
    if (s < MIN_SHARES) {
      warnings.push(`Changing requested CPUShares of ${s} to minimum allowed of ${MIN_SHARES}.`);
      s = MIN_SHARES;
    } else if (s > MAX_SHARES) {
      warnings.push(`Changing requested CPUShares of ${s} to maximum allowed of ${MAX_SHARES}.`);
      s = MAX_SHARES;
    }
    out.cpuShares = s;
  }
  if (limits.cpusetCpus !== undefined && limits.cpusetCpus !== '')
    out.cpusetCpus = checkCpuset(limits.cpusetCpus, host.cpus, 'cpus');
  if (limits.cpusetMems !== undefined && limits.cpusetMems !== '')
    out.cpusetMems = checkCpuset(limits.cpusetMems, host.mems, 'mems');

  if (isNum(limits.pidsLimit)) {
    requireFinite(limits.pidsLimit, '--pids-limit');
    if (!Number.isInteger(limits.pidsLimit))
      throw new UsageError(`Invalid value ${limits.pidsLimit} for --pids-limit: it must be an integer.`);
    // docker: 0 and -1 (any value <= 0) mean unlimited.
    out.pids = limits.pidsLimit > 0 ? limits.pidsLimit : 'max';
  }
  if (isNum(limits.blkioWeight) && limits.blkioWeight !== 0) {
    if (!Number.isInteger(limits.blkioWeight) || limits.blkioWeight < 10 || limits.blkioWeight > 1000) {
      throw new UsageError('Range of blkio weight is from 10 to 1000.');
    }
    out.blkioWeight = limits.blkioWeight;
  }
  for (const d of out.devices) {
    const num = (x: number | '*') => x === '*' || (Number.isInteger(x) && x >= 0);
    if (!['a', 'b', 'c'].includes(d.type) || !num(d.major) || !num(d.minor) || !/^[rwm]{1,3}$/.test(d.access)) {
      throw new UsageError(`Invalid device cgroup rule "${formatDeviceRule(d)}".`);
    }
  }
  return out;
}

/** Limits as the CLI receives them: strings from flags (numbers are accepted too). */
export interface CgroupLimitFlags {
  memory?: string | number | undefined;
  memorySwap?: string | number | undefined;
  cpus?: string | number | undefined;
  cpuShares?: string | number | undefined;
  cpusetCpus?: string | undefined;
  cpusetMems?: string | undefined;
  pidsLimit?: string | number | undefined;
  blkioWeight?: string | number | undefined;
}

function flagNumber(v: string | number, flag: string, pattern: RegExp, what: string): number {
  if (typeof v === 'number') return v;
  if (!pattern.test(v.trim())) throw new UsageError(`Invalid value "${v}" for ${flag}: it must be ${what}.`);
  return Number(v.trim());
}

/**
 * Parses `run`/`create` flags into CgroupLimits and checks everything that does not need the
 * cgroup tree (sizes, ranges, the --cpus range against this machine's CPU count), so that a bad
 * flag fails before anything is made. cpuset availability is checked again on create.
 */
export function parseCgroupLimits(flags: CgroupLimitFlags, cpuCount: number = availableParallelism()): CgroupLimits {
  const out: CgroupLimits = {};
  if (flags.memory !== undefined && flags.memory !== '') {
    out.memoryBytes = typeof flags.memory === 'number' ? flags.memory : parseMemory(flags.memory);
  }
  if (flags.memorySwap !== undefined && flags.memorySwap !== '') {
    out.memorySwapBytes = typeof flags.memorySwap === 'number' ? flags.memorySwap : parseMemorySwap(flags.memorySwap);
  }
  if (flags.cpus !== undefined && flags.cpus !== '')
    out.cpus = flagNumber(flags.cpus, '--cpus', /^\d+(\.\d+)?$/, 'a number of CPUs such as 1.5');
  if (flags.cpuShares !== undefined && flags.cpuShares !== '')
    out.cpuShares = flagNumber(flags.cpuShares, '--cpu-shares', /^\d+$/, 'a whole number');
  if (flags.cpusetCpus !== undefined && flags.cpusetCpus !== '') out.cpusetCpus = flags.cpusetCpus;
  if (flags.cpusetMems !== undefined && flags.cpusetMems !== '') out.cpusetMems = flags.cpusetMems;
  if (flags.pidsLimit !== undefined && flags.pidsLimit !== '')
    out.pidsLimit = flagNumber(flags.pidsLimit, '--pids-limit', /^-?\d+$/, 'a whole number (0 or -1 for unlimited)');
  if (flags.blkioWeight !== undefined && flags.blkioWeight !== '')
    out.blkioWeight = flagNumber(flags.blkioWeight, '--blkio-weight', /^\d+$/, 'a whole number from 10 to 1000');
  // Empty cpu/mem lists skip the availability check, which needs the cgroup tree.
  resolveLimits(out, { cpuCount, cpus: '', mems: '' });
  return out;
}

// ---------------------------------------------------------------------------------------------
// Translation

/** One value to write into one file of the container's group. */
export interface CgWrite {
  /** v1: the controller whose directory holds the file; v2: always "unified". */
  controller: string;
  file: string;
  value: string;
}

/** What the v1 hierarchies of this machine can do. */
export interface V1Caps {
  /** memory.memsw.limit_in_bytes exists (swap accounting). */
  memsw: boolean;
  /** blkio.weight (CFQ) or blkio.bfq.weight (BFQ), if either exists. */
  blkioWeightFile?: string;
  /** Controllers that have a hierarchy. */
  controllers: ReadonlySet<string>;
  /** Set the devices list (false: leave the container's devices as its parent's). */
  devices: boolean;
}

const NO_SWAP_WARNING =
  'Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap.';

function need(caps: ReadonlySet<string>, controller: string, flag: string, version: 1 | 2): void {
  if (!caps.has(controller)) {
    const where =
      version === 1
        ? `no cgroup v1 hierarchy has the ${controller} controller`
        : `the ${controller} controller is not available in the parent cgroup`;
    throw new UnsupportedError(`${flag} is not supported on this host: ${where}.`);
  }
}

/**
 * The v1 writes for `r`, in the order they must happen on a new group: memory limit before
 * memory+swap, CFS period before quota, deny-all before the device allow list.
 */
export function v1Writes(r: ResolvedLimits, caps: V1Caps): CgWrite[] {
  const w: CgWrite[] = [];
  if (r.memory !== undefined) {
    need(caps.controllers, 'memory', '--memory', 1);
    w.push({ controller: 'memory', file: 'memory.limit_in_bytes', value: String(r.memory) });
    if (r.memorySwap !== undefined) {
      if (caps.memsw) {
        w.push({
          controller: 'memory',
          file: 'memory.memsw.limit_in_bytes',
          value: r.memorySwap === 'max' ? '-1' : String(r.memorySwap),
        });
      } else if (r.swapExplicit && r.memorySwap !== 'max') {
        throw new UnsupportedError(
          '--memory-swap is not supported on this host: the kernel does not account swap (memory.memsw.limit_in_bytes is missing).',
        );
      } else {
        r.warnings.push(NO_SWAP_WARNING);
      }
    }
  }
  if (r.cpuShares !== undefined) {
    need(caps.controllers, 'cpu', '--cpu-shares', 1);
    w.push({ controller: 'cpu', file: 'cpu.shares', value: String(r.cpuShares) });
  }
  if (r.cpuQuotaUs !== undefined) {
    need(caps.controllers, 'cpu', '--cpus', 1);
    w.push({ controller: 'cpu', file: 'cpu.cfs_period_us', value: String(r.cpuPeriodUs ?? CFS_PERIOD_US) });
    w.push({ controller: 'cpu', file: 'cpu.cfs_quota_us', value: String(r.cpuQuotaUs) });
  }
  if (r.cpusetCpus !== undefined) {
    need(caps.controllers, 'cpuset', '--cpuset-cpus', 1);
    w.push({ controller: 'cpuset', file: 'cpuset.cpus', value: r.cpusetCpus });
  }
  if (r.cpusetMems !== undefined) {
    need(caps.controllers, 'cpuset', '--cpuset-mems', 1);
    w.push({ controller: 'cpuset', file: 'cpuset.mems', value: r.cpusetMems });
  }
  if (r.pids !== undefined) {
    need(caps.controllers, 'pids', '--pids-limit', 1);
    w.push({ controller: 'pids', file: 'pids.max', value: String(r.pids) });
  }
  if (r.blkioWeight !== undefined) {
    need(caps.controllers, 'blkio', '--blkio-weight', 1);
    if (!caps.blkioWeightFile) {
      throw new UnsupportedError(
        '--blkio-weight is not supported on this host: neither blkio.weight nor blkio.bfq.weight exists (no CFQ or BFQ scheduler).',
      );
    }
    w.push({ controller: 'blkio', file: caps.blkioWeightFile, value: String(r.blkioWeight) });
  }
  if (caps.devices && caps.controllers.has('devices')) {
    w.push({ controller: 'devices', file: 'devices.deny', value: 'a' });
    for (const d of [...DEFAULT_DEVICES, ...r.devices])
      w.push({ controller: 'devices', file: 'devices.allow', value: formatDeviceRule(d) });
  } else if (r.devices.length > 0) {
    throw new UnsupportedError('Device cgroup rules are not supported on this host: there is no devices controller.');
  }
  return w;
}

/** cpu.weight for v1 shares, the conversion crun and runc use (2 -> 1, 1024 -> 39, 262144 -> 10000). */
export function sharesToWeight(shares: number): number {
  return 1 + Math.floor(((shares - 2) * 9999) / 262142);
}

/** io.weight (1..10000) for a blkio weight (10..1000). */
export function blkioToIoWeight(weight: number): number {
  return 1 + Math.floor(((weight - 10) * 9999) / 990);
}

/** What the cgroup2 parent of this machine offers. */
export interface V2Caps {
  /** Controllers enabled for the container's group. */
  controllers: ReadonlySet<string>;
  /** memory.swap.max exists. */
  swap: boolean;
  /** io.bfq.weight exists (takes the blkio value as it is); else io.weight is used. */
  ioBfqWeight: boolean;
}

export function v2Writes(r: ResolvedLimits, caps: V2Caps): CgWrite[] {
  const w: CgWrite[] = [];
  const u = (file: string, value: string) => w.push({ controller: 'unified', file, value });
  if (r.memory !== undefined) {
    need(caps.controllers, 'memory', '--memory', 2);
    u('memory.max', String(r.memory));
    if (r.memorySwap !== undefined) {
      if (caps.swap) {
        u('memory.swap.max', r.memorySwap === 'max' ? 'max' : String(r.memorySwap - r.memory));
      } else if (r.swapExplicit && r.memorySwap !== 'max') {
        throw new UnsupportedError(
          '--memory-swap is not supported on this host: the kernel does not account swap (memory.swap.max is missing).',
        );
      } else {
        r.warnings.push(NO_SWAP_WARNING);
      }
    }
  }
  if (r.cpuShares !== undefined) {
    need(caps.controllers, 'cpu', '--cpu-shares', 2);
    u('cpu.weight', String(sharesToWeight(r.cpuShares)));
  }
  if (r.cpuQuotaUs !== undefined) {
    need(caps.controllers, 'cpu', '--cpus', 2);
    u('cpu.max', `${r.cpuQuotaUs} ${r.cpuPeriodUs ?? CFS_PERIOD_US}`);
  }
  if (r.cpusetCpus !== undefined) {
    need(caps.controllers, 'cpuset', '--cpuset-cpus', 2);
    u('cpuset.cpus', r.cpusetCpus);
  }
  if (r.cpusetMems !== undefined) {
    need(caps.controllers, 'cpuset', '--cpuset-mems', 2);
    u('cpuset.mems', r.cpusetMems);
  }
  if (r.pids !== undefined) {
    need(caps.controllers, 'pids', '--pids-limit', 2);
    u('pids.max', String(r.pids));
  }
  if (r.blkioWeight !== undefined) {
    need(caps.controllers, 'io', '--blkio-weight', 2);
    if (caps.ioBfqWeight) u('io.bfq.weight', String(r.blkioWeight));
    else u('io.weight', `default ${blkioToIoWeight(r.blkioWeight)}`);
  }
  if (r.devices.length > 0) {
    throw new UnsupportedError(
      'Device cgroup rules are not supported with cgroup v2 here: they need an eBPF device program, which tscontainer does not load.',
    );
  }
  return w;
}
