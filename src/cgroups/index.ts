// The cgroups module: detect the machine's layout once, then make, open and remove the
// groups of containers in cgroup v1 or v2 behind one ContainerCgroup interface.
//
//   const layout = detectCgroups();
//   const cg = createContainerCgroup(layout, id, { memoryBytes: parseMemory('32m'), pidsLimit: 100 });
//   cg.addProcess(pid);                    // before the helper's `go`
//   helper run --oom-file cg.oomFile() ... // exec: --cgroup-procs for each of cg.procsFiles()
//   await cg.remove();                     // rm: kills what is left, removes the directories
import { join } from 'node:path';
import { DEFAULT_PARENT, checkParent } from './common.js';
import { errnoCode, nodeCgroupFs, type CgroupFs } from './fsops.js';
import { createV1, openV1 } from './v1.js';
import { createV2, openV2 } from './v2.js';
import type { CgroupLayout, CgroupLimits, CgroupOptions, ContainerCgroup } from './types.js';

export { detectCgroups, parseCgroupLayout, resetCgroupDetection } from './detect.js';
export {
  parseCgroupLimits,
  parseMemory,
  parseMemorySwap,
  parseCpuList,
  sharesToWeight,
  blkioToIoWeight,
  DEFAULT_DEVICES,
  MIN_MEMORY,
} from './limits.js';
export { memoryInUse, cpuPercent } from './stats.js';
export { DEFAULT_PARENT } from './common.js';
export type { CgroupFs } from './fsops.js';
export type { CgroupLimitFlags } from './limits.js';
export type {
  CgroupLayout,
  CgroupLimits,
  CgroupOptions,
  CgroupStats,
  ContainerCgroup,
  CpuStats,
  DeviceRule,
  Hierarchy,
  HostResources,
  MemoryStats,
  PidsStats,
} from './types.js';

/**
 * Makes the container's group(s) under `<hierarchy root>/<parent>/<id>` and writes its limits.
 * Throws UsageError for a bad limit and UnsupportedError for one this machine cannot enforce;
 * on any error nothing of the container's group is left behind.
 */
export function createContainerCgroup(
  layout: CgroupLayout,
  containerId: string,
  limits: CgroupLimits = {},
  opts: CgroupOptions = {},
): ContainerCgroup {
  return layout.version === 2 ? createV2(layout, containerId, limits, opts) : createV1(layout, containerId, limits, opts);
}

/** The group of an existing container (for stats, pause, exec, rm); it may no longer exist. */
export function openContainerCgroup(layout: CgroupLayout, containerId: string, opts: CgroupOptions = {}): ContainerCgroup {
  return layout.version === 2 ? openV2(layout, containerId, opts) : openV1(layout, containerId, opts);
}

/**
 * Removes the parent group(s) (e.g. a test's own parent) in every hierarchy when they are empty.
 * Returns false when some parent still has child groups and stays.
 */
export function removeCgroupParent(layout: CgroupLayout, parent: string = DEFAULT_PARENT, fs: CgroupFs = nodeCgroupFs): boolean {
  const segs = checkParent(parent);
  const mounts = new Set<string>();
  if (layout.version === 2 && layout.unified) mounts.add(layout.unified.mountPoint);
  else for (const h of Object.values(layout.v1)) if (h) mounts.add(h.mountPoint);
  let all = true;
  for (const m of mounts) {
    for (let i = segs.length; i > 0; i--) {
      const dir = join(m, ...segs.slice(0, i));
      try {
        fs.rmdir(dir);
      } catch (err) {
        const code = errnoCode(err);
        if (code === 'ENOENT') continue;
        if (code === 'EBUSY' || code === 'ENOTEMPTY') {
          all = false;
          break;
        }
        throw err;
      }
    }
  }
  return all;
}
