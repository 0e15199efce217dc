// A simulated cgroup filesystem in a temporary directory, for unit tests of the v1 and v2 logic
// without root. It behaves like the kernel in the ways our code depends on: a new group gets the
// files of its controllers; cgroup2's cgroup.controllers follows the parent's subtree_control;
// "no internal processes"; enabling a controller the parent does not offer fails; cgroup files
// cannot be created; rmdir of a populated group is EBUSY; v1 cpuset needs cpus and mems before
// a process joins; v1 memory keeps limit <= memsw.
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import type { CgroupFs } from '../../src/cgroups/index.js';

function errno(code: string, path: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${path}`), { code });
}

const UNLIMITED_V1 = '9223372036854771712';

export interface FakeOptions {
  /** v2: controllers offered at the root (cgroup.controllers). */
  controllers?: string[];
  /** v2: memory.swap.max exists; v1: memory.memsw.* exist. */
  swap?: boolean;
  /** v2: cgroup.kill exists (Linux 5.14+). */
  kill?: boolean;
  /** v1: hierarchies as mount directory name -> controllers, e.g. { 'cpu,cpuacct': ['cpu','cpuacct'] }. */
  v1?: Record<string, string[]>;
}

export class FakeCgroupTree implements CgroupFs {
  readonly ops: string[] = [];
  readonly opts: FakeOptions;
  /** Pids "killed" through cgroup.kill. */
  readonly killed: number[] = [];

  constructor(
    readonly base: string,
    readonly kind: 'v1' | 'v2',
    opts: FakeOptions = {},
  ) {
    this.opts = opts;
    if (kind === 'v2') {
      mkdirSync(base, { recursive: true });
      const ctrls = opts.controllers ?? ['cpuset', 'cpu', 'io', 'memory', 'hugetlb', 'pids', 'rdma', 'misc'];
      this.put(base, 'cgroup.controllers', ctrls.join(' '));
      this.put(base, 'cgroup.subtree_control', '');
      this.put(base, 'cgroup.procs', '1\n');
      this.put(base, 'cpuset.cpus.effective', '0-3');
      this.put(base, 'cpuset.mems.effective', '0');
      this.put(base, 'cpu.stat', 'usage_usec 5\n');
    } else {
      for (const [dir, ctrls] of Object.entries(opts.v1 ?? {})) {
        const m = join(base, dir);
        mkdirSync(m, { recursive: true });
        this.put(m, 'cgroup.procs', '1\n');
        for (const c of ctrls) this.v1Files(m, c, true);
      }
    }
  }

  /** The mount-info text for this tree, for parseCgroupLayout. */
  mountinfo(): string {
    if (this.kind === 'v2') return `41 31 0:38 / ${this.base} rw,relatime - cgroup2 cgroup2 rw\n`;
    return Object.entries(this.opts.v1 ?? {})
      .map(
        ([dir, ctrls], i) =>
          `${32 + i} 31 0:${29 + i} / ${join(this.base, dir)} rw,relatime - cgroup cgroup rw,${ctrls.join(',')}`,
      )
      .join('\n');
  }

  put(dir: string, file: string, content: string): void {
    writeFileSync(join(dir, file), content);
  }

  get(path: string): string {
    return readFileSync(path, 'utf8');
  }

  private words(path: string): string[] {
    return existsSync(path) ? this.get(path).split(/\s+/).filter(Boolean) : [];
  }

  private isRoot(dir: string): boolean {
    if (this.kind === 'v2') return dir === this.base;
    return dirname(dir) === this.base;
  }

  private v1Controllers(dir: string): string[] {
    const top = relative(this.base, dir).split(sep)[0]!;
    return this.opts.v1?.[top] ?? [];
  }

  private v1Files(dir: string, c: string, root: boolean): void {
    const files: Record<string, Record<string, string>> = {
      memory: {
        'memory.limit_in_bytes': UNLIMITED_V1,
        'memory.usage_in_bytes': '0',
        'memory.max_usage_in_bytes': '0',
        'memory.stat': 'cache 0\ntotal_inactive_file 0\n',
        'memory.oom_control': 'oom_kill_disable 0\nunder_oom 0\noom_kill 0\n',
        ...(this.opts.swap ? { 'memory.memsw.limit_in_bytes': UNLIMITED_V1 } : {}),
      },
      cpu: {
        'cpu.shares': '1024',
        'cpu.cfs_period_us': '100000',
        'cpu.cfs_quota_us': '-1',
        'cpu.stat': 'nr_periods 0\nnr_throttled 0\nthrottled_time 0\n',
      },
      cpuacct: { 'cpuacct.usage': '0', 'cpuacct.usage_user': '0', 'cpuacct.usage_sys': '0' },
      cpuset: root
        ? { 'cpuset.cpus': '0-3', 'cpuset.mems': '0', 'cpuset.effective_cpus': '0-3', 'cpuset.effective_mems': '0' }
        : { 'cpuset.cpus': '', 'cpuset.mems': '' },
      pids: root ? {} : { 'pids.max': 'max', 'pids.current': '0' },
      freezer: root ? {} : { 'freezer.state': 'THAWED' },
      devices: { 'devices.allow': '', 'devices.deny': '', 'devices.list': 'a *:* rwm\n' },
      blkio: root ? {} : { 'blkio.bfq.weight': '100' },
    };
    for (const [f, v] of Object.entries(files[c] ?? {})) this.put(dir, f, v);
  }

  private v2Files(dir: string, c: string): void {
    const files: Record<string, Record<string, string>> = {
      memory: {
        'memory.max': 'max',
        'memory.current': '0',
        'memory.stat': 'anon 0\nfile 0\ninactive_file 0\n',
        'memory.events': 'low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n',
        ...(this.opts.swap ? { 'memory.swap.max': 'max' } : {}),
      },
      cpu: { 'cpu.max': 'max 100000', 'cpu.weight': '100' },
      cpuset: { 'cpuset.cpus': '', 'cpuset.mems': '' },
      pids: { 'pids.max': 'max', 'pids.current': '0' },
      io: { 'io.weight': 'default 100' },
    };
    for (const [f, v] of Object.entries(files[c] ?? {})) if (!existsSync(join(dir, f))) this.put(dir, f, v);
  }

  // ---- CgroupFs ----------------------------------------------------------------------------

  readFile(path: string): string {
    if (!existsSync(path)) throw errno('ENOENT', path);
    if (path.endsWith('cgroup.procs')) {
      // processes that have exited leave the group
      return this.get(path)
        .split('\n')
        .filter((p) => p && (Number(p) === 1 || alive(Number(p))))
        .map((p) => `${p}\n`)
        .join('');
    }
    return this.get(path);
  }

  exists(path: string): boolean {
    return existsSync(path);
  }

  subdirs(path: string): string[] {
    if (!existsSync(path)) return [];
    return readdirSync(path, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name);
  }

  mkdir(path: string): boolean {
    this.ops.push(`mkdir ${relative(this.base, path)}`);
    if (existsSync(path)) return false;
    if (!existsSync(dirname(path))) throw errno('ENOENT', path);
    mkdirSync(path);
    this.put(path, 'cgroup.procs', '');
    if (this.kind === 'v2') {
      const parentCtrls = this.words(join(dirname(path), 'cgroup.subtree_control'));
      this.put(path, 'cgroup.controllers', parentCtrls.join(' '));
      this.put(path, 'cgroup.subtree_control', '');
      this.put(path, 'cgroup.events', 'populated 0\nfrozen 0\n');
      this.put(path, 'cgroup.freeze', '0');
      this.put(path, 'cgroup.type', 'domain');
      this.put(path, 'cpu.stat', 'usage_usec 0\nuser_usec 0\nsystem_usec 0\n');
      if (this.opts.kill !== false) this.put(path, 'cgroup.kill', '');
      for (const c of parentCtrls) this.v2Files(path, c);
    } else {
      for (const c of this.v1Controllers(path)) this.v1Files(path, c, false);
    }
    return true;
  }

  rmdir(path: string): void {
    this.ops.push(`rmdir ${relative(this.base, path)}`);
    if (!existsSync(path)) throw errno('ENOENT', path);
    if (this.subdirs(path).length > 0) throw errno('EBUSY', path);
    if (this.readFile(join(path, 'cgroup.procs')).trim() !== '') throw errno('EBUSY', path);
    rmSync(path, { recursive: true });
  }

  writeFile(path: string, data: string): void {
    this.ops.push(`write ${relative(this.base, path)} ${data}`);
    if (!existsSync(path)) throw errno('ENOENT', path);
    const dir = dirname(path);
    const name = path.slice(dir.length + 1);
    const bad = () => errno('EINVAL', path);
    switch (name) {
      case 'cgroup.subtree_control': {
        const offered = this.words(join(dir, 'cgroup.controllers'));
        const cur = new Set(this.words(path));
        if (!this.isRoot(dir) && this.readFile(join(dir, 'cgroup.procs')).trim() !== '') throw errno('EBUSY', path);
        for (const t of data.split(/\s+/).filter(Boolean)) {
          const c = t.slice(1);
          if (!offered.includes(c)) throw errno('ENOENT', path);
          if (t[0] === '+') cur.add(c);
          else if (t[0] === '-') cur.delete(c);
          else throw bad();
        }
        this.put(dir, name, [...cur].join(' '));
        for (const child of this.subdirs(dir)) {
          const cd = join(dir, child);
          this.put(cd, 'cgroup.controllers', [...cur].join(' '));
          for (const c of cur) this.v2Files(cd, c);
        }
        return;
      }
      case 'cgroup.procs': {
        if (!/^\d+$/.test(data.trim())) throw bad();
        if (this.kind === 'v2' && !this.isRoot(dir) && this.words(join(dir, 'cgroup.subtree_control')).length > 0)
          throw errno('EBUSY', path);
        if (
          this.kind === 'v1' &&
          existsSync(join(dir, 'cpuset.mems')) &&
          (this.get(join(dir, 'cpuset.mems')).trim() === '' || this.get(join(dir, 'cpuset.cpus')).trim() === '')
        ) {
          throw errno('ENOSPC', path);
        }
        this.put(dir, name, this.get(path) + `${data.trim()}\n`);
        if (this.kind === 'v2') this.put(dir, 'cgroup.events', 'populated 1\nfrozen 0\n');
        return;
      }
      case 'cgroup.kill': {
        if (data.trim() !== '1') throw bad();
        const walk = (d: string) => {
          for (const p of this.readFile(join(d, 'cgroup.procs')).split('\n').filter(Boolean)) this.killed.push(Number(p));
          this.put(d, 'cgroup.procs', '');
          this.put(d, 'cgroup.events', 'populated 0\nfrozen 0\n');
          for (const s of this.subdirs(d)) walk(join(d, s));
        };
        walk(dir);
        return;
      }
      case 'cgroup.freeze':
        if (!/^[01]$/.test(data.trim())) throw bad();
        this.put(dir, name, data.trim());
        this.put(
          dir,
          'cgroup.events',
          `populated ${this.readFile(join(dir, 'cgroup.procs')).trim() ? 1 : 0}\nfrozen ${data.trim()}\n`,
        );
        return;
      case 'memory.max':
      case 'memory.swap.max':
      case 'pids.max':
        if (!/^(\d+|max)$/.test(data)) throw bad();
        break;
      case 'cpu.max':
        if (!/^(\d+|max) \d+$/.test(data)) throw bad();
        break;
      case 'cpu.weight':
        if (!/^\d+$/.test(data) || Number(data) < 1 || Number(data) > 10000) throw bad();
        break;
      case 'memory.limit_in_bytes':
      case 'memory.memsw.limit_in_bytes': {
        if (!/^(-1|\d+)$/.test(data)) throw bad();
        const v = data === '-1' ? BigInt(UNLIMITED_V1) : BigInt(data);
        const memsw = join(dir, 'memory.memsw.limit_in_bytes');
        if (name === 'memory.limit_in_bytes' && existsSync(memsw) && v > BigInt(this.get(memsw))) throw bad();
        if (name === 'memory.memsw.limit_in_bytes' && v < BigInt(this.get(join(dir, 'memory.limit_in_bytes')))) throw bad();
        this.put(dir, name, String(v));
        return;
      }
      case 'freezer.state':
        if (!/^(FROZEN|THAWED)$/.test(data)) throw bad();
        break;
      case 'devices.deny':
        this.put(dir, 'devices.list', data === 'a' ? '' : this.get(join(dir, 'devices.list')));
        return;
      case 'devices.allow':
        this.put(dir, 'devices.list', this.get(join(dir, 'devices.list')) + `${data}\n`);
        return;
    }
    this.put(dir, name, data);
  }
}

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}
