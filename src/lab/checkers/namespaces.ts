// Labs 1-3: pid namespaces, mount namespaces and pivot_root, uts and ipc.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { cmdlineOf, mountsOf, statusOf } from '../proc.js';
import type { Checker } from '../types.js';
import { expectNewNs, withProbe } from './common.js';

/** Lab 1: run.sh CMD... runs CMD as PID 1 of a new pid namespace, with a /proc of its own. */
export const checkPid: Checker = async (input, t) => {
  await withProbe(input, t, (pid) => {
    expectNewNs(
      t,
      pid,
      'pid',
      'unshare(CLONE_NEWPID) moves only the children of the caller into the new namespace: fork after unsharing (unshare --pid --fork)',
    );
    const nspid = (statusOf(pid).get('NSpid') ?? '').split(/\s+/);
    t.expect(
      'the command is PID 1 of its namespace',
      nspid[nspid.length - 1] === '1',
      'the first process forked into a new pid namespace is its PID 1: exec the command from that first child (unshare --fork execs it there)',
      `NSpid: ${nspid.join(' ')}`,
    );
    expectNewNs(
      t,
      pid,
      'mnt',
      "to mount a /proc of its own without changing the host's, the command needs its own mount namespace (unshare --mount)",
    );
    // /proc/PID/root/proc is the command's /proc as its mount namespace shows it
    const init = readFileSync(`/proc/${pid}/root/proc/1/cmdline`, 'utf8').split('\0');
    const self = cmdlineOf(pid);
    t.expect(
      "the command's /proc shows its own pid namespace",
      init[0] === self[0] && init[1] === self[1],
      "the command still sees the host's /proc (its PID 1 is the host's init): mount a new proc on /proc inside the namespace (unshare --mount-proc, or mount -t proc proc /proc)",
      `PID 1 in its /proc: ${init.filter(Boolean).join(' ')}`,
    );
  });
};

/** Lab 2: run.sh CMD... runs CMD in a new mount namespace whose root is $LAB_ROOTFS, after pivot_root. */
export const checkMount: Checker = async (input, t) => {
  const rootfs = input.env['LAB_ROOTFS']!;
  const hostRoot = mountsOf('self').find((m) => m.mountPoint === '/');
  await withProbe(input, t, (pid) => {
    expectNewNs(t, pid, 'mnt', "the command shares the host's mount table: unshare(CLONE_NEWNS) first (unshare --mount)");
    const tag = (() => {
      try {
        return readFileSync(`/proc/${pid}/root/LAB-ROOT`, 'utf8').trim();
      } catch {
        return undefined;
      }
    })();
    t.expect(
      "the command's / is the lab's root filesystem",
      tag === input.env['LAB_TAG'],
      `the command's / is not ${rootfs} (no /LAB-ROOT there): switch into it with pivot_root`,
    );
    const mounts = mountsOf(pid);
    const root = mounts.find((m) => m.mountPoint === '/');
    t.expect(
      'the root filesystem is a mount point (pivot_root, not chroot)',
      root !== undefined && (root.root !== '/' || root.device !== hostRoot?.device),
      "nothing is mounted at the command's / : chroot only changes one process's root; pivot_root needs the new root to be a mount point, so bind-mount $LAB_ROOTFS onto itself first (mount --bind $LAB_ROOTFS $LAB_ROOTFS), then pivot_root . .old",
      root ? `/ is ${root.source} root=${root.root}` : 'no mount at /',
    );
    const old = mounts.find(
      (m) => m.mountPoint !== '/' && hostRoot !== undefined && m.device === hostRoot.device && m.root === '/',
    );
    t.expect(
      "the host's root is no longer reachable",
      old === undefined,
      `the old root is still mounted at ${old?.mountPoint} inside: after pivot_root, umount2(old, MNT_DETACH) (umount -l /.old) and rmdir it`,
    );
    const leaked = mountsOf('self').find((m) => m.mountPoint === rootfs || m.mountPoint.startsWith(`${rootfs}/`));
    t.expect(
      "the lab's mounts stay out of the host's mount table",
      leaked === undefined,
      `${leaked?.mountPoint} appeared in the host's mount table: make mounts private (mount --make-rprivate /) before mounting inside the new namespace`,
    );
  });
};

/** Lab 3: run.sh CMD... runs CMD with hostname box-$LAB_TAG in new uts and ipc namespaces. */
export const checkUtsIpc: Checker = async (input, t) => {
  const before = hostname();
  const want = `box-${input.env['LAB_TAG']}`;
  try {
    await withProbe(input, t, (pid) => {
      const now = hostname();
      t.expect(
        "the host's hostname is unchanged",
        now === before,
        `the host's hostname changed to ${now}: set the hostname only after unshare(CLONE_NEWUTS) (unshare --uts); the checker put ${before} back`,
      );
      expectNewNs(t, pid, 'uts', "the command shares the host's hostname: unshare(CLONE_NEWUTS) (unshare --uts)");
      // read the hostname from inside its uts namespace with setns: what the kernel holds, not what it prints
      let theirs = '';
      try {
        theirs = execFileSync('nsenter', ['--target', String(pid), '--uts', 'cat', '/proc/sys/kernel/hostname'], {
          encoding: 'utf8',
        }).trim();
      } catch {
        /* reported below */
      }
      t.expect(
        `the hostname inside is ${want}`,
        theirs === want,
        `the hostname in its uts namespace is "${theirs}": call sethostname("${want}") (hostname ${want}) inside the new namespace before exec`,
      );
      expectNewNs(
        t,
        pid,
        'ipc',
        "the command shares the host's System V IPC objects and POSIX message queues: unshare(CLONE_NEWIPC) (unshare --ipc)",
      );
      let queues: string[] = [];
      try {
        queues = execFileSync('nsenter', ['--target', String(pid), '--ipc', 'cat', '/proc/sysvipc/msg'], { encoding: 'utf8' })
          .split('\n')
          .slice(1)
          .filter((l) => l.trim() !== '');
      } catch {
        /* reported below */
      }
      t.expect(
        'a message queue exists in the new ipc namespace',
        queues.length > 0,
        "the command's ipc namespace holds no System V message queue: create one inside before exec (ipcmk -Q) and see that the host's ipcs does not list it",
        `${queues.length} queue(s) inside`,
      );
    });
  } finally {
    if (hostname() !== before) execFileSync('hostname', [before]);
  }
};
