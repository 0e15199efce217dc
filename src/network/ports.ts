// Published ports: parsing `-p [hostip:][hostport:]containerport[/tcp|/udp]` (ranges allowed),
// `-P` from the image's exposed ports, the host's own listeners from /proc/net, and choosing
// host ports so that no two containers and no host socket share one.
import { readFileSync } from 'node:fs';
import { UsageError } from '../util/errors.js';
import { isIpv4 } from './ip.js';

export type Proto = 'tcp' | 'udp';

/** One -p value, validated. A host port range of [0, 0] means "any free port". */
export interface PortSpec {
  proto: Proto;
  /** '' = every host address (0.0.0.0). */
  hostIp: string;
  hostStart: number;
  hostEnd: number;
  containerStart: number;
  containerEnd: number;
}

/** One concrete published port. */
export interface PortMapping {
  proto: Proto;
  hostIp: string;
  hostPort: number;
  containerPort: number;
}

function parsePortRange(s: string, what: string, value: string): [number, number] {
  const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(s);
  if (!m) throw new UsageError(`invalid ${what} "${s}" in -p ${value}`);
  const a = Number(m[1]);
  const b = m[2] === undefined ? a : Number(m[2]);
  if (a < 1 || a > 65535 || b < 1 || b > 65535) throw new UsageError(`invalid ${what} "${s}" in -p ${value}: ports are 1-65535`);
  if (b < a) throw new UsageError(`invalid ${what} "${s}" in -p ${value}: the range ends before it starts`);
  return [a, b];
}

/** Parses one -p value. Throws UsageError with one sentence. */
export function parsePublish(value: string): PortSpec {
  let rest = value.trim();
  let proto: Proto = 'tcp';
  const slash = rest.lastIndexOf('/');
  if (slash >= 0) {
    const p = rest.slice(slash + 1).toLowerCase();
    if (p !== 'tcp' && p !== 'udp') throw new UsageError(`invalid protocol "${p}" in -p ${value}: use tcp or udp`);
    proto = p;
    rest = rest.slice(0, slash);
  }
  if (rest.startsWith('[') || rest.split(':').length > 3)
    throw new UsageError(`invalid -p ${value}: IPv6 host addresses are not supported`);
  const parts = rest.split(':');
  let hostIp = '';
  let hostPart = '';
  let containerPart: string;
  if (parts.length === 1) containerPart = parts[0]!;
  else if (parts.length === 2) [hostPart, containerPart] = parts as [string, string];
  else [hostIp, hostPart, containerPart] = parts as [string, string, string];
  if (hostIp === '0.0.0.0') hostIp = '';
  if (hostIp !== '' && !isIpv4(hostIp)) throw new UsageError(`invalid host address "${hostIp}" in -p ${value}`);
  if (containerPart === '') throw new UsageError(`invalid -p ${value}: no container port`);
  const [cs, ce] = parsePortRange(containerPart, 'container port', value);
  let hs = 0;
  let he = 0;
  if (hostPart !== '') {
    [hs, he] = parsePortRange(hostPart, 'host port', value);
    const hostLen = he - hs;
    const ctrLen = ce - cs;
    // Equal ranges map one to one; a host range for one container port means "one free port of these".
    if (ctrLen !== 0 && hostLen !== ctrLen)
      throw new UsageError(`invalid -p ${value}: the host and container port ranges differ in length`);
  }
  return { proto, hostIp, hostStart: hs, hostEnd: he, containerStart: cs, containerEnd: ce };
}

/** "80/tcp", "53/udp", "8080" (tcp) from the image's ExposedPorts, as PortSpecs for -P. */
export function parseExposed(value: string): PortSpec {
  const m = /^(\d{1,5})(?:-(\d{1,5}))?(?:\/(tcp|udp|sctp))?$/i.exec(value.trim());
  if (!m) throw new UsageError(`invalid exposed port "${value}"`);
  const proto = (m[3] ?? 'tcp').toLowerCase();
  if (proto === 'sctp') throw new UsageError(`exposed port "${value}": sctp is not supported`);
  const [cs, ce] = parsePortRange(m[2] === undefined ? m[1]! : `${m[1]}-${m[2]}`, 'exposed port', value);
  return { proto: proto as Proto, hostIp: '', hostStart: 0, hostEnd: 0, containerStart: cs, containerEnd: ce };
}

export function formatMapping(m: PortMapping): string {
  return `${m.containerPort}/${m.proto} -> ${m.hostIp || '0.0.0.0'}:${m.hostPort}`;
}

// ---- the host's own sockets ----

export interface Listener {
  proto: Proto;
  /** '' = wildcard (0.0.0.0 or ::); else an IPv4 address; IPv6-only specific addresses are dropped. */
  addr: string;
  port: number;
}

