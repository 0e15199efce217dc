// `inspect`: a docker-shaped document for one container, from its row and config, the graph
// driver, the network store, and (while it runs) the kernel: cgroup paths and namespace inodes
// go under a key of our own, "Tscontainer".
import { existsSync, readlinkSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import type { Context } from './context.js';
import { formatMapping, toMapping, type PortMapping } from '../network/index.js';
import type { ContainerRow } from '../store/containers.js';
import { endpointsOfContainer, getNetSettings, getNetworkById, portMappingsOfContainer } from '../store/networks.js';
import type { ContainerConfig } from './config.js';
import { openGraph } from './graph.js';
import { containerCgroup } from './cgroup.js';
import { isLive } from './lifecycle.js';
import { logPath } from './files.js';
import { getUsernsRange } from '../store/userns.js';

const ZERO_TIME = '0001-01-01T00:00:00Z';
const NAMESPACES = ['cgroup', 'ipc', 'mnt', 'net', 'pid', 'pid_for_children', 'time', 'user', 'uts'];

/** docker's State.Status word for our row state. */
export function dockerStatus(row: Pick<ContainerRow, 'state'>): string {
  return row.state === 'removing' ? 'removing' : row.state;
}

/** The namespace links of a live process: { net: "net:[4026532301]", ... } → inode numbers. */
export function namespaceInodes(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const ns of NAMESPACES) {
    try {
      const m = /\[(\d+)\]/.exec(readlinkSync(`/proc/${pid}/ns/${ns}`));
      if (m) out[ns] = Number(m[1]);
    } catch {
      /* a namespace this kernel lacks, or the process is gone */
    }
  }
  return out;
}

/** overlay's "lowerdir=l/A:l/B,upperdir=ID/diff,..." with paths relative to `cwd` → absolute. */
export function graphData(
  spec: { type: string; source: string; data: string; cwd?: string },
  target: string,
): Record<string, string> {
  if (spec.type !== 'overlay') return { Dir: spec.source };
  const abs = (p: string) => (isAbsolute(p) || !spec.cwd ? p : join(spec.cwd, p));
  const opts = new Map(spec.data.split(',').map((kv) => [kv.split('=')[0]!, kv.slice(kv.indexOf('=') + 1)] as const));
  return {
    LowerDir: (opts.get('lowerdir') ?? '').split(':').filter(Boolean).map(abs).join(':'),
    UpperDir: abs(opts.get('upperdir') ?? ''),
    WorkDir: abs(opts.get('workdir') ?? ''),
    MergedDir: target,
  };
}

function portBindings(maps: PortMapping[]): Record<string, { HostIp: string; HostPort: string }[]> {
  const out: Record<string, { HostIp: string; HostPort: string }[]> = {};
  for (const m of maps) (out[`${m.containerPort}/${m.proto}`] ??= []).push({ HostIp: m.hostIp, HostPort: String(m.hostPort) });
  return out;
}

