// The types the rest of tscontainer sees from the cgroups module. Everything here is plain
// data except ContainerCgroup, the handle on one container's group(s).

/** The v1 controllers a container gets a directory in (one hierarchy each, or co-mounted). */
export const V1_CONTROLLERS = ['memory', 'cpu', 'cpuacct', 'cpuset', 'pids', 'blkio', 'freezer', 'devices'] as const;
export type V1Controller = (typeof V1_CONTROLLERS)[number];

/** The cgroup2 controllers we enable for containers when the parent offers them. */
export const V2_CONTROLLERS = ['cpuset', 'cpu', 'io', 'memory', 'pids', 'hugetlb'] as const;
export type V2Controller = (typeof V2_CONTROLLERS)[number];

/** A mounted cgroup hierarchy. */
export interface Hierarchy {
  /** Where it is mounted, e.g. /sys/fs/cgroup/memory or /sys/fs/cgroup. */
  readonly mountPoint: string;
  /** The cgroup path of the mount's root ("/" unless a sub-tree is bind-mounted). */
  readonly root: string;
  /** v1: the controllers bound to it (co-mounted ones share a hierarchy); v2: cgroup.controllers of its root. */
  readonly controllers: readonly string[];
}

export interface CgroupLayout {
  /** Which cgroup version containers are placed in. */
  readonly version: 1 | 2;
  /** legacy: v1 only; hybrid: v1 controllers plus a cgroup2 mount; unified: cgroup2 only. */
  readonly mode: 'legacy' | 'hybrid' | 'unified';
  /** v1 controller -> its hierarchy (co-mounted controllers point to the same object). */
  readonly v1: Readonly<Partial<Record<V1Controller, Hierarchy>>>;
  /** The cgroup2 mount, if any (in hybrid mode it usually holds no controller we use). */
  readonly unified?: Hierarchy;
  /** Controllers the kernel has enabled (from /proc/cgroups, else from the mounts). */
  readonly enabled: readonly string[];
}

/**
 * Resource limits of one container, in docker's terms. A field left out, or 0 where docker treats
 * 0 as "not set", leaves the kernel's default (unlimited / default weight).
 */
export interface CgroupLimits {
  /** Hard memory limit in bytes (`--memory`); at least 6 MiB. */
  memoryBytes?: number;
  /**
   * Memory plus swap in bytes (`--memory-swap`), docker semantics: -1 = unlimited swap; must be
   * >= memoryBytes. Left out while memoryBytes is set: twice memoryBytes, as docker does, when
   * the kernel accounts swap.
   */
  memorySwapBytes?: number;
  /** CPU quota in CPUs (`--cpus 0.5`): 0.01 up to the number of CPUs. */
  cpus?: number;
  /** Relative CPU weight in v1 shares (`--cpu-shares`, default 1024); clamped to 2..262144. */
  cpuShares?: number;
  /** CPUs the container may use (`--cpuset-cpus 0-1,3`). */
  cpusetCpus?: string;
  /** NUMA memory nodes the container may use (`--cpuset-mems 0`). */
  cpusetMems?: string;
  /** Maximum number of tasks (`--pids-limit`); 0 or -1 = unlimited. */
  pidsLimit?: number;
  /** Block I/O weight 10..1000 (`--blkio-weight`). */
  blkioWeight?: number;
  /** Extra device rules allowed on top of docker's default list (v1 devices controller only). */
  devices?: readonly DeviceRule[];
}

/** A devices-controller rule: type, major, minor ('*' = any) and access (r, w, m). */
export interface DeviceRule {
  type: 'c' | 'b' | 'a';
  major: number | '*';
  minor: number | '*';
  access: string;
}

export interface MemoryStats {
  usageBytes: number;
  /** null = unlimited. */
  limitBytes: number | null;
  /** Page cache that can be dropped; docker subtracts it from usage in `docker stats`. */
  inactiveFileBytes: number;
  /** v1 only: high-water mark. */
  maxUsageBytes?: number;
  /** Times the OOM killer killed a process in the group. */
  oomKills: number;
}

export interface CpuStats {
  usageNs: number;
  userNs?: number;
  systemNs?: number;
  throttledPeriods?: number;
  throttledNs?: number;
}

export interface PidsStats {
  current: number;
  /** null = unlimited. */
  limit: number | null;
}

/** A section is missing when its controller is not available. */
export interface CgroupStats {
  memory?: MemoryStats;
  cpu?: CpuStats;
  pids?: PidsStats;
}

export interface ContainerCgroup {
  readonly version: 1 | 2;
  /** The container's group as processes see it in /proc/PID/cgroup, e.g. /tscontainer/ID. */
  readonly cgroupPath: string;
  /** v1: controller -> directory (co-mounted controllers share one); v2: { unified: directory }. */
  readonly paths: Readonly<Record<string, string>>;
  /** Things a docker user would be warned about (limits clamped or not enforceable here). */
  readonly warnings: readonly string[];
  /** True when the group's directory exists. */
  exists(): boolean;
  /** Moves a process (all its threads) into the group(s). */
  addProcess(pid: number): void;
  /** The cgroup.procs files a process must be written to, for the helper's `--cgroup-procs`. */
  procsFiles(): string[];
  /** The file whose `oom_kill N` line counts OOM kills (the helper's `--oom-file`). */
  oomFile(): string | undefined;
  /** True when the OOM killer has killed a process in the group. */
  oomKilled(): boolean;
  /** Freezes every process of the group; resolves once the kernel reports the group frozen. */
  freeze(): Promise<void>;
  thaw(): void;
  /** True while frozen (or freezing). */
  isFrozen(): boolean;
  /** The pids in the group and its sub-groups, sorted. */
  pids(): number[];
  stats(): CgroupStats;
  /** Changes limits of an existing group (`docker update`). */
  update(limits: CgroupLimits): void;
  /**
   * Kills whatever is left in the group, waits until it is empty and removes its directories.
   * A group that does not exist (any more) is not an error.
   */
  remove(): Promise<void>;
}

export interface CgroupOptions {
  /** Parent group under the hierarchy root; default "tscontainer". May contain "/". */
  parent?: string;
  /** The filesystem calls to use; tests pass a simulated cgroup tree. */
  fs?: import('./fsops.js').CgroupFs;
  /** Facts about the host used in validation; tests pass fixed ones. */
  host?: HostResources;
}

/** What the machine offers, for validating limits. */
export interface HostResources {
  /** Number of CPUs this process may run on (docker uses this for the --cpus range). */
  cpuCount: number;
  /** CPU list containers may use, e.g. "0-1". */
  cpus: string;
  /** Memory node list, e.g. "0". */
  mems: string;
}