function v4FromHex(h: string): string {
  // /proc/net/tcp prints the 32-bit address in host (little-endian) byte order.
  const n = parseInt(h, 16);
  return [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, n >>> 24].join('.');
}

/** Parses the text of /proc/net/{tcp,tcp6,udp,udp6}: LISTEN (0A) for tcp, bound unconnected (07) for udp. */
export function parseProcNet(text: string, proto: Proto): Listener[] {
  const want = proto === 'tcp' ? '0A' : '07';
  const out: Listener[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 4 || f[3] !== want) continue;
    const [addrHex, portHex] = f[1]!.split(':') as [string, string];
    const port = parseInt(portHex, 16);
    if (addrHex.length === 8) {
      const a = v4FromHex(addrHex);
      out.push({ proto, addr: a === '0.0.0.0' ? '' : a, port });
    } else if (addrHex.length === 32) {
      if (/^0+$/.test(addrHex)) out.push({ proto, addr: '', port });
      else if (addrHex.startsWith('0000000000000000FFFF0000')) out.push({ proto, addr: v4FromHex(addrHex.slice(24)), port });
      // other IPv6 addresses: our IPv4 DNAT never takes their traffic
    }
  }
  return out;
}

export function hostListeners(procNet = '/proc/net'): Listener[] {
  const out: Listener[] = [];
  for (const [file, proto] of [
    ['tcp', 'tcp'],
    ['tcp6', 'tcp'],
    ['udp', 'udp'],
    ['udp6', 'udp'],
  ] as const) {
    let text: string;
    try {
      text = readFileSync(`${procNet}/${file}`, 'utf8');
    } catch {
      continue;
    }
    out.push(...parseProcNet(text, proto));
  }
  return out;
}

export function ephemeralRange(): [number, number] {
  try {
    const [a, b] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (a && b && a <= b) return [a, b];
  } catch {
    /* fall through */
  }
  return [32768, 60999];
}

/** Two bindings clash when protocol and port match and either side covers every address. */
export function clashes(
  a: { proto: string; hostIp: string; port: number },
  b: { proto: string; hostIp: string; port: number },
): boolean {
  return a.proto === b.proto && a.port === b.port && (a.hostIp === '' || b.hostIp === '' || a.hostIp === b.hostIp);
}

export interface Holder {
  proto: string;
  hostIp: string;
  port: number;
  /** Who holds it, for the message: "container web" or "a process on this host". */
  owner: string;
}

/**
 * Turns specs into concrete mappings. `taken` are bindings held by other containers and the
 * host's listeners. Throws ConflictError-worthy messages via `onConflict` for explicit ports.
 */
export function assignPorts(
  specs: PortSpec[],
  taken: Holder[],
  range: [number, number],
  conflict: (msg: string) => Error,
): PortMapping[] {
  const held = [...taken];
  const out: PortMapping[] = [];
  const free = (proto: string, hostIp: string, port: number) => !held.some((h) => clashes(h, { proto, hostIp, port }));
  const take = (proto: Proto, hostIp: string, hostPort: number, containerPort: number) => {
    held.push({ proto, hostIp, port: hostPort, owner: 'this container' });
    out.push({ proto, hostIp, hostPort, containerPort });
  };
  for (const s of specs) {
    for (let cp = s.containerStart; cp <= s.containerEnd; cp++) {
      if (s.hostStart === 0) {
        let p = range[0];
        while (p <= range[1] && !free(s.proto, s.hostIp, p)) p++;
        if (p > range[1]) throw conflict(`no free host port is left for ${cp}/${s.proto}`);
        take(s.proto, s.hostIp, p, cp);
      } else if (s.containerStart === s.containerEnd && s.hostEnd > s.hostStart) {
        let p = s.hostStart;
        while (p <= s.hostEnd && !free(s.proto, s.hostIp, p)) p++;
        if (p > s.hostEnd) throw conflict(`every host port of ${s.hostStart}-${s.hostEnd}/${s.proto} is already in use`);
        take(s.proto, s.hostIp, p, cp);
      } else {
        const hp = s.hostStart + (cp - s.containerStart);
        const h = held.find((x) => clashes(x, { proto: s.proto, hostIp: s.hostIp, port: hp }));
        if (h) {
          const where = `${s.hostIp || '0.0.0.0'}:${hp}/${s.proto}`;
          if (h.owner === 'this container') throw new UsageError(`host port ${where} is published twice`);
          throw conflict(`host port ${where} is already in use by ${h.owner}`);
        }
        take(s.proto, s.hostIp, hp, cp);
      }
    }
  }
  return out;
}
