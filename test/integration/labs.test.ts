// The labs' checkers against the real kernel: each passes its reference solution (kept here in
// test/fixtures/labs/, never in a student's workspace) and fails each typical wrong one with the
// hint that names the missing property. Every lab runs in a temporary state root with its own
// random names (netns, links, bridge, 10.2xx.y.0/24 subnet checked against the host's routes, nft
// table, cgroup parent); `lab reset` runs after every case, and the test then checks that the
// host has none of them left.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { execFileSync, spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkLab, resetLab, startLab } from '../../src/lab/index.js';
import { cgroupsOrUndefined, readEnv } from '../../src/lab/workspace.js';
import { dmThinMissing } from '../../src/lab/checkers/fs-security.js';

const skip = process.getuid?.() !== 0 ? 'needs root' : undefined;

/** Whether `cmd` succeeds: what the kernel here can do (the VM harness has no veth module and
 *  runs in a chroot, where CLONE_NEWUSER is refused). */
function can(cmd: string, args: string[]): boolean {
  return spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
}
const probeLink = `tlprobe${process.pid % 100000}`;
const KERNEL_LACKS: Record<number, string | undefined> = {};
if (!skip) {
  if (can('ip', ['link', 'add', probeLink, 'type', 'veth', 'peer', 'name', `${probeLink}p`])) {
    can('ip', ['link', 'del', probeLink]);
  } else KERNEL_LACKS[4] = KERNEL_LACKS[5] = 'no veth pairs on this kernel';
  if (!can('unshare', ['--user', 'true'])) KERNEL_LACKS[11] = 'CLONE_NEWUSER is refused here';
}
const CGROUP_V2 = !skip && cgroupsOrUndefined()?.version === 2;
const FIX = join(import.meta.dirname, '..', 'fixtures', 'labs');

interface Case {
  lab: number;
  fixture: string;
  /** on cgroup v2, where the first missing property differs */
  v2?: { failing: string; hint: string };
  /** undefined: must pass; else a part of the hint of the first failing check */
  hint?: string;
  failing?: string;
}

const CASES: Case[] = [
  { lab: 1, fixture: '01/good' },
  { lab: 1, fixture: '01/no-fork', failing: 'new pid namespace', hint: 'fork after unsharing' },
  { lab: 1, fixture: '01/no-proc', failing: 'own pid namespace', hint: '--mount-proc' },
  { lab: 2, fixture: '02/good' },
  { lab: 2, fixture: '02/chroot', failing: 'a mount point', hint: 'pivot_root needs the new root to be a mount point' },
  { lab: 2, fixture: '02/no-umount', failing: 'no longer reachable', hint: 'umount2(old, MNT_DETACH)' },
  { lab: 3, fixture: '03/good' },
  { lab: 3, fixture: '03/no-ipc', failing: 'new ipc namespace', hint: 'CLONE_NEWIPC' },
  { lab: 3, fixture: '03/no-hostname', failing: 'the hostname inside', hint: 'sethostname' },
  { lab: 4, fixture: '04/good' },
  { lab: 4, fixture: '04/no-lo', failing: 'lo is up', hint: 'link set lo up' },
  { lab: 4, fixture: '04/no-route', failing: 'default route', hint: 'route add default via' },
  { lab: 5, fixture: '05/good' },
  { lab: 5, fixture: '05/no-masq', failing: 'masquerade', hint: 'hook postrouting' },
  { lab: 5, fixture: '05/no-output', failing: 'output nat chain', hint: 'skip prerouting' },
  { lab: 6, fixture: '06/good' },
  { lab: 6, fixture: '06/no-limit', failing: 'is 32 MiB', hint: '33554432' },
  { lab: 7, fixture: '07/good' },
  {
    lab: 7,
    fixture: '07/no-cpuset',
    failing: 'cpuset cgroup',
    hint: 'LAB_CGROUP_CPUSET',
    v2: { failing: 'CPU 0 only', hint: 'write 0 to cpuset.cpus' },
  },
  { lab: 8, fixture: '08/good' },
  { lab: 8, fixture: '08/no-freeze', failing: 'frozen', hint: 'read it from /proc/PID/cgroup' },
  { lab: 9, fixture: '09/good' },
  { lab: 9, fixture: '09/wrong-order', failing: 'lower2 above lower1', hint: 'top first' },
  { lab: 10, fixture: '10/good' },
  { lab: 10, fixture: '10/all-caps', failing: 'bounding set', hint: 'PR_CAPBSET_DROP' },
  { lab: 10, fixture: '10/no-nnp', failing: 'no_new_privs', hint: 'PR_SET_NO_NEW_PRIVS' },
  { lab: 11, fixture: '11/good' },
  { lab: 11, fixture: '11/root-map', failing: 'uid_map', hint: 'root outside too' },
];

