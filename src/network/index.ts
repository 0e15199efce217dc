// The network module's API for the runtime and the CLI. Calling order (docs/networking.md):
//   parseNetworkRequest (pure, before anything is made)
//   insertContainer (runtime)  ->  prepareContainerNetwork (db + /etc files, returns the plan)
//   helper reports pid         ->  attachContainerNetwork (links, addresses, nftables)  ->  go
//   container exits / stop     ->  detachContainerNetwork (rules away, lease kept)
//   failed start               ->  detachContainerNetwork (as a stop: lease and ports kept)
//   rm                         ->  releaseContainerNetwork (rules, leases, member hosts; links die with the netns)
//   system prune               ->  pruneNetworks
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { hostname as osHostname } from 'node:os';
import type { DB } from '../store/db.js';
import { writeTx } from '../store/db.js';
import { findContainer, getContainer, type ContainerRow } from '../store/containers.js';
import {
  allPortMappings,
  countEndpoints,
  deleteEndpoint,
  deleteEndpointsOfContainer,
  deleteNetSettings,
  deleteNetworkRow,
  deletePortMapping,
  deletePortMappingsOfContainer,
  endpointsOfContainer,
  getDefaultNetwork,
  getEndpoint,
  getNetSettings,
  getNetworkById,
  getNetworkByName,
  insertEndpoint,
  insertNetwork,
  insertPortMapping,
  listNetworkRows,
  membersOfNetwork,
  networksByIdPrefix,
  orphanContainerIds,
  orphanEndpoints,
  portMappingsOfContainer,
  setAttached,
  staleAttachedIds,
  upsertNetSettings,
  type EndpointRow,
  type NetworkRow,
} from '../store/networks.js';
import { ConflictError, NotFoundError, UsageError, EXIT_MANAGEMENT } from '../util/errors.js';
import { log } from '../util/log.js';
import { netConfig, type NetConfig } from './config.js';
import { buildHosts, buildResolvConf, etcPaths, writeInPlace } from './etcfiles.js';
import { formatCidr, formatIpv4, macFor, parseCidr, requireCidr, type Cidr } from './ip.js';
import { allocateAddress, defaultGateway, gatewayInSubnet, hostIfName, pickFreeSubnet, subnetClash } from './ipam.js';
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
import { deleteTable, syncRules } from './nat.js';
import { assignPorts, ephemeralRange, hostListeners, type Holder, type PortMapping, type Proto } from './ports.js';
import {
  parseNetworkRequest,
  validateNetworkName,
  type NetworkKind,
  type NetworkRequest,
  type NetworkRequestInput,
} from './request.js';

export { parseNetworkRequest, type NetworkRequest, type NetworkRequestInput, type NetworkKind };
export { netConfig, type NetConfig };
export type { PortMapping };
export { formatMapping } from './ports.js';

export const DEFAULT_NETWORK = 'bridge';
const RESERVED = new Set(['bridge', 'host', 'none', 'default']);

export interface PlannedEndpoint {
  networkId: string;
  networkName: string;
  bridge: string;
  subnet: string;
  gateway: string;
  prefix: number;
  address: string;
  mac: string;
  hostIf: string;
  ifname: string;
}

/** What the runtime needs to build the spec and, later, to attach. JSON-serializable. */
export interface NetworkPlan {
  containerId: string;
  kind: NetworkKind;
  /** undefined: a new network namespace; 'host': none listed; path: join another container's. */
  netns: 'host' | { path: string } | undefined;
  /** The UTS hostname the container gets. */
  hostname: string;
  /** Bind mounts over the init layer's mount points (destination inside the container). */
  etcFiles: { destination: string; source: string }[];
  endpoints: PlannedEndpoint[];
  ports: PortMapping[];
  warnings: string[];
}

export interface NetOptions {
  config?: NetConfig;
}

const now = () => new Date().toISOString();

function cfg(opts?: NetOptions): NetConfig {
  return opts?.config ?? netConfig();
}

// ---------------------------------------------------------------- containers

function livePid(row: ContainerRow): number | undefined {
  if (row.pid === null || (row.state !== 'running' && row.state !== 'paused')) return undefined;
  return existsSync(`/proc/${row.pid}`) ? row.pid : undefined;
}

// ---------------------------------------------------------------- networks

