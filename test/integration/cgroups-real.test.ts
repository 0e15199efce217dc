// The cgroups module against the real kernel: as root, on whichever layout this machine has
// (v1/hybrid here; v2 on a unified host or in the VM harness, scripts/vm/cgroup2-test.sh).
// Every group lives under a parent of its own, tscontainer-test-<random>, removed at the end;
// only processes these tests spawned are ever killed.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  cpuPercent,
  createContainerCgroup,
  detectCgroups,
  openContainerCgroup,
  parseMemory,
  removeCgroupParent,
  sharesToWeight,
  type CgroupLayout,
  type CgroupLimits,
  type ContainerCgroup,
} from '../../src/cgroups/index.js';
import { UsageError } from '../../src/util/errors.js';

function whyNot(): string | undefined {
  if (process.platform !== 'linux') return 'needs Linux';
  if (process.getuid?.() !== 0) return 'needs root (run the integration tests as root)';
  try {
    detectCgroups();
  } catch (err) {
    return `no usable cgroup hierarchy: ${(err as Error).message}`;
  }
  return undefined;
}
const skip = whyNot();
const PARENT = `tscontainer-test-${randomBytes(4).toString('hex')}`;

describe.skipIf(skip !== undefined)(`cgroups on the real kernel${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const layout: CgroupLayout = skip ? ({} as CgroupLayout) : detectCgroups();
  const groups: ContainerCgroup[] = [];
  const children: ChildProcess[] = [];
  // tmpfs: a counter rewritten in a loop on ext4 spends its time in writeback, not counting
  const tmp = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'cgtest-'));

  function make(limits: CgroupLimits = {}): ContainerCgroup {
    const id = `c${randomBytes(6).toString('hex')}`;
    const cg = createContainerCgroup(layout, id, limits, { parent: PARENT });
    groups.push(cg);
    return cg;
  }

  /** A shell that waits for a line on stdin (so it is in the group before it does anything). */
  function shell(
    script: string,
  ): ChildProcess & { done: Promise<{ code: number | null; signal: string | null; stderr: string }> } {
    const child = spawn('sh', ['-c', `read _go; ${script}`], { stdio: ['pipe', 'ignore', 'pipe'] });
    children.push(child);
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const done = new Promise<{ code: number | null; signal: string | null; stderr: string }>((res) =>
      child.on('exit', (code, signal) => res({ code, signal, stderr })),
    );
    return Object.assign(child, { done });
  }
  const go = (c: ChildProcess) => c.stdin!.write('go\n');
  const file = (dir: string | undefined, name: string) => readFileSync(join(dir!, name), 'utf8').trim();
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  afterEach(async () => {
    // Our own children first (by pid, nothing else), then the groups.
    for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const g of groups.splice(0)) {
      await g.remove();
      for (const d of Object.values(g.paths)) expect(existsSync(d), `${d} left behind`).toBe(false);
    }
  });

  afterAll(() => {
    removeCgroupParent(layout, PARENT);
    const mounts = layout.version === 2 ? [layout.unified!.mountPoint] : Object.values(layout.v1).map((h) => h!.mountPoint);
    for (const m of new Set(mounts)) expect(existsSync(join(m, PARENT)), `${join(m, PARENT)} left behind`).toBe(false);
    rmSync(tmp, { recursive: true, force: true });
  });

  it('detects the layout from mountinfo', () => {
    expect([1, 2]).toContain(layout.version);
    // set by the VM harness (scripts/vm/integration.sh), which boots with cgroup_no_v1=all
    const expected = process.env['TSC_EXPECT_CGROUP_VERSION'];
    if (expected) expect(layout.version).toBe(Number(expected));
    if (layout.version === 1) {
      expect(layout.v1.memory?.mountPoint).toBeTruthy();
    } else {
      expect(layout.unified?.controllers).toEqual(expect.arrayContaining(['memory', 'pids']));
    }
  });

  it('writes the limits into the group files', () => {
    const memsw = layout.version === 1 && existsSync(join(layout.v1.memory!.mountPoint, 'memory.memsw.limit_in_bytes'));
    const cg = make({
      memoryBytes: parseMemory('64m'),
      memorySwapBytes: parseMemory('128m'),
      cpus: 0.5,
      cpuShares: 512,
      cpusetCpus: '0',
      pidsLimit: 50,
    });
    expect(cg.version).toBe(layout.version);
    expect(cg.cgroupPath).toBe(`/${PARENT}/${cg.cgroupPath.split('/').pop()}`);
    if (cg.version === 1) {
      const p = cg.paths;
      expect(file(p['memory'], 'memory.limit_in_bytes')).toBe(String(64 * 1024 * 1024));
      if (memsw) expect(file(p['memory'], 'memory.memsw.limit_in_bytes')).toBe(String(128 * 1024 * 1024));
      expect(file(p['cpu'], 'cpu.cfs_period_us')).toBe('100000');
      expect(file(p['cpu'], 'cpu.cfs_quota_us')).toBe('50000');
      expect(file(p['cpu'], 'cpu.shares')).toBe('512');
      expect(file(p['cpuset'], 'cpuset.cpus')).toBe('0');
      // mems came from the parent, which copied them from the root
      expect(file(p['cpuset'], 'cpuset.mems')).toBe(file(layout.v1.cpuset!.mountPoint, 'cpuset.mems'));
      expect(file(join(p['cpuset']!, '..'), 'cpuset.cpus')).toBe(file(layout.v1.cpuset!.mountPoint, 'cpuset.cpus'));
      expect(file(p['pids'], 'pids.max')).toBe('50');
      const devices = file(p['devices'], 'devices.list').split('\n');
      expect(devices).toContain('c 1:3 rwm');
      expect(devices).toContain('c 136:* rwm');
      expect(devices).not.toContain('a *:* rwm');
      // our own memory group is elsewhere (e.g. /process_api/...): the container's is not under it
      expect(p['memory']).toBe(join(layout.v1.memory!.mountPoint, PARENT, cg.cgroupPath.split('/').pop()!));
    } else {
      const d = cg.paths['unified'];
      expect(file(d, 'memory.max')).toBe(String(64 * 1024 * 1024));
      if (existsSync(join(d!, 'memory.swap.max'))) expect(file(d, 'memory.swap.max')).toBe(String(64 * 1024 * 1024));
      expect(file(d, 'cpu.max')).toBe('50000 100000');
      expect(file(d, 'cpu.weight')).toBe(String(sharesToWeight(512)));
      expect(file(d, 'cpuset.cpus')).toBe('0');
      expect(file(d, 'pids.max')).toBe('50');
      expect(file(join(d!, '..'), 'cgroup.subtree_control').split(' ')).toEqual(
        expect.arrayContaining(['memory', 'pids', 'cpu']),
      );
    }
  });

  it('applies blkio weight where the kernel has a weight file', () => {
    let cg: ContainerCgroup;
    try {
      cg = make({ blkioWeight: 300 });
    } catch (err) {
      expect((err as Error).message).toMatch(/blkio-weight is not supported|io controller/);
      return;
    }
    const dir = cg.version === 1 ? cg.paths['blkio']! : cg.paths['unified']!;
    const f = ['blkio.weight', 'blkio.bfq.weight', 'io.bfq.weight', 'io.weight'].find((n) => existsSync(join(dir, n)))!;
    expect(file(dir, f)).toMatch(/300|^default \d+/);
  });

  it('puts a process into the group and removes it again', async () => {
    const cg = make({ memoryBytes: parseMemory('64m') });
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    children.push(child);
    const exited = new Promise<string | null>((r) => child.on('exit', (_c, s) => r(s)));
    cg.addProcess(child.pid!);
    for (const f of cg.procsFiles()) expect(file(f, '').split('\n')).toContain(String(child.pid));
    const lines = readFileSync(`/proc/${child.pid}/cgroup`, 'utf8').trim().split('\n');
    if (cg.version === 1) {
      for (const c of ['memory', 'cpu', 'pids', 'freezer', 'cpuset', 'devices']) {
        const line = lines.find((l) => l.split(':')[1]!.split(',').includes(c));
        expect(line, `no ${c} line in /proc/PID/cgroup`).toBeDefined();
        expect(line!.split(':')[2]).toBe(cg.cgroupPath);
      }
    } else {
      expect(lines).toContain(`0::${cg.cgroupPath}`);
    }
    expect(cg.pids()).toEqual([child.pid]);
    expect(openContainerCgroup(layout, cg.cgroupPath.split('/').pop()!, { parent: PARENT }).pids()).toEqual([child.pid]);
    await cg.remove();
    expect(await exited).toBe('SIGKILL');
    expect(cg.exists()).toBe(false);
    await cg.remove(); // twice is fine
  });

  it('OOM-kills a process beyond a 32m limit and reports it', async () => {
    const cg = make({ memoryBytes: parseMemory('32m') });
    expect(cg.oomKilled()).toBe(false);
    // tail of /dev/zero never sees a newline, so it keeps everything it reads
    const child = shell('exec tail /dev/zero');
    cg.addProcess(child.pid!);
    go(child);
    const res = await child.done;
    expect(res.signal).toBe('SIGKILL');
    expect(cg.oomKilled()).toBe(true);
    expect(readFileSync(cg.oomFile()!, 'utf8')).toMatch(/^oom_kill [1-9]/m);
    expect(cg.stats().memory?.oomKills).toBeGreaterThan(0);
  });

  it('makes forks beyond the pids limit fail', async () => {
    const cg = make({ pidsLimit: 4 });
    const child = shell('for i in 1 2 3 4 5 6 7 8; do sleep 3 & done; wait');
    cg.addProcess(child.pid!);
    go(child);
    const res = await child.done;
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(/fork/i);
    const dir = cg.version === 1 ? cg.paths['pids']! : cg.paths['unified']!;
    expect(file(dir, 'pids.events')).toMatch(/^max [1-9]/m);
    expect(cg.stats().pids!.current).toBeLessThanOrEqual(4);
    expect(cg.stats().pids!.limit).toBe(4);
  });

  it('freezes and thaws: a counter stops and goes on', async () => {
    const cg = make();
    // The counter is the size of a file the loop appends to: it only ever grows.
    const counter = join(tmp, 'counter');
    const child = shell(`i=0; while :; do i=$((i+1)); echo $i >> ${counter}; done`);
    cg.addProcess(child.pid!);
    go(child);
    const read = () => (existsSync(counter) ? statSync(counter).size : 0);
    while (read() < 1000) await sleep(10);
    await cg.freeze();
    expect(cg.isFrozen()).toBe(true);
    const frozenAt = read();
    await sleep(400);
    expect(read()).toBe(frozenAt);
    cg.thaw();
    expect(cg.isFrozen()).toBe(false);
    const deadline = Date.now() + 5000;
    while (read() <= frozenAt && Date.now() < deadline) await sleep(10);
    expect(read()).toBeGreaterThan(frozenAt);
  });

  it('removes a frozen group with processes in it', async () => {
    const cg = make();
    const child = shell('sleep 100 & sleep 100 & wait');
    cg.addProcess(child.pid!);
    go(child);
    while (cg.pids().length < 3) await sleep(10);
    await cg.freeze();
    await cg.remove();
    expect((await child.done).signal).toBe('SIGKILL');
    expect(cg.exists()).toBe(false);
  });

  it('reports stats that move with load', async () => {
    const cg = make({ memoryBytes: parseMemory('128m'), pidsLimit: 20 });
    const s0 = cg.stats();
    expect(s0.memory?.limitBytes).toBe(128 * 1024 * 1024);
    expect(s0.pids).toEqual({ current: 0, limit: 20 });
    // the file's pages (tmpfs) are charged to the group; the loop burns CPU
    const child = shell(`head -c 8388608 /dev/zero > ${join(tmp, 'ballast')}; while :; do :; done`);
    cg.addProcess(child.pid!);
    go(child);
    const ballast = join(tmp, 'ballast');
    while (!existsSync(ballast) || statSync(ballast).size < 8388608) await sleep(10);
    const t0 = process.hrtime.bigint();
    const a = cg.stats();
    await sleep(600);
    const b = cg.stats();
    const elapsed = Number(process.hrtime.bigint() - t0);
    expect(b.cpu!.usageNs - a.cpu!.usageNs).toBeGreaterThan(100e6);
    expect(cpuPercent(a, b, elapsed)).toBeGreaterThan(15);
    expect(b.pids!.current).toBe(1);
    expect(b.memory!.usageBytes).toBeGreaterThan(8 * 1024 * 1024);
  });

  it('updates limits of a live group', () => {
    const cg = make({ memoryBytes: parseMemory('64m'), pidsLimit: 10 });
    cg.update({ memoryBytes: parseMemory('256m'), pidsLimit: 30 });
    expect(cg.stats().memory!.limitBytes).toBe(256 * 1024 * 1024);
    expect(cg.stats().pids!.limit).toBe(30);
    cg.update({ memoryBytes: parseMemory('32m') });
    expect(cg.stats().memory!.limitBytes).toBe(32 * 1024 * 1024);
  });

  it('rejects a cpuset the machine does not have, leaving nothing behind', () => {
    const id = `c${randomBytes(6).toString('hex')}`;
    expect(() => createContainerCgroup(layout, id, { cpusetCpus: '0-4095' }, { parent: PARENT })).toThrow(UsageError);
    expect(() => createContainerCgroup(layout, id, { cpusetCpus: '0-4095' }, { parent: PARENT })).toThrow(
      /^Requested CPUs are not available - requested 0-4095, available: /,
    );
    expect(openContainerCgroup(layout, id, { parent: PARENT }).exists()).toBe(false);
  });

  it('removing a group that does not exist is not an error', async () => {
    await openContainerCgroup(layout, 'never-made', { parent: PARENT }).remove();
  });
});
