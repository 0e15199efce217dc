// Networks, endpoints (leases), published ports and per-container network settings.
// Callers wrap writes in writeTx (BEGIN IMMEDIATE) so that allocation reads and inserts are atomic.
import type { DB } from './db.js';

export interface NetworkRow {
  id: string;
  name: string;
  driver: string;
  bridge: string;
  subnet: string;
  gateway: string;
  is_default: number;
  internal: number;
  labels: string;
  created_at: string;
}

export interface EndpointRow {
  network_id: string;
  container_id: string;
  address: string;
  addr_int: number;
  mac: string;
  host_if: string;
  ifname: string;
  aliases: string;
  created_at: string;
}

export interface PortMappingRow {
  container_id: string;
  proto: string;
  host_ip: string;
  host_port: number;
  container_port: number;
}

export interface NetSettingsRow {
  container_id: string;
  mode: string;
  hostname: string;
  extra_hosts: string;
  dir: string;
  attached: number;
  created_at: string;
}

/** An endpoint joined with its container's name (null when the container row is gone). */
export interface MemberRow extends EndpointRow {
  container_name: string | null;
}

// ---- networks ----

export function insertNetwork(db: DB, row: NetworkRow): void {
  db.prepare(
    `INSERT INTO networks (id, name, driver, bridge, subnet, gateway, is_default, internal, labels, created_at)
     VALUES (@id, @name, @driver, @bridge, @subnet, @gateway, @is_default, @internal, @labels, @created_at)`,
  ).run(row);
}

export function listNetworkRows(db: DB): NetworkRow[] {
  return db.prepare('SELECT * FROM networks ORDER BY is_default DESC, created_at, name').all() as NetworkRow[];
}

export function getNetworkByName(db: DB, name: string): NetworkRow | undefined {
  return db.prepare('SELECT * FROM networks WHERE name = ?').get(name) as NetworkRow | undefined;
}

export function getNetworkById(db: DB, id: string): NetworkRow | undefined {
  return db.prepare('SELECT * FROM networks WHERE id = ?').get(id) as NetworkRow | undefined;
}

export function getDefaultNetwork(db: DB): NetworkRow | undefined {
  return db.prepare('SELECT * FROM networks WHERE is_default = 1').get() as NetworkRow | undefined;
}

/** Up to two networks whose id starts with `prefix`. */
export function networksByIdPrefix(db: DB, prefix: string): NetworkRow[] {
  return db.prepare('SELECT * FROM networks WHERE id >= ? AND id < ? LIMIT 2').all(prefix, `${prefix}\uffff`) as NetworkRow[];
}

export function deleteNetworkRow(db: DB, id: string): void {
  db.prepare('DELETE FROM networks WHERE id = ?').run(id);
}

// ---- endpoints (leases) ----

export function insertEndpoint(db: DB, row: EndpointRow): void {
  db.prepare(
    `INSERT INTO endpoints (network_id, container_id, address, addr_int, mac, host_if, ifname, aliases, created_at)
     VALUES (@network_id, @container_id, @address, @addr_int, @mac, @host_if, @ifname, @aliases, @created_at)`,
  ).run(row);
}

export function endpointsOfContainer(db: DB, containerId: string): EndpointRow[] {
  return db.prepare('SELECT * FROM endpoints WHERE container_id = ? ORDER BY ifname').all(containerId) as EndpointRow[];
}

export function getEndpoint(db: DB, networkId: string, containerId: string): EndpointRow | undefined {
  return db.prepare('SELECT * FROM endpoints WHERE network_id = ? AND container_id = ?').get(networkId, containerId) as
    EndpointRow | undefined;
}

export function takenAddresses(db: DB, networkId: string): number[] {
  return (db.prepare('SELECT addr_int FROM endpoints WHERE network_id = ?').all(networkId) as { addr_int: number }[]).map(
    (r) => r.addr_int,
  );
}

export function membersOfNetwork(db: DB, networkId: string): MemberRow[] {
  return db
    .prepare(
      `SELECT e.*, c.name AS container_name FROM endpoints e LEFT JOIN containers c ON c.id = e.container_id
       WHERE e.network_id = ? ORDER BY e.addr_int`,
    )
    .all(networkId) as MemberRow[];
}

/** Endpoints whose container row no longer exists (crash between allocation and start, lost rm). */
export function orphanEndpoints(db: DB, networkId?: string): EndpointRow[] {
  const sql = `SELECT e.* FROM endpoints e WHERE NOT EXISTS (SELECT 1 FROM containers c WHERE c.id = e.container_id)`;
  return (
    networkId === undefined ? db.prepare(sql).all() : db.prepare(`${sql} AND e.network_id = ?`).all(networkId)
  ) as EndpointRow[];
}

