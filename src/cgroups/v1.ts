// cgroup v1: one directory per hierarchy, `<mount>/<parent>/<id>` in each of memory, cpu,
// cpuacct, cpuset, pids, blkio, freezer and devices (co-mounted controllers share a directory).
// Groups hang off the hierarchy's root, never off the group our own process is in.
import { join } from 'node:path';
import { SystemError, UnsupportedError } from '../util/errors.js';
import {
  DEFAULT_PARENT,
  FREEZE_TIMEOUT_MS,
  REMOVE_TIMEOUT_MS,
  applyWrites,
  cgroupPathOf,
  checkId,
  checkParent,
  hostResources,
  killAll,
  killUntilEmpty,
  parseLimit,
  parseNum,
  pidsRecursive,
  removeTree,
} from './common.js';
import { nodeCgroupFs, parseKeyed, readCg, sleep, writeCg, type CgroupFs } from './fsops.js';
import { resolveLimits, v1Writes, type ResolvedLimits } from './limits.js';
import {
  V1_CONTROLLERS,
  type CgroupLayout,
  type CgroupLimits,
  type CgroupOptions,
  type CgroupStats,
  type ContainerCgroup,
  type Hierarchy,
  type V1Controller,
} from './types.js';

interface V1Plan {
  cfs: CgroupFs;
  /** controller -> container directory. */
  dirs: Map<V1Controller, string>;
  /** hierarchy mount point -> [parent directories top-down, container directory]. */
  hierarchies: Map<string, { h: Hierarchy; parents: string[]; dir: string }>;
  cgroupPath: string;
}

function plan(layout: CgroupLayout, id: string, opts: CgroupOptions): V1Plan {
  checkId(id);
  const segs = checkParent(opts.parent ?? DEFAULT_PARENT);
  const dirs = new Map<V1Controller, string>();
  const hierarchies = new Map<string, { h: Hierarchy; parents: string[]; dir: string }>();
  for (const c of V1_CONTROLLERS) {
    const h = layout.v1[c];
    if (!h) continue;
    const dir = join(h.mountPoint, ...segs, id);
    dirs.set(c, dir);
    if (!hierarchies.has(h.mountPoint)) {
      const parents = segs.map((_s, i) => join(h.mountPoint, ...segs.slice(0, i + 1)));
      hierarchies.set(h.mountPoint, { h, parents, dir });
    }
  }
  if (!dirs.has('memory')) throw new UnsupportedError('cgroup v1 is in use but no hierarchy has the memory controller.');
  const root = layout.v1.memory?.root ?? '/';
  return { cfs: opts.fs ?? nodeCgroupFs, dirs, hierarchies, cgroupPath: cgroupPathOf(root, segs, id) };
}

/** A new cpuset group starts with empty cpus and mems; it takes its parent's. */
function inheritCpuset(cfs: CgroupFs, dir: string): void {
  const parent = join(dir, '..');
  for (const f of ['cpuset.cpus', 'cpuset.mems']) {
    if ((readCg(cfs, join(dir, f)) ?? '') !== '') continue;
    const v = readCg(cfs, join(parent, f)) ?? '';
    if (v !== '') writeCg(cfs, join(dir, f), v);
  }
}

function hostFor(cfs: CgroupFs, layout: CgroupLayout, opts: CgroupOptions, limits: CgroupLimits) {
  if (opts.host) return opts.host;
  const cs = layout.v1.cpuset?.mountPoint;
  const needSets = !!(limits.cpusetCpus || limits.cpusetMems);
  return hostResources(
    cfs,
    needSets,
    cs ? [join(cs, 'cpuset.effective_cpus'), join(cs, 'cpuset.cpus')] : [],
    cs ? [join(cs, 'cpuset.effective_mems'), join(cs, 'cpuset.mems')] : [],
  );
}

function writesFor(p: V1Plan, layout: CgroupLayout, r: ResolvedLimits, devices: boolean) {
  const blkio = p.dirs.get('blkio');
  const blkioWeightFile = blkio ? ['blkio.weight', 'blkio.bfq.weight'].find((f) => p.cfs.exists(join(blkio, f))) : undefined;
  const memRoot = layout.v1.memory!.mountPoint;
  return v1Writes(r, {
    memsw: p.cfs.exists(join(memRoot, 'memory.memsw.limit_in_bytes')),
    ...(blkioWeightFile ? { blkioWeightFile } : {}),
    controllers: new Set(p.dirs.keys()),
    devices,
  });
}

