// The cgroup v2 path against a simulated cgroup2 tree (test/unit/cgroups-fake.ts). The real
// kernel's v2 behaviour is exercised by the VM harness (npm run test:vm, docs/vm.md).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  createContainerCgroup,
  openContainerCgroup,
  parseCgroupLayout,
  removeCgroupParent,
  sharesToWeight,
  type CgroupLayout,
  type CgroupOptions,
} from '../../src/cgroups/index.js';
import { SystemError, UnsupportedError, UsageError } from '../../src/util/errors.js';
import { FakeCgroupTree, type FakeOptions } from './cgroups-fake.js';

const MiB = 1024 * 1024;
const host = { cpuCount: 4, cpus: '0-3', mems: '0' };

let base: string;
let trees = 0;
let fake: FakeCgroupTree;
let layout: CgroupLayout;
let opts: CgroupOptions;
const children: ChildProcess[] = [];

function setup(o: FakeOptions = {}): void {
  fake = new FakeCgroupTree(join(base, `cg${trees++}`), 'v2', { swap: true, ...o });
  layout = parseCgroupLayout(fake.mountinfo(), undefined, (p) => (existsSync(p) ? readFileSync(p, 'utf8') : undefined));
  opts = { parent: 'tscontainer', fs: fake, host };
}

function sleeper(): ChildProcess {
  const c = spawn('sleep', ['30'], { stdio: 'ignore' });
  children.push(c);
  return c;
}

const rd = (...p: string[]) => readFileSync(join(fake.base, ...p), 'utf8').trim();

beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'cgv2-'));
  setup();
});
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
  rmSync(base, { recursive: true, force: true });
});

