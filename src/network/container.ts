// A container's side of networking, in the order the runtime calls it: prepare (lease, ports,
// /etc files), attach (links, addresses, rules; between the helper's pid report and go), detach
// (the container stopped), release (rm); and connect / disconnect on a running container.
import { existsSync } from 'node:fs';
import { hostname as osHostname } from 'node:os';
import type { DB } from '../store/db.js';
import { writeTx } from '../store/db.js';
import { findContainer, getContainer } from '../store/containers.js';
import {
  deleteEndpoint,
  deleteEndpointsOfContainer,
  deleteNetSettings,
  deletePortMappingsOfContainer,
  endpointsOfContainer,
  getEndpoint,
  getNetSettings,
  getNetworkByName,
  portMappingsOfContainer,
  setAttached,
  upsertNetSettings,
} from '../store/networks.js';
import { ConflictError, NotFoundError, UsageError, EXIT_MANAGEMENT, EXIT_OWN } from '../util/errors.js';
import { readTextOr } from '../util/files.js';
import { log } from '../util/log.js';
import { buildHosts, buildResolvConf, etcPaths, writeInPlace } from './etcfiles.js';
import {
  assertOwnNetns,
  deleteLinks,
  deleteLinksInBackground,
  hostBatch,
  linkExists,
  nsBatch,
  runHostBatch,
  runNsBatch,
  setSysctls,
  type BridgeSpec,
  type VethSpec,
} from './link.js';
import { refreshHosts } from './names.js';
import { syncRules } from './nat.js';
import { type PortMapping } from './ports.js';
import { parseNetworkRequest, type NetworkRequest, type NetworkRequestInput } from './request.js';

import { now, cfg, livePid, type PlannedEndpoint, type NetworkPlan, type NetOptions } from './common.js';
import { ensureDefaultNetwork, findNetwork, bridgeSpec } from './networks.js';
import { reclaimOrphansOf, allocateEndpoint, allocatePorts, toMapping, plannedEndpoint } from './leases.js';

// ---------------------------------------------------------------- the run path

/**
 * Records the container's network in one BEGIN IMMEDIATE transaction (default network created
 * on first use, lease, host ports with conflict checks) and writes its /etc files into
 * `containerDir`. The container row must already exist (leases of vanished containers are
 * reclaimed, so a lease for a row not yet inserted could be taken away). Idempotent for a
 * container that is started again: its lease and ports are kept.
 */
