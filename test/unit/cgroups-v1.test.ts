// The cgroup v1 path against a simulated tree with co-mounted cpu,cpuacct (the common distro
// layout; this VM mounts them apart, which the integration tests cover).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  createContainerCgroup,
  parseCgroupLayout,
  removeCgroupParent,
  type CgroupLayout,
  type CgroupOptions,
} from '../../src/cgroups/index.js';
import { UnsupportedError } from '../../src/util/errors.js';
import { FakeCgroupTree, type FakeOptions } from './cgroups-fake.js';

const MiB = 1024 * 1024;
const host = { cpuCount: 4, cpus: '0-3', mems: '0' };
const HIER = {
  memory: ['memory'],
  'cpu,cpuacct': ['cpu', 'cpuacct'],
  cpuset: ['cpuset'],
  pids: ['pids'],
  freezer: ['freezer'],
  devices: ['devices'],
  blkio: ['blkio'],
};

let base: string;
let trees = 0;
let fake: FakeCgroupTree;
let layout: CgroupLayout;
let opts: CgroupOptions;
const children: ChildProcess[] = [];

function setup(o: FakeOptions = {}): void {
  fake = new FakeCgroupTree(join(base, `cg${trees++}`), 'v1', { v1: HIER, swap: true, ...o });
  layout = parseCgroupLayout(fake.mountinfo(), undefined, () => undefined);
  opts = { parent: 'tscontainer', fs: fake, host };
}
const rd = (...p: string[]) => readFileSync(join(fake.base, ...p), 'utf8').trim();

beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'cgv1-'));
  setup();
});
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
  rmSync(base, { recursive: true, force: true });
});

describe('cgroup v1 (simulated tree)', () => {
  it('makes one directory per hierarchy; co-mounted controllers share it', () => {
    const cg = createContainerCgroup(layout, 'id1', { cpus: 1, memoryBytes: 64 * MiB }, opts);
    expect(layout.version).toBe(1);
    expect(cg.paths['cpu']).toBe(join(fake.base, 'cpu,cpuacct', 'tscontainer', 'id1'));
    expect(cg.paths['cpuacct']).toBe(cg.paths['cpu']);
    expect(fake.ops.filter((o) => o === 'mkdir cpu,cpuacct/tscontainer/id1')).toHaveLength(1);
    expect(cg.procsFiles()).toHaveLength(7);
    expect(rd('cpu,cpuacct', 'tscontainer', 'id1', 'cpu.cfs_quota_us')).toBe('100000');
    expect(rd('memory', 'tscontainer', 'id1', 'memory.memsw.limit_in_bytes')).toBe(String(128 * MiB));
  });

  it('copies cpuset.cpus and cpuset.mems down from the root so processes can join', () => {
    const cg = createContainerCgroup(layout, 'id2', {}, opts);
    expect(rd('cpuset', 'tscontainer', 'cpuset.cpus')).toBe('0-3');
    expect(rd('cpuset', 'tscontainer', 'cpuset.mems')).toBe('0');
    expect(rd('cpuset', 'tscontainer', 'id2', 'cpuset.cpus')).toBe('0-3');
    const c = spawn('sleep', ['30'], { stdio: 'ignore' });
    children.push(c);
    cg.addProcess(c.pid!); // the fake says ENOSPC if cpus/mems were empty
    expect(cg.pids()).toEqual([c.pid]);
  });

  it('sets the docker default device list', () => {
    createContainerCgroup(layout, 'dev', {}, opts);
    const list = rd('devices', 'tscontainer', 'dev', 'devices.list').split('\n');
    expect(list).not.toContain('a *:* rwm');
    expect(list).toEqual(expect.arrayContaining(['c 1:3 rwm', 'c 1:9 rwm', 'c 5:2 rwm', 'c 136:* rwm', 'c *:* m']));
  });

  it('raises memory and memsw together on update (memsw first when growing)', () => {
    const cg = createContainerCgroup(layout, 'up', { memoryBytes: 64 * MiB }, opts);
    cg.update({ memoryBytes: 512 * MiB });
    expect(rd('memory', 'tscontainer', 'up', 'memory.limit_in_bytes')).toBe(String(512 * MiB));
    expect(rd('memory', 'tscontainer', 'up', 'memory.memsw.limit_in_bytes')).toBe(String(1024 * MiB));
    cg.update({ memoryBytes: 16 * MiB });
    expect(rd('memory', 'tscontainer', 'up', 'memory.limit_in_bytes')).toBe(String(16 * MiB));
  });

  it('uses blkio.bfq.weight when that is the weight file there', () => {
    createContainerCgroup(layout, 'bw', { blkioWeight: 300 }, opts);
    expect(rd('blkio', 'tscontainer', 'bw', 'blkio.bfq.weight')).toBe('300');
  });

  it('removes what it made when a limit cannot be applied', () => {
    setup({ swap: false });
    expect(() => createContainerCgroup(layout, 'bad', { memoryBytes: 64 * MiB, memorySwapBytes: 200 * MiB }, opts)).toThrow(
      UnsupportedError,
    );
    for (const h of Object.keys(HIER)) expect(existsSync(join(fake.base, h, 'tscontainer', 'bad'))).toBe(false);
    expect(removeCgroupParent(layout, 'tscontainer', fake)).toBe(true);
    for (const h of Object.keys(HIER)) expect(existsSync(join(fake.base, h, 'tscontainer'))).toBe(false);
  });

  it('reads v1 stats and the OOM count', () => {
    const cg = createContainerCgroup(layout, 'st', { memoryBytes: 64 * MiB, pidsLimit: 9 }, opts);
    const m = cg.paths['memory']!;
    writeFileSync(join(m, 'memory.usage_in_bytes'), '7000000\n');
    writeFileSync(join(m, 'memory.max_usage_in_bytes'), '9000000\n');
    writeFileSync(join(m, 'memory.stat'), 'cache 5\ntotal_inactive_file 2000000\n');
    writeFileSync(join(m, 'memory.oom_control'), 'oom_kill_disable 0\nunder_oom 0\noom_kill 2\n');
    writeFileSync(join(cg.paths['cpuacct']!, 'cpuacct.usage'), '123456789\n');
    writeFileSync(join(cg.paths['pids']!, 'pids.current'), '4\n');
    expect(cg.stats()).toEqual({
      memory: {
        usageBytes: 7_000_000,
        limitBytes: 64 * MiB,
        inactiveFileBytes: 2_000_000,
        maxUsageBytes: 9_000_000,
        oomKills: 2,
      },
      cpu: { usageNs: 123456789, userNs: 0, systemNs: 0, throttledPeriods: 0, throttledNs: 0 },
      pids: { current: 4, limit: 9 },
    });
    expect(cg.oomKilled()).toBe(true);
    expect(cg.oomFile()).toBe(join(m, 'memory.oom_control'));
  });

  it('reports an unlimited memory limit as null', () => {
    const cg = createContainerCgroup(layout, 'unl', {}, opts);
    expect(cg.stats().memory?.limitBytes).toBeNull();
    expect(cg.stats().pids?.limit).toBeNull();
  });

  it('freezes through freezer.state', async () => {
    const cg = createContainerCgroup(layout, 'fr', {}, opts);
    await cg.freeze();
    expect(rd('freezer', 'tscontainer', 'fr', 'freezer.state')).toBe('FROZEN');
    cg.thaw();
    expect(cg.isFrozen()).toBe(false);
  });
});
