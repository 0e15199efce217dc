// cgroup v2: one directory, `<unified mount>/<parent>/<id>`. The controllers a container needs
// are enabled in cgroup.subtree_control of the root and of each parent; those parents never hold
// processes ("no internal processes": only leaves do).
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
import { errnoCode, nodeCgroupFs, parseKeyed, readCg, sleep, writeCg, type CgroupFs } from './fsops.js';
import { resolveLimits, v2Writes, type ResolvedLimits } from './limits.js';
import {
  V2_CONTROLLERS,
  type CgroupLayout,
  type CgroupLimits,
  type CgroupOptions,
  type CgroupStats,
  type ContainerCgroup,
  type Hierarchy,
} from './types.js';

interface V2Plan {
  cfs: CgroupFs;
  mount: Hierarchy;
  /** Directories from the mount down to the container's parent. */
  parents: string[];
  dir: string;
  cgroupPath: string;
}

function plan(layout: CgroupLayout, id: string, opts: CgroupOptions): V2Plan {
  checkId(id);
  const segs = checkParent(opts.parent ?? DEFAULT_PARENT);
  const mount = layout.unified;
  if (!mount) throw new UnsupportedError('cgroup v2 is not mounted on this host.');
  const parents = [mount.mountPoint, ...segs.map((_s, i) => join(mount.mountPoint, ...segs.slice(0, i + 1)))];
  return {
    cfs: opts.fs ?? nodeCgroupFs,
    mount,
    parents,
    dir: join(mount.mountPoint, ...segs, id),
    cgroupPath: cgroupPathOf(mount.root, segs, id),
  };
}

function words(text: string | undefined): string[] {
  return (text ?? '').split(/\s+/).filter((w) => w !== '');
}

/** Enables the controllers we use (of those `dir` offers) for `dir`'s children. */
function enableControllers(cfs: CgroupFs, dir: string): void {
  const offered = new Set(words(readCg(cfs, join(dir, 'cgroup.controllers'))));
  const enabled = new Set(words(readCg(cfs, join(dir, 'cgroup.subtree_control'))));
  const missing = V2_CONTROLLERS.filter((c) => offered.has(c) && !enabled.has(c));
  if (missing.length === 0) return;
  try {
    cfs.writeFile(join(dir, 'cgroup.subtree_control'), missing.map((c) => `+${c}`).join(' '));
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'EBUSY') {
      throw new SystemError(
        `cannot enable the ${missing.join(', ')} controllers in ${dir}: the group holds processes, and cgroup v2 allows processes only in leaf groups.`,
        { cause: err },
      );
    }
    throw new SystemError(`cannot enable the ${missing.join(', ')} controllers in ${dir}: ${code ?? String(err)}`, {
      cause: err,
    });
  }
}

function hostFor(p: V2Plan, opts: CgroupOptions, limits: CgroupLimits) {
  if (opts.host) return opts.host;
  const needSets = !!(limits.cpusetCpus || limits.cpusetMems);
  const m = p.mount.mountPoint;
  return hostResources(p.cfs, needSets, [join(m, 'cpuset.cpus.effective')], [join(m, 'cpuset.mems.effective')]);
}

function writesFor(p: V2Plan, r: ResolvedLimits) {
  return v2Writes(r, {
    controllers: new Set(words(readCg(p.cfs, join(p.dir, 'cgroup.controllers')))),
    swap: p.cfs.exists(join(p.dir, 'memory.swap.max')),
    ioBfqWeight: p.cfs.exists(join(p.dir, 'io.bfq.weight')),
  });
}

export function createV2(layout: CgroupLayout, id: string, limits: CgroupLimits, opts: CgroupOptions = {}): ContainerCgroup {
  const p = plan(layout, id, opts);
  const r = resolveLimits(limits, hostFor(p, opts, limits));
  let created = false;
  try {
    for (const [i, d] of p.parents.entries()) {
      if (i > 0) p.cfs.mkdir(d);
      enableControllers(p.cfs, d);
    }
    created = p.cfs.mkdir(p.dir);
    applyWrites(p.cfs, () => p.dir, writesFor(p, r));
  } catch (err) {
    if (created) {
      try {
        p.cfs.rmdir(p.dir);
      } catch {
        // best effort: the error that matters is the one being thrown
      }
    }
    throw err;
  }
  return new V2Cgroup(p, r.warnings);
}

export function openV2(layout: CgroupLayout, id: string, opts: CgroupOptions = {}): ContainerCgroup {
  return new V2Cgroup(plan(layout, id, opts), []);
}

class V2Cgroup implements ContainerCgroup {
  readonly version = 2 as const;
  readonly cgroupPath: string;
  readonly paths: Readonly<Record<string, string>>;
  readonly warnings: readonly string[];
  readonly #p: V2Plan;

  constructor(p: V2Plan, warnings: readonly string[]) {
    this.#p = p;
    this.cgroupPath = p.cgroupPath;
    this.paths = Object.freeze({ unified: p.dir });
    this.warnings = warnings;
  }

  #f(name: string): string {
    return join(this.#p.dir, name);
  }

