// Leases: a container's address on a network (its endpoint) and its published host ports,
// allocated inside the caller's BEGIN IMMEDIATE transaction.
import type { DB } from '../store/db.js';
import {
  allPortMappings,
  deleteEndpoint,
  deletePortMapping,
  deletePortMappingsOfContainer,
  endpointsOfContainer,
  getEndpoint,
  getNetworkById,
  insertEndpoint,
  insertPortMapping,
  orphanEndpoints,
  portMappingsOfContainer,
  type EndpointRow,
  type NetworkRow,
} from '../store/networks.js';
import { ConflictError } from '../util/errors.js';
import { log } from '../util/log.js';
import { type NetConfig } from './config.js';
import { formatIpv4, macFor, parseCidr } from './ip.js';
import { allocateAddress, hostIfName } from './ipam.js';
import { assignPorts, ephemeralRange, hostListeners, type Holder, type PortMapping, type Proto } from './ports.js';
import { type NetworkRequest } from './request.js';

import { now, type PlannedEndpoint } from './common.js';

// ---------------------------------------------------------------- leases and ports

/** Deletes leases of `networkId` whose container row is gone; returns their host veth names. */
export function reclaimOrphansOf(db: DB, networkId: string): string[] {
  const gone = orphanEndpoints(db, networkId);
  for (const e of gone) {
    deleteEndpoint(db, e.network_id, e.container_id);
    log('info', 'reclaimed a lease whose container is gone', { container: e.container_id, address: e.address });
  }
  return gone.map((e) => e.host_if);
}

export function nextIfname(existing: EndpointRow[]): string {
  const used = new Set(existing.map((e) => e.ifname));
  let i = 0;
  while (used.has(`eth${i}`)) i++;
  return `eth${i}`;
}

export function allocateEndpoint(db: DB, c: NetConfig, net: NetworkRow, containerId: string, aliases: string[]): EndpointRow {
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
export function allocatePorts(db: DB, containerId: string, req: NetworkRequest): PortMapping[] {
  const specs = [...req.publish, ...req.exposed];
  const mine = portMappingsOfContainer(db, containerId);
  if (mine.length > 0) {
    // A restart keeps its ports, unless another container took some over while this one was
    // stopped: then allocate afresh, so a -p port that is now taken fails with the conflict.
    const expected = assignPorts(specs, [], ephemeralRange(), (m) => new ConflictError(m)).length;
    if (mine.length >= expected) return mine.map(toMapping);
    deletePortMappingsOfContainer(db, containerId);
  }
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

/** A port_mappings row (or a row of the same shape) as the module's PortMapping. */
export function toMapping(p: { proto: string; host_ip: string; host_port: number; container_port: number }): PortMapping {
  return { proto: p.proto as Proto, hostIp: p.host_ip, hostPort: p.host_port, containerPort: p.container_port };
}

export function plannedEndpoint(db: DB, e: EndpointRow): PlannedEndpoint {
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