export function prepareContainerNetwork(
  db: DB,
  containerId: string,
  containerDir: string,
  req: NetworkRequest,
  opts?: NetOptions,
): NetworkPlan {
  const c = cfg(opts);
  const paths = etcPaths(containerDir);
  const hostname = req.hostname || containerId.slice(0, 12);
  const etcFiles = (p: { hosts: string; resolv: string; hostname: string }) => [
    { destination: '/etc/hosts', source: p.hosts },
    { destination: '/etc/resolv.conf', source: p.resolv },
    { destination: '/etc/hostname', source: p.hostname },
  ];
  const resolv = (keepLoopback: boolean) =>
    buildResolvConf(readTextOr(c.hostResolvConf), {
      dns: req.dns,
      dnsSearch: req.dnsSearch,
      dnsOptions: req.dnsOptions,
      fallbackDns: c.fallbackDns,
      keepLoopback,
    });
  const base = {
    containerId,
    kind: req.kind,
    endpoints: [] as PlannedEndpoint[],
    ports: [] as PortMapping[],
    warnings: req.warnings,
  };

  if (req.kind === 'container') {
    return writeTx(db, () => {
      const self = getContainer(db, containerId);
      if (!self) throw new NotFoundError(`no such container: ${containerId}`);
      const other = findContainer(db, req.target, EXIT_OWN); // run/create/start: our own error, 125
      if (other.id === containerId) throw new UsageError('a container cannot join its own network namespace');
      const pid = livePid(other);
      if (pid === undefined) throw new ConflictError(`cannot join the network of container ${other.name}: it is not running`);
      const theirs = getNetSettings(db, other.id);
      upsertNetSettings(db, {
        container_id: containerId,
        mode: `container:${other.id}`,
        hostname: theirs?.hostname ?? '',
        extra_hosts: '[]',
        dir: containerDir,
        created_at: now(),
      });
      let files = theirs ? etcPaths(theirs.dir) : paths;
      if (!theirs || !existsSync(files.hosts)) {
        files = paths;
        writeInPlace(paths.hosts, buildHosts({ extraHosts: [], members: [] }));
        writeInPlace(paths.resolv, resolv(false));
        writeInPlace(paths.hostname, `${other.id.slice(0, 12)}\n`);
      }
      return {
        ...base,
        netns: { path: `/proc/${pid}/ns/net` },
        hostname: theirs?.hostname ?? other.id.slice(0, 12),
        etcFiles: etcFiles(files),
      };
    });
  }

  if (req.kind === 'host' || req.kind === 'none') {
    const host = req.kind === 'host';
    const hn = host ? req.hostname || osHostname() : hostname;
    const extra = req.addHosts.filter(([, a]) => a !== 'host-gateway');
    writeTx(db, () => {
      if (!getContainer(db, containerId)) throw new NotFoundError(`no such container: ${containerId}`);
      upsertNetSettings(db, {
        container_id: containerId,
        mode: req.kind,
        hostname: hn,
        extra_hosts: JSON.stringify(extra),
        dir: containerDir,
        created_at: now(),
      });
    });
    writeInPlace(
      paths.hosts,
      buildHosts(
        host ? { hostText: readTextOr(c.hostHosts), extraHosts: extra, members: [] } : { extraHosts: extra, members: [] },
      ),
    );
    writeInPlace(paths.resolv, resolv(host));
    writeInPlace(paths.hostname, `${hn}\n`);
    return { ...base, netns: host ? 'host' : undefined, hostname: hn, etcFiles: etcFiles(paths) };
  }

  // bridge or a user network
  const plan = writeTx(db, () => {
    const self = getContainer(db, containerId);
    if (!self) throw new NotFoundError(`no such container: ${containerId}`);
    const net = req.kind === 'bridge' ? ensureDefaultNetwork(db, c) : getNetworkByName(db, req.target);
    if (!net) throw new NotFoundError(`network ${req.target} not found`);
    reclaimOrphansOf(db, net.id);
    allocateEndpoint(db, c, net, containerId, req.aliases);
    const ports = allocatePorts(db, containerId, req);
    const extra = req.addHosts.map(([n, a]): [string, string] => [n, a === 'host-gateway' ? net.gateway : a]);
    upsertNetSettings(db, {
      container_id: containerId,
      mode: req.mode,
      hostname,
      extra_hosts: JSON.stringify(extra),
      dir: containerDir,
      created_at: now(),
    });
    writeInPlace(paths.resolv, resolv(false));
    writeInPlace(paths.hostname, `${hostname}\n`);
    writeInPlace(paths.hosts, buildHosts({ extraHosts: extra, members: [] })); // complete content below
    refreshHosts(db, [net.id], [containerId]);
    const endpoints = endpointsOfContainer(db, containerId).map((e) => plannedEndpoint(db, e));
    // The network named by the request goes first: it carries the default route.
    endpoints.sort((a, b) => (a.networkId === net.id ? -1 : b.networkId === net.id ? 1 : a.ifname.localeCompare(b.ifname)));
    return { ...base, netns: undefined, hostname, etcFiles: etcFiles(paths), endpoints, ports };
  });
  return plan;
}

export interface AttachTiming {
  totalMs: number;
  hostIpMs: number;
  nftMs: number;
  nsIpMs: number;
}

/**
 * Between the helper's pid report and `go`: bridge (if missing), veth pairs with the peer
 * created inside /proc/PID/ns/net, addresses and default route (lo is the helper's), and the nftables table
 * rewritten with this container's published ports. Three processes: ip (host), nft, ip (in
 * the namespace via nsenter); the first two run in parallel.
 */
