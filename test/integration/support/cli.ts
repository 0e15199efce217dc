// Runs the real CLI against a temporary state root, and checks that nothing of a test is left
// on the host afterwards: no mounts under the root, no cgroup directories under the test's
// cgroup parent, no rows.
import { execa } from 'execa';
import { mkdtempSync, rmSync, readFileSync, existsSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { randomInt } from 'node:crypto';
import { join, resolve } from 'node:path';

export const REPO = resolve(new URL('../../../', import.meta.url).pathname);
// bin/tscontainer, as a user runs it (it turns on the compile cache for the bundle)
export const CLI = join(REPO, 'bin', 'tscontainer');

/** Timing bounds in the tests are the host's. Under emulation (the VM harness sets
 * TSC_TEST_TIME_SCALE: QEMU TCG runs several times slower) upper bounds and waits stretch by this
 * factor; lower bounds (a stop -t 2 takes at least 2 s) do not. */
export const TIME_SCALE = Math.max(1, Number(process.env['TSC_TEST_TIME_SCALE'] ?? '1') || 1);
export const scaled = (ms: number): number => Math.round(ms * TIME_SCALE);

/** What a CLI run gave: exit code (-1 when it was killed) and its output, without the final newline. */
export interface CliResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface TestRoot {
  root: string;
  bridge: string;
  subnet: string;
  cgroupParent: string;
  env: NodeJS.ProcessEnv;
  /** Runs `tscontainer ARGS` and never throws: look at exitCode, stdout, stderr. */
  run(args: string[], opts?: { input?: string; timeout?: number; env?: NodeJS.ProcessEnv }): Promise<CliResult>;
  /** Removes every container (rm -f), then the root; asserts nothing is left on the host. */
  cleanup(): Promise<string[]>;
}

/** `parent`: where to make the root (default the temp dir), e.g. on a file system of the test's own. */
export function makeRoot(label: string, parent: string = tmpdir()): TestRoot {
  const root = mkdtempSync(join(parent, `tsc-it-${label}-`));
  const suffix = root
    .slice(-6)
    .toLowerCase()
    .replace(/[^a-z0-9]/g, 'x');
  const cgroupParent = `tscontainer-test-${suffix}`;
  // Our own bridge, subnet and nftables table: never the host's, never another test file's.
  const bridge = `tsct${suffix}`;
  const table = `tsctest_${suffix}`;
  const subnet = `10.${210 + randomInt(40)}.${randomInt(256)}.0/24`;
  const env = {
    ...process.env,
    TSCONTAINER_ROOT: root,
    TSCONTAINER_CGROUP_PARENT: cgroupParent,
    TSCONTAINER_BRIDGE: bridge,
    TSCONTAINER_BRIDGE_SUBNET: subnet,
    TSCONTAINER_NFT_TABLE: table,
    TSCONTAINER_VETH_PREFIX: `v${suffix.slice(0, 4)}`,
  };
  const run: TestRoot['run'] = async (args, opts = {}) => {
    const r = await execa('node', [CLI, ...args], {
      env: { ...env, ...opts.env },
      reject: false,
      input: opts.input ?? '',
      timeout: scaled(opts.timeout ?? 60_000),
    });
    return { exitCode: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr };
  };
  return {
    root,
    bridge,
    subnet,
    cgroupParent,
    env,
    run,
    async cleanup() {
      const ids = (await run(['ps', '-aq', '--no-trunc'])).stdout.split('\n').filter(Boolean);
      if (ids.length > 0) await run(['rm', '-f', ...ids]);
      const leaks = leftovers(root, cgroupParent);
      for (const m of mountsUnder(root).reverse()) await execa('umount', ['-l', m], { reject: false });
      for (const d of cgroupDirs(cgroupParent)) {
        await execa('rmdir', [d], { reject: false });
      }
      if (existsSync(`/sys/class/net/${bridge}`)) await execa('ip', ['link', 'del', bridge], { reject: false });
      // The default network outlives its containers (as docker's does); its table may stay, but
      // no container's port rule may.
      const rules = await execa('nft', ['list', 'table', 'ip', table], { reject: false });
      if (rules.exitCode === 0) {
        // `dnat to` is a port's rule; `ct status dnat` (the hairpin masquerade) is not one
        if (/dnat to/.test(rules.stdout)) leaks.push(`nftables DNAT rules left in ${table}`);
        await execa('nft', ['delete', 'table', 'ip', table], { reject: false });
      }
      for (const l of (await execa('ip', ['-o', 'link', 'show', 'type', 'veth'], { reject: false })).stdout.split('\n')) {
        if (l.includes(env['TSCONTAINER_VETH_PREFIX']!)) leaks.push(`veth ${l.split(': ')[1]}`);
      }
      rmSync(root, { recursive: true, force: true });
      return leaks;
    },
  };
}

export function mountsUnder(root: string): string[] {
  return readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1] ?? '')
    .filter((m) => m.startsWith(root));
}

/** Where cgroup hierarchies are mounted: /sys/fs/cgroup itself on cgroup v2 only, else one
 * directory per v1 controller (and `unified`) below it. */
function hierarchies(): string[] {
  const base = '/sys/fs/cgroup';
  if (existsSync(join(base, 'cgroup.controllers'))) return [base];
  return readdirSync(base).map((c) => join(base, c));
}

/** Cgroup directories of the test's parent, deepest first, in every hierarchy (v1 and v2). */
export function cgroupDirs(parent: string): string[] {
  const out: string[] = [];
  for (const h of hierarchies()) {
    const p = join(h, parent);
    if (!existsSync(p)) continue;
    for (const e of readdirSync(p, { withFileTypes: true })) if (e.isDirectory()) out.push(join(p, e.name));
    out.push(p);
  }
  return out;
}

/** What a finished test left behind: mounts under the root and container cgroups. */
export function leftovers(root: string, cgroupParent: string): string[] {
  const leaks = mountsUnder(root).map((m) => `mount ${m}`);
  for (const d of cgroupDirs(cgroupParent)) if (!d.endsWith(cgroupParent)) leaks.push(`cgroup ${d}`);
  return leaks;
}

/** A container's cgroup directory holding `file`: v2, the one unified group; v1, the group in the
 * hierarchy that has it (`pids` for cgroup.procs, `freezer` for freezer.state ...). */
export function containerCgroupDir(parent: string, id: string, v1Controller: string): string {
  const base = '/sys/fs/cgroup';
  if (existsSync(join(base, 'cgroup.controllers'))) return join(base, parent, id);
  return join(base, v1Controller, parent, id);
}

/** True when containers are placed in cgroup v2 (the unified tree is the only hierarchy). */
export function cgroupV2Only(): boolean {
  return existsSync('/sys/fs/cgroup/cgroup.controllers');
}

/** Freezes or thaws a container's group directly, as `pause` does: v2 cgroup.freeze, v1 freezer.state. */
export function freezeDirect(parent: string, id: string, frozen: boolean): void {
  if (cgroupV2Only()) writeFileSync(join(containerCgroupDir(parent, id, ''), 'cgroup.freeze'), frozen ? '1' : '0');
  else writeFileSync(join(containerCgroupDir(parent, id, 'freezer'), 'freezer.state'), frozen ? 'FROZEN' : 'THAWED');
}