function ensureDefaultNetwork(db: DB, c: NetConfig): NetworkRow {
  const existing = getDefaultNetwork(db);
  if (existing) return existing;
  let subnet: Cidr;
  if (c.defaultSubnet) {
    subnet = requireCidr(c.defaultSubnet, 'TSCONTAINER_BRIDGE_SUBNET');
    const clash = subnetClash(db, subnet);
    if (clash) throw new ConflictError(`cannot create the default network: ${clash}`);
  } else subnet = pickFreeSubnet(db);
  const row: NetworkRow = {
    id: randomBytes(32).toString('hex'),
    name: DEFAULT_NETWORK,
    driver: 'bridge',
    bridge: c.defaultBridge,
    subnet: formatCidr(subnet),
    gateway: defaultGateway(subnet),
    is_default: 1,
    internal: 0,
    labels: '{}',
    created_at: now(),
  };
  insertNetwork(db, row);
  return row;
}

export function findNetwork(db: DB, ref: string): NetworkRow {
  const row = getNetworkByName(db, ref) ?? getNetworkById(db, ref);
  if (row) return row;
  if (/^[0-9a-f]{1,64}$/.test(ref)) {
    const rows = networksByIdPrefix(db, ref);
    if (rows.length === 1) return rows[0]!;
  }
  throw new NotFoundError(`network ${ref} not found`, EXIT_MANAGEMENT);
}

export interface CreateNetworkOptions {
  name: string;
  driver?: string;
  subnet?: string;
  gateway?: string;
  /** The Linux bridge's name (docker: -o com.docker.network.bridge.name=NAME). */
  bridgeName?: string;
  internal?: boolean;
  labels?: Record<string, string>;
}

export async function createNetwork(db: DB, o: CreateNetworkOptions, opts?: NetOptions): Promise<NetworkRow> {
  const c = cfg(opts);
  validateNetworkName(o.name);
  if (RESERVED.has(o.name)) throw new UsageError(`${o.name} is a pre-defined network name and cannot be created`);
  const driver = o.driver ?? 'bridge';
  if (driver !== 'bridge') throw new UsageError(`network driver "${driver}" is not supported: use bridge`);
  const id = randomBytes(32).toString('hex');
  const bridge = o.bridgeName ?? `tscbr-${id.slice(0, 9)}`;
  if (!/^[a-zA-Z0-9_.-]{1,15}$/.test(bridge))
    throw new UsageError(`invalid bridge name "${bridge}": at most 15 of [a-zA-Z0-9_.-]`);
  const subnetArg = o.subnet ? requireCidr(o.subnet, 'subnet') : undefined;
  if (o.gateway && !subnetArg) throw new UsageError('--gateway needs --subnet');
  const row = writeTx(db, () => {
    if (getNetworkByName(db, o.name)) throw new ConflictError(`network with name ${o.name} already exists`);
    if (listNetworkRows(db).some((n) => n.bridge === bridge))
      throw new ConflictError(`bridge ${bridge} is used by another network`);
    if (linkExists(bridge)) throw new ConflictError(`an interface named ${bridge} already exists on the host`);
    let subnet: Cidr;
    if (subnetArg) {
      const clash = subnetClash(db, subnetArg);
      if (clash) throw new ConflictError(`cannot create network ${o.name}: ${clash}`);
      subnet = subnetArg;
    } else subnet = pickFreeSubnet(db);
    const gateway = o.gateway ?? defaultGateway(subnet);
    if (!gatewayInSubnet(subnet, gateway))
      throw new UsageError(`gateway ${gateway} is not a host address of ${formatCidr(subnet)}`);
    const r: NetworkRow = {
      id,
      name: o.name,
      driver,
      bridge,
      subnet: formatCidr(subnet),
      gateway,
      is_default: 0,
      internal: o.internal ? 1 : 0,
      labels: JSON.stringify(o.labels ?? {}),
      created_at: now(),
    };
    insertNetwork(db, r);
    syncRules(db, c.nftTable);
    return r;
  });
  try {
    await ensureBridges([bridgeSpec(row)]);
  } catch (err) {
    await removeNetwork(db, row.id, opts).catch(() => undefined);
    throw err;
  }
  return row;
}

function bridgeSpec(n: NetworkRow): BridgeSpec {
  return { bridge: n.bridge, gateway: n.gateway, prefix: parseCidr(n.subnet)!.prefix };
}

async function ensureBridges(bridges: BridgeSpec[]): Promise<void> {
  const { text, mayExist } = hostBatch(bridges, [], 0, (b) => !linkExists(b));
  await runHostBatch(text, mayExist);
  setSysctls(bridges.map((b) => b.bridge));
}