export async function attachContainerNetwork(db: DB, plan: NetworkPlan, pid: number, opts?: NetOptions): Promise<AttachTiming> {
  const t0 = performance.now();
  const timing: AttachTiming = { totalMs: 0, hostIpMs: 0, nftMs: 0, nsIpMs: 0 };
  if (plan.kind === 'host' || plan.kind === 'container') return timing;
  assertOwnNetns(pid);
  // `lo` is brought up by the helper's child itself (one ioctl): nothing to run for 'none'.
  if (plan.kind === 'none') return timing;
  const c = cfg(opts);
  const veths: VethSpec[] = plan.endpoints.map((e, i) => ({
    bridge: e.bridge,
    hostIf: e.hostIf,
    ifname: e.ifname,
    mac: e.mac,
    address: e.address,
    prefix: e.prefix,
    gateway: e.gateway,
    defaultRoute: i === 0,
  }));
  const bridges = uniqueBridges(plan.endpoints);
  const { text, mayExist, mayBeGone } = hostBatch(bridges, veths, pid, (b) => !linkExists(b), linkExists);
  const hostDone = runHostBatch(text, mayExist, mayBeGone).then(() => (timing.hostIpMs = performance.now() - t0));
  hostDone.catch(() => undefined);
  const tn = performance.now();
  writeTx(db, () => {
    setAttached(db, plan.containerId, true);
    if (plan.ports.length > 0) syncRules(db, c.nftTable);
  });
  timing.nftMs = performance.now() - tn;
  await hostDone;
  setSysctls(bridges.map((b) => b.bridge));
  const ts = performance.now();
  await runNsBatch(pid, nsBatch(veths, false)); // lo: the helper's child brings it up
  timing.nsIpMs = performance.now() - ts;
  timing.totalMs = performance.now() - t0;
  log('debug', 'network attached', { id: plan.containerId, ...timing });
  return timing;
}

export function uniqueBridges(eps: PlannedEndpoint[]): BridgeSpec[] {
  const seen = new Map<string, BridgeSpec>();
  for (const e of eps) if (!seen.has(e.bridge)) seen.set(e.bridge, { bridge: e.bridge, gateway: e.gateway, prefix: e.prefix });
  return [...seen.values()];
}

/**
 * The container stopped: its rules go; lease and ports stay. Its veths go with its namespace:
 * the kernel deletes them a few milliseconds later, and nobody waits for that (an `ip link del`
 * would take as long, on the exit path of every container). The next attach of this container
 * deletes a host veth that is still there; `rm` deletes it too.
 */
export async function detachContainerNetwork(db: DB, containerId: string, opts?: NetOptions): Promise<void> {
  const c = cfg(opts);
  writeTx(db, () => {
    const s = getNetSettings(db, containerId);
    if (!s || s.attached === 0) return;
    setAttached(db, containerId, false);
    if (portMappingsOfContainer(db, containerId).length > 0) syncRules(db, c.nftTable);
  });
}

/**
 * rm: rules, veths, leases, ports and settings go; other members' hosts files are updated.
 * With `exited` (the runtime's rm: the container's processes are gone), nobody waits for the
 * veths: they die with the namespace, and whatever of them is still there is deleted by a
 * background `ip` (see deleteLinksInBackground). Without it they are deleted before returning.
 */
export async function releaseContainerNetwork(
  db: DB,
  containerId: string,
  opts?: NetOptions,
  o: { exited?: boolean } = {},
): Promise<void> {
  const c = cfg(opts);
  const { links } = writeTx(db, () => {
    const r = dropContainer(db, containerId);
    if (r.hadRules) syncRules(db, c.nftTable);
    return r;
  });
  if (o.exited) deleteLinksInBackground(links);
  else await deleteLinks(links);
}

/** Deletes a container's network rows; the caller re-syncs the rules when `hadRules`. */
export function dropContainer(db: DB, containerId: string): { links: string[]; hadRules: boolean } {
  const s = getNetSettings(db, containerId);
  const eps = endpointsOfContainer(db, containerId);
  const hadRules = s?.attached === 1 && portMappingsOfContainer(db, containerId).length > 0;
  deleteEndpointsOfContainer(db, containerId);
  deletePortMappingsOfContainer(db, containerId);
  deleteNetSettings(db, containerId);
  refreshHosts(
    db,
    eps.map((e) => e.network_id),
  );
  return { links: eps.map((e) => e.host_if), hadRules };
}

// ---------------------------------------------------------------- connect / disconnect / port

