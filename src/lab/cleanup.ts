// Removes what a lab and its student made, found from the workspace's own names (lab.env):
// processes left in the lab's cgroups or rooted in the workspace, the cgroups, mounts under the
// workspace, the network namespace, links and the nft table. Run before and after every check
// (so that a script can be checked again) and by `lab reset`, which also removes the workspace.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SystemError } from '../util/errors.js';
import { killPids, mountsOf } from './proc.js';
import type { LabEnv } from './types.js';

function quiet(cmd: string, args: string[]): boolean {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Directories below `dir`, deepest first. */
function subdirs(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name);
  } catch {
    return [];
  }
  return names.flatMap((n) => [...subdirs(join(dir, n)), join(dir, n)]);
}

function procsIn(dir: string): number[] {
  try {
    return readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function thaw(dir: string): void {
  for (const [f, v] of [
    ['freezer.state', 'THAWED'],
    ['cgroup.freeze', '0'],
  ] as const) {
    if (existsSync(join(dir, f))) {
      try {
        writeFileSync(join(dir, f), v);
      } catch {
        /* not frozen */
      }
    }
  }
}

async function removeCgroups(env: LabEnv, keepParent: boolean): Promise<void> {
  const parents = [
    ...new Set(
      Object.entries(env)
        .filter(([k]) => /^LAB_CGROUP_[A-Z]+$/.test(k) && k !== 'LAB_CGROUP_VERSION' && k !== 'LAB_CGROUP_PARENT')
        .map(([, v]) => v),
    ),
  ];
  for (const parent of parents) {
    if (!existsSync(parent)) continue;
    const dirs = [...subdirs(parent), parent];
    for (const d of dirs) thaw(d);
    for (let attempt = 0; attempt < 50; attempt++) {
      const pids = dirs.flatMap(procsIn);
      if (pids.length === 0) break;
      killPids(pids);
      await new Promise((r) => setTimeout(r, 20));
    }
    for (const d of keepParent ? dirs.slice(0, -1) : dirs) {
      for (let attempt = 0; attempt < 50; attempt++) {
        try {
          rmdirSync(d);
          break;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') break;
          await new Promise((r) => setTimeout(r, 20));
        }
      }
    }
  }
}

/** Processes whose root is inside the workspace (a student's chroot or pivot_root leftovers).
 *  Never by working directory: the student's own shell may well sit in the workspace. */
function processesIn(workspace: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const to = readlinkSync(`/proc/${name}/root`);
      if (to === workspace || to.startsWith(`${workspace}/`)) out.push(Number(name));
    } catch {
      /* gone or not ours to read */
    }
  }
  return out;
}

function mountsUnder(workspace: string): string[] {
  return mountsOf('self')
    .map((m) => m.mountPoint)
    .filter((p) => p === workspace || p.startsWith(`${workspace}/`))
    .sort((a, b) => b.length - a.length);
}

/** Lab 12's device-mapper devices (tl<tag>-*, snapshots and volumes before the pool) and loop
 *  devices backed by files in the workspace. */
function removeDevices(workspace: string, tag: string | undefined): void {
  if (tag && existsSync('/dev/mapper/control')) {
    let names: string[] = [];
    try {
      names = execFileSync('dmsetup', ['ls'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
        .split('\n')
        .map((l) => l.split(/\s+/)[0] ?? '')
        .filter((n) => n.startsWith(`tl${tag}-`));
    } catch {
      /* no device-mapper */
    }
    names.sort((a, b) => Number(a.endsWith('-pool')) - Number(b.endsWith('-pool')));
    for (const n of names) quiet('dmsetup', ['remove', '--force', n]);
  }
  let loops: string[] = [];
  try {
    loops = readdirSync('/sys/block').filter((d) => d.startsWith('loop'));
  } catch {
    return;
  }
  for (const l of loops) {
    try {
      const file = readFileSync(`/sys/block/${l}/loop/backing_file`, 'utf8').trim();
      if (file.startsWith(`${workspace}/`)) quiet('losetup', ['-d', `/dev/${l}`]);
    } catch {
      /* not bound */
    }
  }
}

/** Cleans the lab's kernel objects; with `removeWorkspace`, deletes the workspace too. */
export async function cleanLab(workspace: string, env: LabEnv, removeWorkspace: boolean): Promise<void> {
  killPids(processesIn(workspace));
  await removeCgroups(env, !removeWorkspace);
  for (let i = 0; i < 5; i++) {
    const mounts = mountsUnder(workspace);
    if (mounts.length === 0) break;
    for (const m of mounts) quiet('umount', ['-l', m]);
  }
  const ns = env['LAB_NETNS'];
  if (ns && existsSync(`/run/netns/${ns}`)) quiet('ip', ['netns', 'del', ns]);
  for (const l of [env['LAB_HOST_IF'], env['LAB_BRIDGE'], env['LAB_HOST_IF'] ? `${env['LAB_HOST_IF']}c` : undefined])
    if (l && existsSync(`/sys/class/net/${l}`)) quiet('ip', ['link', 'del', l]);
  removeDevices(workspace, env['LAB_TAG']);
  const table = env['LAB_NFT_TABLE'];
  if (table) for (const fam of ['ip', 'inet']) quiet('nft', ['delete', 'table', fam, table]);
  if (removeWorkspace && existsSync(workspace)) {
    const left = mountsUnder(workspace);
    // never delete through a mount that is still there
    if (left.length > 0) throw new SystemError(`cannot remove ${workspace}: ${left[0]} is still mounted`);
    rmSync(workspace, { recursive: true, force: true });
  }
}