export async function removeNetwork(db: DB, ref: string, opts?: NetOptions): Promise<NetworkRow> {
  const c = cfg(opts);
  const { row, orphans } = writeTx(db, () => {
    const row = findNetwork(db, ref);
    if (row.is_default === 1)
      throw new ConflictError(`${row.name} is a pre-defined network and cannot be removed`, EXIT_MANAGEMENT);
    const orphans = reclaimOrphansOf(db, row.id);
    const users = membersOfNetwork(db, row.id);
    if (users.length > 0) {
      const names = users.map((u) => u.container_name ?? u.container_id.slice(0, 12)).join(', ');
      throw new ConflictError(
        `network ${row.name} is in use by container${users.length > 1 ? 's' : ''} ${names}`,
        EXIT_MANAGEMENT,
      );
    }
    deleteNetworkRow(db, row.id);
    syncRules(db, c.nftTable);
    return { row, orphans };
  });
  await deleteLinks([...orphans, row.bridge]);
  return row;
}

export interface NetworkSummary {
  id: string;
  name: string;
  driver: string;
  scope: 'local';
  bridge: string;
  subnet: string;
  gateway: string;
  internal: boolean;
  createdAt: string;
  containers: number;
}

export function listNetworks(db: DB): NetworkSummary[] {
  return listNetworkRows(db).map((n) => ({
    id: n.id,
    name: n.name,
    driver: n.driver,
    scope: 'local',
    bridge: n.bridge,
    subnet: n.subnet,
    gateway: n.gateway,
    internal: n.internal === 1,
    createdAt: n.created_at,
    containers: countEndpoints(db, n.id),
  }));
}

/** docker-shaped `network inspect` document. */
export function inspectNetwork(db: DB, ref: string): Record<string, unknown> {
  const n = findNetwork(db, ref);
  const containers: Record<string, unknown> = {};
  for (const m of membersOfNetwork(db, n.id)) {
    if (m.container_name === null) continue;
    containers[m.container_id] = {
      Name: m.container_name,
      EndpointID: m.host_if,
      MacAddress: m.mac,
      IPv4Address: `${m.address}/${parseCidr(n.subnet)!.prefix}`,
      IPv6Address: '',
      Aliases: JSON.parse(m.aliases) as string[],
    };
  }
  return {
    Name: n.name,
    Id: n.id,
    Created: n.created_at,
    Scope: 'local',
    Driver: n.driver,
    EnableIPv6: false,
    IPAM: { Driver: 'default', Options: {}, Config: [{ Subnet: n.subnet, Gateway: n.gateway }] },
    Internal: n.internal === 1,
    Attachable: false,
    Containers: containers,
    Options: { 'com.docker.network.bridge.name': n.bridge },
    Labels: JSON.parse(n.labels) as Record<string, string>,
  };
}

// ---------------------------------------------------------------- leases and ports

/** Deletes leases of `networkId` whose container row is gone; returns their host veth names. */
function reclaimOrphansOf(db: DB, networkId: string): string[] {
  const gone = orphanEndpoints(db, networkId);
  for (const e of gone) {
    deleteEndpoint(db, e.network_id, e.container_id);
    log('info', 'reclaimed a lease whose container is gone', { container: e.container_id, address: e.address });
  }
  return gone.map((e) => e.host_if);
}

function nextIfname(existing: EndpointRow[]): string {
  const used = new Set(existing.map((e) => e.ifname));
  let i = 0;
  while (used.has(`eth${i}`)) i++;
  return `eth${i}`;
}

function allocateEndpoint(db: DB, c: NetConfig, net: NetworkRow, containerId: string, aliases: string[]): EndpointRow {
  const have = getEndpoint(db, net.id, containerId);
  if (have) return have;
  const subnet = parseCidr(net.subnet)!;
  const addr = allocateAddress(db, net.id, subnet, net.gateway);
  const row: EndpointRow = {
    network_id: net.id,
    container_id: containerId,
    address: formatIpv4(addr),
    addr_int: addr,
    mac: macFor(addr),
    host_if: hostIfName(c.vethPrefix, containerId, net.id),
    ifname: nextIfname(endpointsOfContainer(db, containerId)),
    aliases: JSON.stringify(aliases),
    created_at: now(),
  };
  insertEndpoint(db, row);
  return row;
}