describe('cgroup v2 (simulated tree)', () => {
  it('detects the unified layout', () => {
    expect(layout.version).toBe(2);
    expect(layout.unified?.controllers).toContain('memory');
  });

  it('creates <mount>/tscontainer/<id>, enabling controllers top-down, and writes the limits', () => {
    const cg = createContainerCgroup(
      layout,
      'abc',
      { memoryBytes: 64 * MiB, memorySwapBytes: 96 * MiB, cpus: 0.5, cpuShares: 512, cpusetCpus: '1-2', pidsLimit: 20 },
      opts,
    );
    expect(cg.version).toBe(2);
    expect(cg.cgroupPath).toBe('/tscontainer/abc');
    expect(cg.paths).toEqual({ unified: join(fake.base, 'tscontainer', 'abc') });
    // root and parent delegate; the container's own group does not (it holds the processes)
    expect(rd('cgroup.subtree_control').split(' ').sort()).toEqual(['cpu', 'cpuset', 'hugetlb', 'io', 'memory', 'pids']);
    expect(rd('tscontainer', 'cgroup.subtree_control').split(' ').sort()).toEqual([
      'cpu',
      'cpuset',
      'hugetlb',
      'io',
      'memory',
      'pids',
    ]);
    expect(rd('tscontainer', 'abc', 'cgroup.subtree_control')).toBe('');
    expect(rd('tscontainer', 'abc', 'memory.max')).toBe(String(64 * MiB));
    expect(rd('tscontainer', 'abc', 'memory.swap.max')).toBe(String(32 * MiB));
    expect(rd('tscontainer', 'abc', 'cpu.max')).toBe('50000 100000');
    expect(rd('tscontainer', 'abc', 'cpu.weight')).toBe(String(sharesToWeight(512)));
    expect(rd('tscontainer', 'abc', 'cpuset.cpus')).toBe('1-2');
    expect(rd('tscontainer', 'abc', 'pids.max')).toBe('20');
    const order = fake.ops.filter((o) => o.startsWith('mkdir') || o.includes('subtree_control'));
    expect(order).toEqual([
      'write cgroup.subtree_control +cpuset +cpu +io +memory +pids +hugetlb',
      'mkdir tscontainer',
      'write tscontainer/cgroup.subtree_control +cpuset +cpu +io +memory +pids +hugetlb',
      'mkdir tscontainer/abc',
    ]);
  });

  it('only enables what is offered, and does not rewrite subtree_control when it is already set', () => {
    setup({ controllers: ['memory', 'pids'] });
    createContainerCgroup(layout, 'one', {}, opts);
    expect(rd('cgroup.subtree_control')).toBe('memory pids');
    fake.ops.length = 0;
    createContainerCgroup(layout, 'two', {}, opts);
    expect(fake.ops).toEqual(['mkdir tscontainer', 'mkdir tscontainer/two']);
    expect(() => createContainerCgroup(layout, 'three', { cpus: 1 }, opts)).toThrow(
      '--cpus is not supported on this host: the cpu controller is not available in the parent cgroup.',
    );
    expect(existsSync(join(fake.base, 'tscontainer', 'three'))).toBe(false);
  });

  it('supports a nested, overridable parent', () => {
    const cg = createContainerCgroup(layout, 'x1', {}, { ...opts, parent: 'tscontainer-test-1/inner' });
    expect(cg.cgroupPath).toBe('/tscontainer-test-1/inner/x1');
    expect(rd('tscontainer-test-1', 'inner', 'cgroup.subtree_control')).toContain('memory');
    expect(() => createContainerCgroup(layout, 'x2', {}, { ...opts, parent: '../etc' })).toThrow(UsageError);
    expect(() => createContainerCgroup(layout, 'a/b', {}, opts)).toThrow(UsageError);
  });

  it('refuses an explicit --memory-swap without swap accounting, warns for the default', () => {
    setup({ swap: false });
    expect(() => createContainerCgroup(layout, 's1', { memoryBytes: 64 * MiB, memorySwapBytes: 128 * MiB }, opts)).toThrow(
      UnsupportedError,
    );
    expect(existsSync(join(fake.base, 'tscontainer', 's1'))).toBe(false);
    const cg = createContainerCgroup(layout, 's2', { memoryBytes: 64 * MiB }, opts);
    expect(cg.warnings).toEqual([
      'Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap.',
    ]);
  });

  it('names the rule when the parent holds processes ("no internal processes")', () => {
    createContainerCgroup(layout, 'first', {}, opts);
    // someone put a process into the parent and turned delegation off
    writeFileSync(join(fake.base, 'tscontainer', 'cgroup.subtree_control'), '');
    writeFileSync(join(fake.base, 'tscontainer', 'cgroup.procs'), '1\n');
    expect(() => createContainerCgroup(layout, 'second', {}, opts)).toThrow(SystemError);
    expect(() => createContainerCgroup(layout, 'second', {}, opts)).toThrow(
      /holds processes, and cgroup v2 allows processes only in leaf groups/,
    );
  });

  it('adds processes, lists them, and reports the procs and OOM files', () => {
    const cg = createContainerCgroup(layout, 'p', { memoryBytes: 32 * MiB }, opts);
    const child = sleeper();
    cg.addProcess(child.pid!);
    expect(rd('tscontainer', 'p', 'cgroup.procs')).toBe(String(child.pid));
    expect(cg.pids()).toEqual([child.pid]);
    expect(cg.procsFiles()).toEqual([join(fake.base, 'tscontainer', 'p', 'cgroup.procs')]);
    expect(cg.oomFile()).toBe(join(fake.base, 'tscontainer', 'p', 'memory.events'));
    expect(cg.oomKilled()).toBe(false);
    writeFileSync(cg.oomFile()!, 'low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n');
    expect(cg.oomKilled()).toBe(true);
  });

  it('freezes via cgroup.freeze and waits for cgroup.events', async () => {
    const cg = createContainerCgroup(layout, 'f', {}, opts);
    await cg.freeze();
    expect(rd('tscontainer', 'f', 'cgroup.freeze')).toBe('1');
    expect(cg.isFrozen()).toBe(true);
    cg.thaw();
    expect(cg.isFrozen()).toBe(false);
  });

  it('reads stats from memory.current, cpu.stat and pids.current', () => {
    const cg = createContainerCgroup(layout, 'st', { memoryBytes: 64 * MiB, pidsLimit: 9 }, opts);
    const d = join(fake.base, 'tscontainer', 'st');
    writeFileSync(join(d, 'memory.current'), '5000000\n');
    writeFileSync(join(d, 'memory.stat'), 'anon 100\ninactive_file 1000000\n');
    writeFileSync(join(d, 'cpu.stat'), 'usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_throttled 2\nthrottled_usec 30\n');
    writeFileSync(join(d, 'pids.current'), '3\n');
    expect(cg.stats()).toEqual({
      memory: { usageBytes: 5_000_000, limitBytes: 64 * MiB, inactiveFileBytes: 1_000_000, oomKills: 0 },
      cpu: { usageNs: 1_500_000, userNs: 1_000_000, systemNs: 500_000, throttledPeriods: 2, throttledNs: 30_000 },
      pids: { current: 3, limit: 9 },
    });
    cg.update({ memoryBytes: 128 * MiB, pidsLimit: -1 });
    expect(cg.stats().memory?.limitBytes).toBe(128 * MiB);
    expect(cg.stats().pids?.limit).toBeNull();
  });

  it('removes with cgroup.kill, sub-groups first, and tolerates a missing group', async () => {
    const cg = createContainerCgroup(layout, 'rm', {}, opts);
    const d = join(fake.base, 'tscontainer', 'rm');
    // a container that made its own sub-group (cgroup namespace) with a process in it
    const a = sleeper();
    const b = sleeper();
    cg.addProcess(a.pid!);
    fake.mkdir(join(d, 'inner'));
    fake.writeFile(join(d, 'inner', 'cgroup.procs'), String(b.pid));
    expect(cg.pids()).toEqual([a.pid!, b.pid!].sort((x, y) => x - y));
    await cg.remove();
    expect(fake.killed.sort()).toEqual([a.pid!, b.pid!].sort());
    expect(existsSync(d)).toBe(false);
    expect(fake.ops.slice(-2)).toEqual(['rmdir tscontainer/rm/inner', 'rmdir tscontainer/rm']);
    await cg.remove();
    await openContainerCgroup(layout, 'never', opts).remove();
    expect(removeCgroupParent(layout, 'tscontainer', fake)).toBe(true);
    expect(existsSync(join(fake.base, 'tscontainer'))).toBe(false);
  });

  it('without cgroup.kill (before 5.14) freezes and SIGKILLs what is left', async () => {
    setup({ kill: false });
    const cg = createContainerCgroup(layout, 'old', {}, opts);
    const child = sleeper();
    const exited = new Promise<string | null>((r) => child.on('exit', (_c, s) => r(s)));
    cg.addProcess(child.pid!);
    await cg.remove();
    expect(await exited).toBe('SIGKILL');
    expect(cg.exists()).toBe(false);
    expect(fake.ops).toContain('write tscontainer/old/cgroup.freeze 1');
    expect(fake.ops).toContain('write tscontainer/old/cgroup.freeze 0');
  });

  it('keeps the parent while other containers use it', () => {
    createContainerCgroup(layout, 'stay', {}, opts);
    expect(removeCgroupParent(layout, 'tscontainer', fake)).toBe(false);
    expect(existsSync(join(fake.base, 'tscontainer', 'stay'))).toBe(true);
  });

  it('opens an existing group by id', () => {
    createContainerCgroup(layout, 'o', { pidsLimit: 5 }, opts);
    const cg = openContainerCgroup(layout, 'o', opts);
    expect(cg.exists()).toBe(true);
    expect(cg.stats().pids?.limit).toBe(5);
    expect(openContainerCgroup(layout, 'nope', opts).exists()).toBe(false);
  });
});
