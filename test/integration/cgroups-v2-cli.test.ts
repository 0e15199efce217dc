// The CLI on cgroup v2 alone (most users' layout): the files `run` writes for docker's flags, the
// container's view of its own group (cgroup namespace), pause through cgroup.freeze, an OOM kill
// read from memory.events, and nothing left after rm. This machine's host is hybrid (v1), so the
// file skips there; `npm run test:vm` runs it in a v2-only VM.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cgroupV2Only, leftovers, makeRoot, type TestRoot } from './support/cli.js';
import { blkioToIoWeight, sharesToWeight } from '../../src/cgroups/index.js';

function whyNot(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root';
  if (!cgroupV2Only()) return 'needs cgroup v2 alone at /sys/fs/cgroup, this host has v1 hierarchies (npm run test:vm)';
  return undefined;
}
const skip = whyNot();

describe.skipIf(skip !== undefined)(`run on cgroup v2${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let t: TestRoot;
  const group = (id: string) => join('/sys/fs/cgroup', t.cgroupParent, id);
  const file = (id: string, name: string) => readFileSync(join(group(id), name), 'utf8').trim();

  beforeAll(async () => {
    t = makeRoot('cgv2');
    const r = await t.run(['run', '--rm', 'busybox', 'true']);
    expect(r.exitCode, r.stderr).toBe(0);
  });

  afterAll(async () => {
    expect(await t.cleanup()).toEqual([]);
  });

  it('writes memory.max, memory.swap.max, cpu.max, cpu.weight, cpuset.cpus, pids.max and io.weight', async () => {
    const r = await t.run([
      'run',
      '-d',
      '--name',
      'lim',
      '--network',
      'none',
      '-m',
      '64m',
      '--memory-swap',
      '96m',
      '--cpus',
      '0.5',
      '--cpu-shares',
      '512',
      '--cpuset-cpus',
      '0',
      '--pids-limit',
      '50',
      '--blkio-weight',
      '300',
      'busybox',
      'sleep',
      '1000',
    ]);
    expect(r.exitCode, r.stderr).toBe(0);
    const id = r.stdout.trim();
    expect(file(id, 'memory.max')).toBe(String(64 * 1024 * 1024));
    if (existsSync(join(group(id), 'memory.swap.max'))) expect(file(id, 'memory.swap.max')).toBe(String(32 * 1024 * 1024));
    expect(file(id, 'cpu.max')).toBe('50000 100000');
    expect(file(id, 'cpu.weight')).toBe(String(sharesToWeight(512)));
    expect(file(id, 'cpuset.cpus')).toBe('0');
    expect(file(id, 'pids.max')).toBe('50');
    // BFQ takes the blkio weight as it is; else io.weight (iocost) gets it scaled to 1..10000
    if (existsSync(join(group(id), 'io.bfq.weight'))) expect(file(id, 'io.bfq.weight')).toMatch(/\b300$/);
    else expect(file(id, 'io.weight')).toBe(`default ${blkioToIoWeight(300)}`);
    // the parent delegates the controllers; the container's own group is a leaf with its process
    const parent = readFileSync(join('/sys/fs/cgroup', t.cgroupParent, 'cgroup.subtree_control'), 'utf8');
    for (const c of ['memory', 'cpu', 'pids', 'cpuset']) expect(parent).toContain(c);
    const pid = (await t.run(['inspect', '-f', '{{.State.Pid}}', 'lim'])).stdout.trim();
    expect(file(id, 'cgroup.procs').split('\n')).toContain(pid);
    expect(readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim()).toBe(`0::/${t.cgroupParent}/${id}`);
    expect((await t.run(['rm', '-f', 'lim'])).exitCode).toBe(0);
    expect(existsSync(group(id))).toBe(false);
  });

  it('the container sees its own group as / (cgroup namespace), and stats read the v2 files', async () => {
    const r = await t.run(['run', '--rm', '--network', 'none', 'busybox', 'cat', '/proc/self/cgroup']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe('0::/');
    expect(
      (await t.run(['run', '-d', '--name', 'st', '--network', 'none', '-m', '32m', 'busybox', 'sleep', '1000'])).exitCode,
    ).toBe(0);
    const s = await t.run(['stats', '--no-stream', '--format', 'json', 'st']);
    expect(s.exitCode, s.stderr).toBe(0);
    const j = JSON.parse(s.stdout) as { MemUsage: string; PIDs: string };
    expect(j.MemUsage).toMatch(/ \/ 32MiB$/);
    expect(j.PIDs).toBe('1');
    expect((await t.run(['rm', '-f', 'st'])).exitCode).toBe(0);
  });

  it('pause freezes through cgroup.freeze, unpause thaws', async () => {
    const r = await t.run(['run', '-d', '--name', 'pz', '--network', 'none', 'busybox', 'sleep', '1000']);
    expect(r.exitCode, r.stderr).toBe(0);
    const id = r.stdout.trim();
    expect((await t.run(['pause', 'pz'])).exitCode).toBe(0);
    expect(file(id, 'cgroup.freeze')).toBe('1');
    expect(file(id, 'cgroup.events')).toMatch(/^frozen 1$/m);
    expect((await t.run(['inspect', '-f', '{{.State.Status}}', 'pz'])).stdout).toBe('paused');
    expect((await t.run(['unpause', 'pz'])).exitCode).toBe(0);
    expect(file(id, 'cgroup.events')).toMatch(/^frozen 0$/m);
    expect((await t.run(['rm', '-f', 'pz'])).exitCode).toBe(0);
  });

  it('an OOM kill is exit 137 and OOMKilled, read from memory.events', async () => {
    const r = await t.run([
      'run',
      '--name',
      'oom',
      '--network',
      'none',
      '-m',
      '32m',
      'busybox',
      'sh',
      '-c',
      'head -c 200m /dev/zero | tail',
    ]);
    expect(r.exitCode).toBe(137);
    expect((await t.run(['inspect', '-f', '{{.State.OOMKilled}} {{.State.ExitCode}}', 'oom'])).stdout).toBe('true 137');
    expect((await t.run(['rm', 'oom'])).exitCode).toBe(0);
    expect(leftovers(t.root, t.cgroupParent)).toEqual([]);
  });
});
