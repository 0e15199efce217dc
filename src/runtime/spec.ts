// Builds the OCI runtime spec (config.json) the native helper reads. The defaults are docker's:
// its 14 capabilities, its masked and read-only /proc and /sys paths, its /dev.
import type { MountSpec } from '../graph/driver.js';
import type { ContainerConfig } from './config.js';
import { specSeccomp, type OciSeccomp } from './seccomp/index.js';
import type { CgroupView } from './cgroupview.js';
import type { SpecDevice } from './devices.js';

export interface OciMount {
  destination: string;
  type: string;
  source: string;
  options: string[];
}

export interface OciIdMapping {
  containerID: number;
  hostID: number;
  size: number;
}

/** A container's own range of host ids (--userns=auto), as allocated in userns_ranges. */
export interface UsernsMapping {
  uidBase: number;
  gidBase: number;
  size: number;
}

export interface OciSpec {
  ociVersion: string;
  process: {
    terminal: boolean;
    user: { uid: number; gid: number; additionalGids: number[] };
    args: string[];
    env: string[];
    cwd: string;
    capabilities: Record<'bounding' | 'effective' | 'inheritable' | 'permitted' | 'ambient', string[]>;
    rlimits: { type: string; hard: number; soft: number }[];
    noNewPrivileges: boolean;
    oomScoreAdj?: number;
  };
  root: { path: string; readonly: boolean };
  hostname: string;
  mounts: OciMount[];
  linux: {
    namespaces: { type: string; path?: string }[];
    devices: { path: string; type: string; major: number; minor: number; fileMode: number; uid: number; gid: number }[];
    maskedPaths: string[];
    readonlyPaths: string[];
    rootfsPropagation: string;
    /** absent: no filter (seccomp=unconfined) */
    seccomp?: OciSeccomp;
    sysctl?: Record<string, string>;
    /** --userns=auto: root inside is uidBase outside, and so on for `size` ids */
    uidMappings?: OciIdMapping[];
    gidMappings?: OciIdMapping[];
  };
  annotations: Record<string, string>;
}

/** docker's default capability set. */
export const DEFAULT_CAPS = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

export const MASKED_PATHS = [
  '/proc/asound',
  '/proc/acpi',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
  '/sys/devices/virtual/powercap',
];

export const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

const DEVICES = [
  ['/dev/null', 1, 3],
  ['/dev/zero', 1, 5],
  ['/dev/full', 1, 7],
  ['/dev/random', 1, 8],
  ['/dev/urandom', 1, 9],
  ['/dev/tty', 5, 0],
] as const;

export interface SpecInputs {
  config: ContainerConfig;
  rootfs: { spec: MountSpec; target: string };
  /** Files bind-mounted over the init layer's mount points: /etc/hosts, resolv.conf, hostname. */
  etcFiles: { destination: string; source: string }[];
  /** Network namespace: undefined = a new one, 'host' = none listed, else a path to join. */
  netns?: 'host' | { path: string } | undefined;
  /** The container's own cgroups at /sys/fs/cgroup (runtime/cgroupview.ts). */
  cgroupView?: CgroupView;
  /** Nodes on top of docker's default six: --device, or the host's every one (--privileged). */
  devices?: SpecDevice[];
  /** --userns=auto: a user namespace with these maps (absent: the host's). */
  userns?: UsernsMapping | undefined;
}

/** The annotation asking the helper to run its init as pid 1 (--init). */
export const INIT_ANNOTATION = 'org.tscontainer.init';

/** Sorts mounts by the number of components of their destination, keeping the given order
 *  among equals (Array.prototype.sort is stable), as docker's sortMounts does. */
function byDepth(mounts: OciMount[]): OciMount[] {
  const depth = (m: OciMount) => m.destination.split('/').filter(Boolean).length;
  return [...mounts].sort((a, b) => depth(a) - depth(b));
}

/** The annotation carrying the user spec the helper resolves inside the container. */
export const USER_ANNOTATION = 'org.tscontainer.user';