export function createV1(layout: CgroupLayout, id: string, limits: CgroupLimits, opts: CgroupOptions = {}): ContainerCgroup {
  const p = plan(layout, id, opts);
  const r = resolveLimits(limits, hostFor(p.cfs, layout, opts, limits));
  const created: string[] = [];
  try {
    for (const { h, parents, dir } of p.hierarchies.values()) {
      const isCpuset = h.controllers.includes('cpuset');
      for (const d of parents) {
        p.cfs.mkdir(d);
        if (isCpuset) inheritCpuset(p.cfs, d);
      }
      if (p.cfs.mkdir(dir)) created.push(dir);
      if (isCpuset) inheritCpuset(p.cfs, dir);
    }
    const writes = writesFor(p, layout, r, true);
    applyWrites(p.cfs, (c) => p.dirs.get(c as V1Controller)!, writes);
  } catch (err) {
    for (const d of created.reverse()) {
      try {
        p.cfs.rmdir(d);
      } catch {
        // best effort: the error that matters is the one being thrown
      }
    }
    throw err;
  }
  return new V1Cgroup(p, layout, r.warnings);
}

export function openV1(layout: CgroupLayout, id: string, opts: CgroupOptions = {}): ContainerCgroup {
  return new V1Cgroup(plan(layout, id, opts), layout, []);
}

class V1Cgroup implements ContainerCgroup {
  readonly version = 1 as const;
  readonly cgroupPath: string;
  readonly paths: Readonly<Record<string, string>>;
  readonly warnings: readonly string[];
  readonly #p: V1Plan;
  readonly #layout: CgroupLayout;

  constructor(p: V1Plan, layout: CgroupLayout, warnings: readonly string[]) {
    this.#p = p;
    this.#layout = layout;
    this.cgroupPath = p.cgroupPath;
    this.paths = Object.freeze(Object.fromEntries(p.dirs));
    this.warnings = warnings;
  }