export async function connectNetwork(
  db: DB,
  networkRef: string,
  containerRef: string,
  o: { aliases?: string[] } = {},
  opts?: NetOptions,
): Promise<PlannedEndpoint> {
  const c = cfg(opts);
  const { ep, pid, bridge, fresh } = writeTx(db, () => {
    const row = findContainer(db, containerRef);
    const net = findNetwork(db, networkRef);
    const s = getNetSettings(db, row.id);
    if (!s) throw new ConflictError(`container ${row.name} has no network settings yet: start it once first`);
    if (s.mode === 'host' || s.mode === 'none' || s.mode.startsWith('container:'))
      throw new ConflictError(
        `container ${row.name} uses --network ${s.mode.startsWith('container:') ? 'container' : s.mode} and cannot be connected to other networks`,
      );
    if (o.aliases?.length && net.is_default === 1)
      throw new UsageError('network-scoped aliases are supported only for containers on user-defined networks');
    const fresh = !getEndpoint(db, net.id, row.id);
    if (!fresh) throw new ConflictError(`container ${row.name} is already connected to network ${net.name}`);
    reclaimOrphansOf(db, net.id);
    const e = allocateEndpoint(db, c, net, row.id, o.aliases ?? []);
    refreshHosts(
      db,
      endpointsOfContainer(db, row.id).map((x) => x.network_id),
      [row.id],
    );
    return { ep: plannedEndpoint(db, e), pid: s.attached === 1 ? livePid(row) : undefined, bridge: bridgeSpec(net), fresh };
  });
  if (pid !== undefined && fresh) {
    try {
      assertOwnNetns(pid);
      const veth: VethSpec = { ...ep, defaultRoute: false };
      const { text, mayExist } = hostBatch([bridge], [veth], pid, (b) => !linkExists(b));
      await runHostBatch(text, mayExist);
      setSysctls([bridge.bridge]);
      await runNsBatch(pid, nsBatch([veth], false));
    } catch (err) {
      await disconnectNetwork(db, networkRef, containerRef, opts).catch(() => undefined);
      throw err;
    }
  }
  return ep;
}

export async function disconnectNetwork(db: DB, networkRef: string, containerRef: string, opts?: NetOptions): Promise<void> {
  void opts;
  const link = writeTx(db, () => {
    const row = findContainer(db, containerRef);
    const net = findNetwork(db, networkRef);
    const e = getEndpoint(db, net.id, row.id);
    if (!e) throw new ConflictError(`container ${row.name} is not connected to network ${net.name}`, EXIT_MANAGEMENT);
    deleteEndpoint(db, net.id, row.id);
    refreshHosts(db, [net.id], [row.id]);
    return e.host_if;
  });
  await deleteLinks([link]);
}

/** The published ports of a container (`tscontainer port`). */
export function containerPorts(db: DB, containerRef: string): PortMapping[] {
  const row = findContainer(db, containerRef);
  return portMappingsOfContainer(db, row.id).map(toMapping);
}

/**
 * The shape runtime/network.ts hands to start: prepare now, attach at the pid report, detach
 * when the start fails (as at a stop: the rules go, lease and host ports stay; `rm` releases them).
 */
export interface ContainerNetworkHandle {
  plan: NetworkPlan;
  netns: NetworkPlan['netns'];
  etcFiles: NetworkPlan['etcFiles'];
  hostname: string;
  /** For the user, printed when the container starts (e.g. -p dropped with --network host). */
  warnings: string[];
  attach(pid: number): Promise<AttachTiming>;
  detach(): Promise<void>;
}

/** parseNetworkRequest + prepareContainerNetwork, with attach/detach bound to this container. */
export function containerNetworkHandle(
  db: DB,
  containerId: string,
  containerDir: string,
  input: NetworkRequestInput,
  opts?: NetOptions,
): ContainerNetworkHandle {
  const plan = prepareContainerNetwork(db, containerId, containerDir, parseNetworkRequest(input), opts);
  return {
    plan,
    netns: plan.netns,
    etcFiles: plan.etcFiles,
    hostname: plan.hostname,
    warnings: plan.warnings,
    attach: (pid) => attachContainerNetwork(db, plan, pid, opts),
    detach: () => detachContainerNetwork(db, containerId, opts),
  };
}
