// The cgroup limits a container asks for, as stored in its config.
export type { CgroupLimits as CgroupLimitsInput } from '../cgroups/index.js';