  exists(): boolean {
    return this.#p.cfs.exists(this.#p.dir);
  }

  addProcess(pid: number): void {
    writeCg(this.#p.cfs, this.#f('cgroup.procs'), String(pid));
  }

  procsFiles(): string[] {
    return [this.#f('cgroup.procs')];
  }

  oomFile(): string | undefined {
    return this.#f('memory.events');
  }

  oomKilled(): boolean {
    return (parseKeyed(readCg(this.#p.cfs, this.#f('memory.events'))).get('oom_kill') ?? 0) > 0;
  }

  #checkFreezer(): void {
    if (!this.#p.cfs.exists(this.#f('cgroup.freeze'))) {
      if (!this.exists()) throw new SystemError(`cgroup ${this.cgroupPath} does not exist.`);
      throw new UnsupportedError(
        'Pausing is not supported on this host: the kernel has no cgroup.freeze (it needs Linux 5.2 or later).',
      );
    }
  }

  async freeze(): Promise<void> {
    this.#checkFreezer();
    writeCg(this.#p.cfs, this.#f('cgroup.freeze'), '1');
    const deadline = Date.now() + FREEZE_TIMEOUT_MS;
    for (;;) {
      if (parseKeyed(readCg(this.#p.cfs, this.#f('cgroup.events'))).get('frozen') === 1) return;
      if (Date.now() >= deadline) {
        writeCg(this.#p.cfs, this.#f('cgroup.freeze'), '0');
        throw new SystemError(`cgroup ${this.cgroupPath} did not freeze within ${FREEZE_TIMEOUT_MS / 1000}s.`);
      }
      await sleep(5);
    }
  }

  thaw(): void {
    this.#checkFreezer();
    writeCg(this.#p.cfs, this.#f('cgroup.freeze'), '0');
  }

  isFrozen(): boolean {
    return readCg(this.#p.cfs, this.#f('cgroup.freeze')) === '1';
  }

  pids(): number[] {
    return [...pidsRecursive(this.#p.cfs, this.#p.dir)].sort((a, b) => a - b);
  }

  stats(): CgroupStats {
    const cfs = this.#p.cfs;
    const out: CgroupStats = {};
    const usage = parseNum(readCg(cfs, this.#f('memory.current')));
    if (usage !== undefined) {
      const st = parseKeyed(readCg(cfs, this.#f('memory.stat')));
      const peak = parseNum(readCg(cfs, this.#f('memory.peak')));
      out.memory = {
        usageBytes: usage,
        limitBytes: parseLimit(readCg(cfs, this.#f('memory.max'))) ?? null,
        inactiveFileBytes: st.get('inactive_file') ?? 0,
        ...(peak !== undefined ? { maxUsageBytes: peak } : {}),
        oomKills: parseKeyed(readCg(cfs, this.#f('memory.events'))).get('oom_kill') ?? 0,
      };
    }
    // cpu.stat is a core file: usage is there even without the cpu controller.
    const cst = parseKeyed(readCg(cfs, this.#f('cpu.stat')));
    const us = cst.get('usage_usec');
    if (us !== undefined) {
      const u = cst.get('user_usec');
      const s = cst.get('system_usec');
      out.cpu = {
        usageNs: us * 1000,
        ...(u !== undefined ? { userNs: u * 1000 } : {}),
        ...(s !== undefined ? { systemNs: s * 1000 } : {}),
        ...(cst.has('nr_throttled') ? { throttledPeriods: cst.get('nr_throttled')! } : {}),
        ...(cst.has('throttled_usec') ? { throttledNs: cst.get('throttled_usec')! * 1000 } : {}),
      };
    }
    const current = parseNum(readCg(cfs, this.#f('pids.current')));
    if (current !== undefined) out.pids = { current, limit: parseLimit(readCg(cfs, this.#f('pids.max'))) ?? null };
    return out;
  }

  update(limits: CgroupLimits): void {
    const r = resolveLimits(limits, hostFor(this.#p, {}, limits));
    applyWrites(this.#p.cfs, () => this.#p.dir, writesFor(this.#p, r));
  }

  async remove(): Promise<void> {
    const cfs = this.#p.cfs;
    const dir = this.#p.dir;
    if (!cfs.exists(dir)) return;
    const deadline = Date.now() + REMOVE_TIMEOUT_MS;
    const list = () => pidsRecursive(cfs, dir);
    if (list().size > 0) {
      if (cfs.exists(this.#f('cgroup.kill'))) {
        // Linux 5.14+: the kernel kills the whole sub-tree, forks included.
        writeCg(cfs, this.#f('cgroup.kill'), '1');
      } else if (cfs.exists(this.#f('cgroup.freeze'))) {
        // v2 frozen tasks still die on SIGKILL; freezing stops fork races.
        try {
          await this.freeze();
        } catch {
          // kill without the freezer's help
        }
        killAll(list());
        writeCg(cfs, this.#f('cgroup.freeze'), '0');
      }
      await killUntilEmpty(list, this.cgroupPath, deadline);
    }
    await removeTree(cfs, dir, deadline);
  }
}