export function inspectContainer(ctx: Context, row: ContainerRow): Record<string, unknown> {
  const db = ctx.db();
  const c = JSON.parse(row.config) as ContainerConfig;
  const live = isLive(row);
  const pid = live && row.pid ? row.pid : 0;

  let graph: Record<string, unknown> = { Name: row.driver, Data: null };
  try {
    const { spec, target } = openGraph(ctx, row.driver).mountSpec(row.rw_layer);
    graph = { Name: row.driver, Data: graphData(spec, target) };
  } catch {
    /* the layer is gone (a half-removed container): leave Data empty */
  }

  const maps = portMappingsOfContainer(db, row.id).map(toMapping);
  const settings = getNetSettings(db, row.id);
  const networks: Record<string, unknown> = {};
  for (const e of endpointsOfContainer(db, row.id)) {
    const n = getNetworkById(db, e.network_id);
    const prefix = n ? n.subnet.split('/')[1] : undefined;
    networks[n?.name ?? e.network_id] = {
      NetworkID: e.network_id,
      EndpointID: e.host_if,
      Gateway: n?.gateway ?? '',
      IPAddress: e.address,
      IPPrefixLen: prefix ? Number(prefix) : 0,
      MacAddress: e.mac,
      Aliases: JSON.parse(e.aliases) as string[],
    };
  }
  const firstNet = Object.values(networks)[0] as
    { IPAddress?: string; Gateway?: string; MacAddress?: string; IPPrefixLen?: number } | undefined;

  let cgroupPaths: Record<string, string> | null = null;
  let cgroupPath: string | null = null;
  try {
    const cg = containerCgroup(row);
    if (cg.exists()) {
      cgroupPaths = { ...cg.paths };
      cgroupPath = cg.cgroupPath;
    }
  } catch {
    /* no cgroups here */
  }

  const mode = c.network.mode === 'bridge' ? 'bridge' : c.network.mode;
  const lp = logPath(ctx, row.id);
  return {
    Id: row.id,
    Created: row.created_at,
    Path: c.args[0] ?? '',
    Args: c.args.slice(1),
    State: {
      Status: dockerStatus(row),
      Running: live,
      Paused: row.state === 'paused',
      Restarting: false,
      OOMKilled: row.oom_killed === 1,
      Dead: false,
      Pid: pid,
      ExitCode: row.exit_code ?? 0,
      Error: row.error ?? '',
      StartedAt: row.started_at ?? ZERO_TIME,
      FinishedAt: row.finished_at ?? ZERO_TIME,
    },
    Image: `sha256:${row.image_id.replace(/^sha256:/, '')}`,
    LogPath: existsSync(lp) ? lp : '',
    Name: `/${row.name}`,
    Driver: row.driver,
    HostConfig: {
      Binds: c.volumes.map((v) => `${v.source}:${v.destination}${v.readonly ? ':ro' : ''}`),
      NetworkMode: mode,
      PortBindings: portBindings(maps.length > 0 ? maps : []),
      AutoRemove: c.autoRemove,
      CapAdd: null,
      CapDrop: null,
      Capabilities: c.capabilities,
      ReadonlyRootfs: c.readonlyRootfs,
      SecurityOpt: securityOpt(c),
      Privileged: Boolean(c.privileged),
      CgroupnsMode: c.cgroupns ?? 'private',
      UsernsMode: c.userns === 'auto' ? 'auto' : '',
      Init: c.init ? true : null,
      OomScoreAdj: c.oomScoreAdj ?? 0,
      ShmSize: c.shmSizeBytes ?? 64 * 1024 * 1024,
      Tmpfs:
        c.tmpfs && c.tmpfs.length > 0
          ? Object.fromEntries(c.tmpfs.map((m) => [m.destination, m.options.slice(3).join(',')]))
          : null,
      Sysctls: c.sysctls && Object.keys(c.sysctls).length > 0 ? c.sysctls : null,
      Devices: (c.devices ?? []).map((d) => ({
        PathOnHost: d.hostPath,
        PathInContainer: d.containerPath,
        CgroupPermissions: d.access,
      })),
      Memory: c.limits.memoryBytes ?? 0,
      MemorySwap: c.limits.memorySwapBytes ?? 0,
      NanoCpus: c.limits.cpus ? Math.round(c.limits.cpus * 1e9) : 0,
      CpuShares: c.limits.cpuShares ?? 0,
      CpusetCpus: c.limits.cpusetCpus ?? '',
      CpusetMems: c.limits.cpusetMems ?? '',
      PidsLimit: c.limits.pidsLimit ?? null,
      Ulimits: c.ulimits.map((u) => ({ Name: u.type.replace(/^RLIMIT_/, '').toLowerCase(), Soft: u.soft, Hard: u.hard })),
      Dns: c.network.dns,
      DnsSearch: c.network.dnsSearch,
      DnsOptions: c.network.dnsOptions,
      ExtraHosts: c.network.addHosts,
    },
    GraphDriver: graph,
    Mounts: c.volumes.map((v) => ({
      Type: 'bind',
      Source: v.source,
      Destination: v.destination,
      Mode: v.readonly ? 'ro' : '',
      RW: !v.readonly,
      Propagation: 'rprivate',
    })),
    Config: {
      Hostname: settings?.hostname ?? c.hostname,
      User: c.userSpec,
      Tty: c.tty,
      OpenStdin: c.openStdin,
      ExposedPorts: Object.fromEntries(c.exposedPorts.map((p) => [p.includes('/') ? p : `${p}/tcp`, {}])),
      Env: c.env,
      Cmd: c.cmd,
      Image: row.image_ref,
      WorkingDir: c.cwd,
      Entrypoint: c.entrypoint,
      Labels: c.labels,
      StopSignal: c.stopSignal,
      StopTimeout: c.stopTimeout,
    },
    NetworkSettings: {
      Ports: portBindings(maps),
      PortsText: maps.map(formatMapping),
      SandboxKey: pid ? `/proc/${pid}/ns/net` : '',
      IPAddress: firstNet?.IPAddress ?? '',
      IPPrefixLen: firstNet?.IPPrefixLen ?? 0,
      Gateway: firstNet?.Gateway ?? '',
      MacAddress: firstNet?.MacAddress ?? '',
      Networks: networks,
    },
    Tscontainer: {
      RunDir: ctx.layout.runContainer(row.id),
      ContainerDir: ctx.layout.container(row.id),
      MonitorPid: live ? (row.monitor_pid ?? 0) : 0,
      PidStartTime: live ? row.pid_start : null,
      BootId: row.boot_id,
      InitLayer: row.init_layer,
      RwLayer: row.rw_layer,
      CgroupPath: cgroupPath,
      CgroupPaths: cgroupPaths,
      Namespaces: pid ? namespaceInodes(pid) : null,
      // --userns=auto: the host ids of the container's root, from userns_ranges
      UsernsRange: getUsernsRange(db, row.id) ?? null,
    },
  };
}

/** docker's HostConfig.SecurityOpt: what was asked, as docker lists it. */
function securityOpt(c: ContainerConfig): string[] | null {
  const out: string[] = [];
  if (c.noNewPrivileges) out.push('no-new-privileges');
  if (c.seccomp?.mode === 'unconfined' && !c.privileged) out.push('seccomp=unconfined');
  if (c.seccomp?.mode === 'profile') out.push(`seccomp=${c.seccomp.source}`);
  return out.length > 0 ? out : null;
}