export function deleteEndpoint(db: DB, networkId: string, containerId: string): void {
  db.prepare('DELETE FROM endpoints WHERE network_id = ? AND container_id = ?').run(networkId, containerId);
}

export function deleteEndpointsOfContainer(db: DB, containerId: string): void {
  db.prepare('DELETE FROM endpoints WHERE container_id = ?').run(containerId);
}

export function countEndpoints(db: DB, networkId: string): number {
  return (db.prepare('SELECT count(*) AS n FROM endpoints WHERE network_id = ?').get(networkId) as { n: number }).n;
}

// ---- port mappings ----

export function insertPortMapping(db: DB, row: PortMappingRow): void {
  db.prepare(
    `INSERT INTO port_mappings (container_id, proto, host_ip, host_port, container_port)
     VALUES (@container_id, @proto, @host_ip, @host_port, @container_port)`,
  ).run(row);
}

export function portMappingsOfContainer(db: DB, containerId: string): PortMappingRow[] {
  return db
    .prepare('SELECT * FROM port_mappings WHERE container_id = ? ORDER BY container_port, proto, host_ip, host_port')
    .all(containerId) as PortMappingRow[];
}

/** Every mapping with the owning container's name and state (null when the row is gone). */
export function allPortMappings(db: DB): (PortMappingRow & { container_name: string | null; container_state: string | null })[] {
  return db
    .prepare(
      `SELECT p.*, c.name AS container_name, c.state AS container_state FROM port_mappings p
       LEFT JOIN containers c ON c.id = p.container_id`,
    )
    .all() as (PortMappingRow & { container_name: string | null; container_state: string | null })[];
}

export function deletePortMapping(db: DB, row: Pick<PortMappingRow, 'proto' | 'host_ip' | 'host_port'>): void {
  db.prepare('DELETE FROM port_mappings WHERE proto = ? AND host_ip = ? AND host_port = ?').run(
    row.proto,
    row.host_ip,
    row.host_port,
  );
}

export function deletePortMappingsOfContainer(db: DB, containerId: string): void {
  db.prepare('DELETE FROM port_mappings WHERE container_id = ?').run(containerId);
}

// ---- per-container settings ----

export function upsertNetSettings(db: DB, row: Omit<NetSettingsRow, 'attached'>): void {
  db.prepare(
    `INSERT INTO net_settings (container_id, mode, hostname, extra_hosts, dir, attached, created_at)
     VALUES (@container_id, @mode, @hostname, @extra_hosts, @dir, 0, @created_at)
     ON CONFLICT(container_id) DO UPDATE SET mode = excluded.mode, hostname = excluded.hostname,
       extra_hosts = excluded.extra_hosts, dir = excluded.dir`,
  ).run(row);
}

export function getNetSettings(db: DB, containerId: string): NetSettingsRow | undefined {
  return db.prepare('SELECT * FROM net_settings WHERE container_id = ?').get(containerId) as NetSettingsRow | undefined;
}

export function setAttached(db: DB, containerId: string, attached: boolean): void {
  db.prepare('UPDATE net_settings SET attached = ? WHERE container_id = ?').run(attached ? 1 : 0, containerId);
}

export function deleteNetSettings(db: DB, containerId: string): void {
  db.prepare('DELETE FROM net_settings WHERE container_id = ?').run(containerId);
}

/** Containers whose rules belong in the nftables table: attached and the row still exists. */
export function attachedContainerIds(db: DB): string[] {
  return (
    db
      .prepare(`SELECT s.container_id FROM net_settings s JOIN containers c ON c.id = s.container_id WHERE s.attached = 1`)
      .all() as { container_id: string }[]
  ).map((r) => r.container_id);
}

/** Container ids that have network state (settings, leases or ports) but no container row. */
export function orphanContainerIds(db: DB): string[] {
  return (
    db
      .prepare(
        `SELECT container_id FROM net_settings UNION SELECT container_id FROM endpoints
         UNION SELECT container_id FROM port_mappings
         EXCEPT SELECT id FROM containers`,
      )
      .all() as { container_id: string }[]
  ).map((r) => r.container_id);
}

/** Attached containers whose row says they are no longer running (exited without clean-up). */
export function staleAttachedIds(db: DB): string[] {
  return (
    db
      .prepare(
        `SELECT s.container_id FROM net_settings s JOIN containers c ON c.id = s.container_id
         WHERE s.attached = 1 AND c.state = 'exited'`,
      )
      .all() as { container_id: string }[]
  ).map((r) => r.container_id);
}
