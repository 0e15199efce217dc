// Address management: subnets that collide with nothing on the host, and leases allocated
// inside the caller's write transaction (lowest free address, gateway excluded).
import { readFileSync } from 'node:fs';
import type { DB } from '../store/db.js';
import { listNetworkRows, takenAddresses } from '../store/networks.js';
import { ConflictError } from '../util/errors.js';
import { contains, formatCidr, formatIpv4, hostRange, maskOf, overlaps, parseCidr, parseIpv4, type Cidr } from './ip.js';

export interface HostRoute {
  iface: string;
  dst: Cidr;
}

/** IPv4 routes of the host's main table, default routes excluded, from /proc/net/route. */
export function parseProcRoute(text: string): HostRoute[] {
  const out: HostRoute[] = [];
  const le = (h: string) => {
    const n = parseInt(h, 16);
    return (((n & 255) << 24) | (((n >>> 8) & 255) << 16) | (((n >>> 16) & 255) << 8) | (n >>> 24)) >>> 0;
  };
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8) continue;
    const mask = le(f[7]!);
    if (mask === 0) continue;
    let prefix = 0;
    while (prefix < 32 && ((mask << prefix) & 0x80000000) !== 0) prefix++;
    out.push({ iface: f[0]!, dst: { base: (le(f[1]!) & maskOf(prefix)) >>> 0, prefix } });
  }
  return out;
}

export function hostRoutes(): HostRoute[] {
  try {
    return parseProcRoute(readFileSync('/proc/net/route', 'utf8'));
  } catch {
    return [];
  }
}

/** Why `subnet` cannot be used, or undefined. Routes on our own networks' bridges are checked via the rows. */
export function subnetClash(db: DB, subnet: Cidr, routes: HostRoute[] = hostRoutes()): string | undefined {
  const nets = listNetworkRows(db);
  for (const n of nets) {
    const c = parseCidr(n.subnet);
    if (c && overlaps(c, subnet)) return `subnet ${formatCidr(subnet)} overlaps network ${n.name} (${n.subnet})`;
  }
  const ours = new Set(nets.map((n) => n.bridge));
  for (const r of routes) {
    if (ours.has(r.iface)) continue;
    if (overlaps(r.dst, subnet)) return `subnet ${formatCidr(subnet)} overlaps the host route ${formatCidr(r.dst)} on ${r.iface}`;
  }
  return undefined;
}

// docker's default pool is 172.17.0.0/16 and up, podman's 10.88.0.0/16: start above both.
export function* candidateSubnets(): Generator<Cidr> {
  for (const second of [89, 90, 91, 92, 93, 94, 95, 96, 97, 98])
    for (let third = 0; third < 256; third++) yield { base: ((10 << 24) | (second << 16) | (third << 8)) >>> 0, prefix: 24 };
}

export function pickFreeSubnet(db: DB, routes: HostRoute[] = hostRoutes()): Cidr {
  for (const c of candidateSubnets()) if (subnetClash(db, c, routes) === undefined) return c;
  throw new ConflictError('no free subnet is left in 10.89.0.0/16-10.98.0.0/16; pass --subnet');
}

export function defaultGateway(subnet: Cidr): string {
  return formatIpv4(hostRange(subnet).first);
}

/** Lowest free address of the network. Call inside writeTx (after orphan leases were reclaimed). */
export function allocateAddress(db: DB, networkId: string, subnet: Cidr, gateway: string): number {
  const taken = new Set(takenAddresses(db, networkId));
  const gw = parseIpv4(gateway);
  const { first, last } = hostRange(subnet);
  for (let a = first; a <= last; a++) {
    if (a === gw || taken.has(a)) continue;
    return a;
  }
  throw new ConflictError(`network ${formatCidr(subnet)} has no free address left`);
}

export function gatewayInSubnet(subnet: Cidr, gateway: string): boolean {
  const g = parseIpv4(gateway);
  if (g === undefined || !contains(subnet, g)) return false;
  const { first, last } = hostRange(subnet);
  return g >= first && g <= last;
}

/** Host-side veth name: prefix + hash of (container, network), at most 15 characters. */
export function hostIfName(prefix: string, containerId: string, networkId: string): string {
  // node:crypto on first use: loading it costs ~9 ms at start-up
  const h = process.getBuiltinModule('node:crypto').createHash('sha256').update(`${containerId}/${networkId}`).digest('hex');
  return prefix + h.slice(0, 15 - prefix.length);
}