describe.skipIf(skip !== undefined)('labs on the real kernel', () => {
  const root = mkdtempSync(join(tmpdir(), 'tsc-labs-'));
  afterAll(async () => {
    for (let n = 1; n <= 12; n++) await resetLab(root, n).catch(() => undefined);
    rmSync(root, { recursive: true, force: true });
  });

  for (const c of CASES) {
    const lacks = KERNEL_LACKS[c.lab];
    it.skipIf(lacks !== undefined)(
      `lab ${c.lab}: ${c.fixture} ${c.hint ? 'fails with the right hint' : 'passes'}${lacks ? ` (skipped: ${lacks})` : ''}`,
      async () => {
        const want = CGROUP_V2 && c.v2 ? c.v2 : { failing: c.failing, hint: c.hint };
        const { workspace } = startLab(root, c.lab);
        const env = readEnv(workspace)!;
        try {
          const r = await checkLab(root, c.lab, join(FIX, c.fixture));
          const failed = r.checks.find((x) => !x.ok);
          if (c.hint === undefined) {
            expect(failed, JSON.stringify(r, null, 2)).toBeUndefined();
            expect(r.passed).toBe(true);
          } else {
            expect(r.passed).toBe(false);
            expect(failed?.property, JSON.stringify(r, null, 2)).toContain(want.failing);
            expect(failed?.hint).toContain(want.hint);
          }
          expect(r.cgroup).toMatch(/^cgroup v[12] \(/);
        } finally {
          await resetLab(root, c.lab);
        }
        // nothing of the lab is left on the host
        expect(existsSync(workspace)).toBe(false);
        const mounts = readFileSync('/proc/self/mountinfo', 'utf8');
        expect(mounts).not.toContain(workspace);
        if (env['LAB_NETNS']) expect(existsSync(`/run/netns/${env['LAB_NETNS']}`)).toBe(false);
        for (const l of [env['LAB_HOST_IF'], env['LAB_BRIDGE']]) if (l) expect(existsSync(`/sys/class/net/${l}`)).toBe(false);
        if (env['LAB_NFT_TABLE'])
          expect(execFileSync('nft', ['list', 'tables'], { encoding: 'utf8' })).not.toContain(env['LAB_NFT_TABLE']);
        for (const [k, v] of Object.entries(env))
          if (/^LAB_CGROUP_[A-Z]+$/.test(k) && k !== 'LAB_CGROUP_VERSION' && k !== 'LAB_CGROUP_PARENT')
            expect(existsSync(v)).toBe(false);
      },
    );
  }

  it('the CLI: list with progress, start, check (starter fails, reference passes), reset', () => {
    const cli = (...args: string[]) => {
      const r = spawnSync(
        process.execPath,
        [join(import.meta.dirname, '..', '..', 'bin', 'tscontainer'), '--root', root, 'lab', ...args],
        {
          encoding: 'utf8',
        },
      );
      return { code: r.status, out: r.stdout + r.stderr };
    };
    const list = cli('list');
    expect(list.code).toBe(0);
    expect(list.out).toMatch(/Processes and PID namespaces/);
    expect(list.out).toMatch(/This machine: cgroup v[12]/);
    const start = cli('start', '1');
    expect(start.out).toMatch(/labs\/01-pid-namespaces\/README\.md/);
    const starter = cli('check', '1');
    expect(starter.code).toBe(1);
    expect(starter.out).toMatch(/FAIL the command runs in a new pid namespace/);
    expect(starter.out).toMatch(/hint: /);
    const good = cli('check', '1', join(FIX, '01/good'));
    expect(good.code, good.out).toBe(0);
    expect(good.out).toMatch(/PASSED/);
    expect(cli('list').out).toMatch(/Processes and PID namespaces\s+passed/);
    expect(cli('reset', '1').code).toBe(0);
    expect(cli('list').out).not.toMatch(/passed/);
    expect(cli('check', 'x').code).toBe(125);
  });

  it('lab 12 says plainly when the kernel lacks dm-thin', async () => {
    const missing = dmThinMissing();
    const r = await checkLab(root, 12, join(FIX, '12/good'));
    if (missing) {
      expect(r.passed).toBe(false);
      expect(r.unsupported).toContain('VM harness');
    } else expect(r.passed).toBe(true);
    await resetLab(root, 12);
  });
});
