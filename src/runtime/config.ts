// The container's configuration as the user asked for it, validated and stored as JSON in the
// containers row. Everything `start` needs to rebuild the OCI spec later lives here.
import type { CgroupLimits } from '../cgroups/index.js';
import type { SeccompChoice } from './seccomp/index.js';
import type { DeviceMapping } from './devices.js';

export interface VolumeMount {
  source: string;
  destination: string;
  readonly: boolean;
}

export interface Ulimit {
  type: string; // RLIMIT_NOFILE
  soft: number;
  hard: number;
}

export interface NetworkOptions {
  mode: string; // bridge | none | host | container:<name> | <user network>
  publish: string[];
  publishAll: boolean;
  dns: string[];
  dnsSearch: string[];
  dnsOptions: string[];
  addHosts: string[];
  aliases: string[];
}

export interface ContainerConfig {
  /** What runs: entrypoint + cmd already merged with the image's. */
  args: string[];
  env: string[];
  cwd: string;
  user: { uid: number; gid: number; additionalGids: number[] };
  /** The user as typed (or from the image), for inspect. */
  userSpec: string;
  /** --hostname as given, or '' for the default (the short id, or the host's with --network host). */
  hostname: string;
  tty: boolean;
  openStdin: boolean;
  autoRemove: boolean;
  readonlyRootfs: boolean;
  /** --security-opt no-new-privileges (off by default, as in docker). */
  noNewPrivileges: boolean;
  /** The capability set after --cap-add/--cap-drop (docker's 14 by default). */
  capabilities: string[];
  /** --privileged: every capability, no seccomp, no masked or read-only paths, rw /sys and
   *  cgroup view, every host device, the devices cgroup open. */
  privileged?: boolean;
  /** --device mappings, resolved to nodes at start. */
  devices?: DeviceMapping[];
  /** --tmpfs mounts, options checked. */
  tmpfs?: { destination: string; options: string[] }[];
  /** --shm-size in bytes (default 64 MiB). */
  shmSizeBytes?: number;
  /** --sysctl, namespaced ones only. */
  sysctls?: Record<string, string>;
  /** --init: pid 1 is the helper's init, the command pid 2. */
  init?: boolean;
  /** --oom-score-adj */
  oomScoreAdj?: number;
  /** --userns: the host's user namespace (absent or 'host') or one of its own with a range of
   *  subordinate ids allocated in SQLite (userns_ranges). */
  userns?: 'host' | 'auto';
  /** --cgroupns: a cgroup namespace of its own (private, the default) or the host's. */
  cgroupns?: 'private' | 'host';
  /** --security-opt seccomp=: the default profile, none, or a user's (absent: the default). */
  seccomp?: SeccompChoice;
  volumes: VolumeMount[];
  ulimits: Ulimit[];
  limits: CgroupLimits;
  network: NetworkOptions;
  labels: Record<string, string>;
  stopSignal: string;
  stopTimeout: number;
  exposedPorts: string[];
  /** The image's Entrypoint/Cmd and the user's overrides, for inspect. */
  entrypoint: string[] | null;
  cmd: string[] | null;
}

/** The container's configuration, as its row stores it. */
export function containerConfig(row: { config: string }): ContainerConfig {
  return JSON.parse(row.config) as ContainerConfig;
}
