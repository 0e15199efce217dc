// Runs the real CLI against a temporary state root, and checks that nothing of a test is left
// on the host afterwards: no mounts under the root, no cgroup directories under the test's
// cgroup parent, no rows.
import { execa, type Result } from 'execa';
import { mkdtempSync, rmSync, readFileSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const REPO = resolve(new URL('../../../', import.meta.url).pathname);
export const CLI = join(REPO, 'dist', 'cli', 'main.js');

export interface TestRoot {
  root: string;
  cgroupParent: string;
  env: NodeJS.ProcessEnv;
  /** Runs `tscontainer ARGS` and never throws: look at exitCode, stdout, stderr. */
  run(args: string[], opts?: { input?: string; timeout?: number; env?: NodeJS.ProcessEnv }): Promise<Result>;
  /** Removes every container (rm -f), then the root; asserts nothing is left on the host. */
  cleanup(): Promise<string[]>;
}

export function makeRoot(label: string): TestRoot {
  const root = mkdtempSync(join(tmpdir(), `tsc-it-${label}-`));
  const cgroupParent = `tscontainer-test-${root.slice(-6)}`;
  const env = { ...process.env, TSCONTAINER_ROOT: root, TSCONTAINER_CGROUP_PARENT: cgroupParent };
  const run: TestRoot['run'] = (args, opts = {}) =>
    execa('node', [CLI, ...args], {
      env: { ...env, ...opts.env },
      reject: false,
      input: opts.input ?? '',
      timeout: opts.timeout ?? 60_000,
    });
  return {
    root,
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

/** Cgroup directories of the test's parent, deepest first. */
export function cgroupDirs(parent: string): string[] {
  const out: string[] = [];
  const base = '/sys/fs/cgroup';
  for (const ctrl of readdirSync(base)) {
    const p = join(base, ctrl, parent);
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