export function buildSpec({ config, rootfs, etcFiles, netns, cgroupView, devices = [], userns }: SpecInputs): OciSpec {
  const privileged = Boolean(config.privileged);
  // With a user spec the helper decides: it clears effective/permitted for a non-root user.
  const root = Boolean(config.userSpec) || config.user.uid === 0;
  const caps = config.capabilities;
  const namespaces: { type: string; path?: string }[] = [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }];
  // --cgroupns private (the default): /proc/self/cgroup and the cgroup view show "/"
  if (config.cgroupns !== 'host') namespaces.push({ type: 'cgroup' });
  if (netns === undefined) namespaces.push({ type: 'network' });
  else if (netns !== 'host') namespaces.push({ type: 'network', path: netns.path });
  // every namespace above is created by the same clone, so the user namespace owns them all
  if (userns) namespaces.push({ type: 'user' });
  // sysfs may be mounted in a user namespace only with a network namespace it owns; else the
  // host's /sys is bound, read-only (as runc does for rootless containers)
  const sys: OciMount =
    userns && netns !== undefined
      ? { destination: '/sys', type: 'bind', source: '/sys', options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'] }
      : { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', privileged ? 'rw' : 'ro'] };

  const mounts: OciMount[] = [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
    },
    // read-only unless --privileged, as docker's
    sys,
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    {
      destination: '/dev/shm',
      type: 'tmpfs',
      source: 'shm',
      options: ['nosuid', 'noexec', 'nodev', 'mode=1777', `size=${config.shmSizeBytes ?? 64 * 1024 * 1024}`],
    },
    ...(cgroupView?.mounts ?? []),
    // The user's mounts in docker's order: by depth of the destination (stable), so a volume
    // on /etc never hides the /etc/hosts, /etc/resolv.conf and /etc/hostname binds.
    ...byDepth([
      ...etcFiles.map((f) => ({ destination: f.destination, type: 'bind', source: f.source, options: ['rbind', 'rprivate'] })),
      ...config.volumes.map((v) => ({
        destination: v.destination,
        type: 'bind',
        source: v.source,
        options: ['rbind', 'rprivate', v.readonly ? 'ro' : 'rw'],
      })),
      ...(config.tmpfs ?? []).map((t) => ({ destination: t.destination, type: 'tmpfs', source: 'tmpfs', options: t.options })),
    ]),
  ];
  // docker's six, then the extra ones (an extra one of the same path wins)
  const nodes = new Map<string, SpecDevice>(
    DEVICES.map(([path, major, minor]) => [path, { path, type: 'c', major, minor, fileMode: 0o666, uid: 0, gid: 0 }]),
  );
  for (const d of devices) nodes.set(d.path, d);
  // mknod is refused in a user namespace (a node would reach the host's device whatever the
  // namespace): bind the host's own nodes instead, as runc does for rootless containers
  if (userns) {
    for (const d of nodes.values()) {
      mounts.push({ destination: d.path, type: 'bind', source: d.path, options: ['bind', 'nosuid', 'noexec'] });
    }
    nodes.clear();
  }

  const seccomp = specSeccomp(config.seccomp, caps);
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: config.tty,
      user: config.user,
      args: config.args,
      env: config.env,
      cwd: config.cwd,
      capabilities: {
        bounding: caps,
        effective: root ? caps : [],
        permitted: root ? caps : [],
        inheritable: [],
        ambient: [],
      },
      rlimits: config.ulimits.map((u) => ({ type: u.type, hard: u.hard, soft: u.soft })),
      noNewPrivileges: config.noNewPrivileges,
      ...(config.oomScoreAdj !== undefined ? { oomScoreAdj: config.oomScoreAdj } : {}),
    },
    root: { path: rootfs.target, readonly: config.readonlyRootfs },
    hostname: config.hostname,
    mounts,
    linux: {
      namespaces,
      devices: [...nodes.values()],
      // --privileged: nothing masked, nothing read-only
      maskedPaths: privileged ? [] : MASKED_PATHS,
      readonlyPaths: privileged ? [] : [...READONLY_PATHS, ...(cgroupView?.readonlyPaths ?? [])],
      rootfsPropagation: 'rprivate',
      ...(seccomp ? { seccomp } : {}),
      ...(config.sysctls && Object.keys(config.sysctls).length > 0 ? { sysctl: config.sysctls } : {}),
      ...(userns
        ? {
            uidMappings: [{ containerID: 0, hostID: userns.uidBase, size: userns.size }],
            gidMappings: [{ containerID: 0, hostID: userns.gidBase, size: userns.size }],
          }
        : {}),
    },
    annotations: {
      'org.tscontainer.rootfs.type': rootfs.spec.type,
      'org.tscontainer.rootfs.source': rootfs.spec.source,
      'org.tscontainer.rootfs.data': rootfs.spec.data,
      ...(rootfs.spec.cwd ? { 'org.tscontainer.rootfs.cwd': rootfs.spec.cwd } : {}),
      ...(config.userSpec ? { [USER_ANNOTATION]: config.userSpec } : {}),
      ...(config.init ? { [INIT_ANNOTATION]: 'true' } : {}),
    },
  };
}
