// The cgroup of an existing container, for every command that acts on one (stop, pause, stats,
// top, inspect; and finish, rm, exec). start creates it with createContainerCgroup.
import { detectCgroups, openContainerCgroup, type ContainerCgroup } from '../cgroups/index.js';
import type { ContainerRow } from '../store/containers.js';

export function containerCgroup(row: Pick<ContainerRow, 'id'>): ContainerCgroup {
  return openContainerCgroup(detectCgroups(), row.id, cgroupParent());
}

/** Tests put their cgroups under a parent of their own. */
export function cgroupParent(): { parent: string } {
  return { parent: process.env['TSCONTAINER_CGROUP_PARENT'] ?? 'tscontainer' };
}