/** Chooses host ports for `req` and records them, unless the container already holds its ports. */
function allocatePorts(db: DB, containerId: string, req: NetworkRequest): PortMapping[] {
  const mine = portMappingsOfContainer(db, containerId);
  if (mine.length > 0) return mine.map(toMapping);
  const specs = [...req.publish, ...req.exposed];
  if (specs.length === 0) return [];
  const holders: Holder[] = [];
  const released: { proto: string; host_ip: string; host_port: number }[] = [];
  for (const p of allPortMappings(db)) {
    if (p.container_id === containerId) continue;
    if (p.container_state === null || p.container_state === 'exited') released.push(p);
    else holders.push({ proto: p.proto, hostIp: p.host_ip, port: p.host_port, owner: `container ${p.container_name}` });
  }
  for (const l of hostListeners())
    holders.push({ proto: l.proto, hostIp: l.addr, port: l.port, owner: 'a process on this host' });
  // -P ports that clash with an explicit -p of the same request are avoided because explicit ones go first.
  const mappings = assignPorts(specs, holders, ephemeralRange(), (m) => new ConflictError(m));
  for (const m of mappings) {
    // Ports of exited (or vanished) containers are free: take them over.
    for (const r of released)
      if (r.proto === m.proto && r.host_port === m.hostPort && (r.host_ip === '' || m.hostIp === '' || r.host_ip === m.hostIp))
        deletePortMapping(db, r);
    insertPortMapping(db, {
      container_id: containerId,
      proto: m.proto,
      host_ip: m.hostIp,
      host_port: m.hostPort,
      container_port: m.containerPort,
    });
  }
  return mappings;
}

function toMapping(p: { proto: string; host_ip: string; host_port: number; container_port: number }): PortMapping {
  return { proto: p.proto as Proto, hostIp: p.host_ip, hostPort: p.host_port, containerPort: p.container_port };
}

function plannedEndpoint(db: DB, e: EndpointRow): PlannedEndpoint {
  const n = getNetworkById(db, e.network_id)!;
  return {
    networkId: n.id,
    networkName: n.name,
    bridge: n.bridge,
    subnet: n.subnet,
    gateway: n.gateway,
    prefix: parseCidr(n.subnet)!.prefix,
    address: e.address,
    mac: e.mac,
    hostIf: e.host_if,
    ifname: e.ifname,
  };
}

// ---------------------------------------------------------------- the run path

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

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
    buildResolvConf(readText(c.hostResolvConf), {
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
      const other = findContainer(db, req.target);
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
      buildHosts(host ? { hostText: readText(c.hostHosts), extraHosts: extra, members: [] } : { extraHosts: extra, members: [] }),
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

function uniqueBridges(eps: PlannedEndpoint[]): BridgeSpec[] {
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
function dropContainer(db: DB, containerId: string): { links: string[]; hadRules: boolean } {
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

export interface PruneResult {
  reclaimedContainers: string[];
  detachedContainers: string[];
  removedNetworks: string[];
}

/** Reclaims leases, ports and rules of containers that are gone (or exited without clean-up);
 *  with `removeUnused`, also removes user networks nobody uses (`network prune`). */
export async function pruneNetworks(db: DB, o: { removeUnused?: boolean } = {}, opts?: NetOptions): Promise<PruneResult> {
  const c = cfg(opts);
  const { links, gone, stale } = writeTx(db, () => {
    const gone = orphanContainerIds(db);
    const links: string[] = [];
    let resync = false;
    for (const id of gone) {
      const r = dropContainer(db, id);
      links.push(...r.links);
      resync ||= r.hadRules;
    }
    const stale = staleAttachedIds(db);
    for (const id of stale) {
      resync ||= portMappingsOfContainer(db, id).length > 0;
      setAttached(db, id, false);
    }
    if (resync) syncRules(db, c.nftTable);
    return { links, gone, stale };
  });
  await deleteLinks(links);
  const removed: string[] = [];
  if (o.removeUnused) {
    for (const n of listNetworkRows(db)) {
      if (n.is_default === 1 || countEndpoints(db, n.id) > 0) continue;
      try {
        await removeNetwork(db, n.id, opts);
        removed.push(n.name);
      } catch (err) {
        log('warn', 'network prune', { network: n.name, err: String(err) });
      }
    }
  }
  return { reclaimedContainers: gone, detachedContainers: stale, removedNetworks: removed };
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

/** The shape runtime/network.ts hands to start: prepare now, attach at the pid report, release on failure. */
export interface ContainerNetworkHandle {
  plan: NetworkPlan;
  netns: NetworkPlan['netns'];
  etcFiles: NetworkPlan['etcFiles'];
  hostname: string;
  attach(pid: number): Promise<AttachTiming>;
  release(): Promise<void>;
}

/** parseNetworkRequest + prepareContainerNetwork, with attach/release bound to this container. */
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
    attach: (pid) => attachContainerNetwork(db, plan, pid, opts),
    release: () => releaseContainerNetwork(db, containerId, opts),
  };
}

/** Removes the nftables table (tests, uninstall). */
export function removeRuleTable(opts?: NetOptions): void {
  deleteTable(cfg(opts).nftTable);
}
