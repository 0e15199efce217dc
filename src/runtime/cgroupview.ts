// The container's read-only view of its own cgroups at /sys/fs/cgroup, as docker and podman
// give one: programs that size themselves from their limits (JVMs, Go, Node, nproc-style
// scripts) read them there. See docs/security.md, "The cgroup view".
//
//   cgroup v1 (and the hybrid layout): a tmpfs at /sys/fs/cgroup with one read-only bind of the
//     container's own directory per hierarchy (/sys/fs/cgroup/memory is the container's memory
//     group, so memory.limit_in_bytes is its limit); co-mounted controllers (cpu,cpuacct) get
//     the directory under each name too; the tmpfs is then made read-only.
//   cgroup v2: one read-only bind of the container's group at /sys/fs/cgroup.
//
// Binds, not `mount -t cgroup` inside the cgroup namespace: the caller makes the container's
// directories before the helper starts, so the binds are made with the rest of the root while the
// caller moves the process into them, and nothing waits for the cgroup namespace, which the child
// unshares only after "go" (it must be rooted at the group the process has been moved to).
// Inside that namespace the kernel shows these binds as the namespace's root ("/" in
// /proc/self/mountinfo), exactly as a cgroup mount made there would look.
import { basename, join } from 'node:path';
import type { CgroupLayout, ContainerCgroup } from '../cgroups/index.js';
import type { OciMount } from './spec.js';

export const CGROUP_MOUNT = '/sys/fs/cgroup';

export interface CgroupView {
  mounts: OciMount[];
  /** Paths to make read-only once mounted (the v1 tmpfs). */
  readonlyPaths: string[];
}

/** The view for `cgroup`; `writable` (--privileged) leaves it read-write, as docker does. */
export function cgroupView(layout: CgroupLayout, cgroup: ContainerCgroup, writable = false): CgroupView {
  const flags = ['nosuid', 'noexec', 'nodev', writable ? 'rw' : 'ro'];
  const bind = (destination: string, source: string): OciMount => ({
    destination,
    type: 'bind',
    source,
    options: ['rbind', 'rprivate', ...flags],
  });
  if (cgroup.version === 2) {
    const dir = cgroup.paths['unified'];
    return { mounts: dir ? [bind(CGROUP_MOUNT, dir)] : [], readonlyPaths: [] };
  }
  const mounts: OciMount[] = [
    { destination: CGROUP_MOUNT, type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'noexec', 'nodev', 'mode=755', 'size=64k'] },
  ];
  const seen = new Set<string>();
  for (const [controller, dir] of Object.entries(cgroup.paths)) {
    const h = layout.v1[controller as keyof CgroupLayout['v1']];
    if (!h) continue;
    // the hierarchy's own name ("memory", "cpu,cpuacct"), and the controller's when it differs
    for (const name of new Set([basename(h.mountPoint), controller])) {
      if (seen.has(name)) continue;
      seen.add(name);
      mounts.push(bind(join(CGROUP_MOUNT, name), dir));
    }
  }
  return { mounts, readonlyPaths: writable ? [] : [CGROUP_MOUNT] };
}