  #dir(c: V1Controller): string | undefined {
    return this.#p.dirs.get(c);
  }

  /** One directory per hierarchy. */
  #uniqueDirs(): string[] {
    return [...this.#p.hierarchies.values()].map((x) => x.dir);
  }

  exists(): boolean {
    return this.#p.cfs.exists(this.#dir('memory')!);
  }

  addProcess(pid: number): void {
    for (const f of this.procsFiles()) writeCg(this.#p.cfs, f, String(pid));
  }

  procsFiles(): string[] {
    return this.#uniqueDirs().map((d) => join(d, 'cgroup.procs'));
  }

  oomFile(): string | undefined {
    return join(this.#dir('memory')!, 'memory.oom_control');
  }

  oomKilled(): boolean {
    return (parseKeyed(readCg(this.#p.cfs, this.oomFile()!)).get('oom_kill') ?? 0) > 0;
  }

  #freezerState(): string {
    const d = this.#dir('freezer');
    if (!d)
      throw new UnsupportedError('Pausing is not supported on this host: no cgroup v1 hierarchy has the freezer controller.');
    const s = readCg(this.#p.cfs, join(d, 'freezer.state'));
    if (s === undefined) throw new SystemError(`cgroup ${this.cgroupPath} does not exist.`);
    return s;
  }

  async freeze(): Promise<void> {
    const file = join(this.#dir('freezer') ?? '', 'freezer.state');
    const deadline = Date.now() + FREEZE_TIMEOUT_MS;
    for (;;) {
      const s = this.#freezerState();
      if (s === 'FROZEN') return;
      if (Date.now() >= deadline) {
        writeCg(this.#p.cfs, file, 'THAWED');
        throw new SystemError(`cgroup ${this.cgroupPath} did not freeze within ${FREEZE_TIMEOUT_MS / 1000}s.`);
      }
      // Writing FROZEN again nudges tasks that were in the middle of fork or exit.
      writeCg(this.#p.cfs, file, 'FROZEN');
      await sleep(s === 'THAWED' ? 1 : 10);
    }
  }

  thaw(): void {
    this.#freezerState();
    writeCg(this.#p.cfs, join(this.#dir('freezer')!, 'freezer.state'), 'THAWED');
  }

  isFrozen(): boolean {
    return this.#dir('freezer') !== undefined && this.#freezerState() !== 'THAWED';
  }

  #allPids(): Set<number> {
    const out = new Set<number>();
    for (const d of this.#uniqueDirs()) pidsRecursive(this.#p.cfs, d, out);
    return out;
  }

  pids(): number[] {
    return [...this.#allPids()].sort((a, b) => a - b);
  }

  stats(): CgroupStats {
    const cfs = this.#p.cfs;
    const out: CgroupStats = {};
    const mem = this.#dir('memory')!;
    const usage = parseNum(readCg(cfs, join(mem, 'memory.usage_in_bytes')));
    if (usage !== undefined) {
      const st = parseKeyed(readCg(cfs, join(mem, 'memory.stat')));
      const max = parseNum(readCg(cfs, join(mem, 'memory.max_usage_in_bytes')));
      out.memory = {
        usageBytes: usage,
        limitBytes: parseLimit(readCg(cfs, join(mem, 'memory.limit_in_bytes'))) ?? null,
        inactiveFileBytes: st.get('total_inactive_file') ?? st.get('inactive_file') ?? 0,
        ...(max !== undefined ? { maxUsageBytes: max } : {}),
        oomKills: parseKeyed(readCg(cfs, join(mem, 'memory.oom_control'))).get('oom_kill') ?? 0,
      };
    }
    const acct = this.#dir('cpuacct');
    const usageNs = acct ? parseNum(readCg(cfs, join(acct, 'cpuacct.usage'))) : undefined;
    if (usageNs !== undefined && acct) {
      const user = parseNum(readCg(cfs, join(acct, 'cpuacct.usage_user')));
      const sys = parseNum(readCg(cfs, join(acct, 'cpuacct.usage_sys')));
      const cpu = this.#dir('cpu');
      const cst = cpu ? parseKeyed(readCg(cfs, join(cpu, 'cpu.stat'))) : new Map<string, number>();
      out.cpu = {
        usageNs,
        ...(user !== undefined ? { userNs: user } : {}),
        ...(sys !== undefined ? { systemNs: sys } : {}),
        ...(cst.has('nr_throttled') ? { throttledPeriods: cst.get('nr_throttled')! } : {}),
        ...(cst.has('throttled_time') ? { throttledNs: cst.get('throttled_time')! } : {}),
      };
    }
    const pidsDir = this.#dir('pids');
    const current = pidsDir ? parseNum(readCg(cfs, join(pidsDir, 'pids.current'))) : undefined;
    if (current !== undefined && pidsDir) {
      out.pids = { current, limit: parseLimit(readCg(cfs, join(pidsDir, 'pids.max'))) ?? null };
    }
    return out;
  }

  update(limits: CgroupLimits): void {
    const r = resolveLimits(limits, hostFor(this.#p.cfs, this.#layout, {}, limits));
    const writes = writesFor(this.#p, this.#layout, r, false);
    applyWrites(this.#p.cfs, (c) => this.#p.dirs.get(c as V1Controller)!, writes);
  }

  async remove(): Promise<void> {
    const cfs = this.#p.cfs;
    const dirs = this.#uniqueDirs().filter((d) => cfs.exists(d));
    if (dirs.length === 0) return;
    const deadline = Date.now() + REMOVE_TIMEOUT_MS;
    if (this.#allPids().size > 0) {
      // Freeze first so nothing forks while we kill; v1 frozen tasks die only once thawed.
      const freezer = this.#dir('freezer');
      let frozen = false;
      if (freezer && cfs.exists(freezer)) {
        try {
          await this.freeze();
          frozen = true;
        } catch {
          // a task stuck in the kernel: kill without the freezer's help
        }
      }
      killAll(this.#allPids());
      if (frozen || (freezer && cfs.exists(freezer) && this.isFrozen())) this.thaw();
      await killUntilEmpty(() => this.#allPids(), this.cgroupPath, deadline);
    }
    for (const d of dirs) await removeTree(cfs, d, deadline);
  }
}
