// Networks themselves: the default `bridge` (made on first use), user networks, and their
// create / find / list / inspect / remove.
import { randomHex } from '../util/random.js';
import type { DB } from '../store/db.js';
import { writeTx } from '../store/db.js';
import {
  countEndpoints,
  deleteNetworkRow,
  getDefaultNetwork,
  getNetworkById,
  getNetworkByName,
  insertNetwork,
  listNetworkRows,
  membersOfNetwork,
  networksByIdPrefix,
  type NetworkRow,
} from '../store/networks.js';
import { ConflictError, NotFoundError, UsageError, EXIT_MANAGEMENT } from '../util/errors.js';
import { type NetConfig } from './config.js';
import { formatCidr, parseCidr, requireCidr, type Cidr } from './ip.js';
import { defaultGateway, gatewayInSubnet, pickFreeSubnet, subnetClash } from './ipam.js';
import { deleteLinks, hostBatch, linkExists, runHostBatch, setSysctls, type BridgeSpec } from './link.js';
import { syncRules } from './nat.js';
import { validateNetworkName } from './request.js';

import { DEFAULT_NETWORK, RESERVED, now, cfg, type NetOptions } from './common.js';
import { reclaimOrphansOf } from './leases.js';

// ---------------------------------------------------------------- networks

export function ensureDefaultNetwork(db: DB, c: NetConfig): NetworkRow {
  const existing = getDefaultNetwork(db);
  if (existing) return existing;
  let subnet: Cidr;
  if (c.defaultSubnet) {
    subnet = requireCidr(c.defaultSubnet, 'TSCONTAINER_BRIDGE_SUBNET');
    const clash = subnetClash(db, subnet);
    if (clash) throw new ConflictError(`cannot create the default network: ${clash}`);
  } else subnet = pickFreeSubnet(db);
  const row: NetworkRow = {
    id: randomHex(32),
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
  const id = randomHex(32);
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

export function bridgeSpec(n: NetworkRow): BridgeSpec {
  return { bridge: n.bridge, gateway: n.gateway, prefix: parseCidr(n.subnet)!.prefix };
}

export async function ensureBridges(bridges: BridgeSpec[]): Promise<void> {
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
