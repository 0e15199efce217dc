// The container's /etc/hosts, /etc/resolv.conf and /etc/hostname: files in the container dir,
// bind-mounted over the init layer's mount points. Rewrites keep the inode (truncate + write in
// place), because a bind mount pins the inode: a rename would leave the container the old file.
import { closeSync, constants, ftruncateSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export const HOSTS = 'hosts';
export const RESOLV = 'resolv.conf';
export const HOSTNAME = 'hostname';

export function etcPaths(dir: string): { hosts: string; resolv: string; hostname: string } {
  return { hosts: join(dir, HOSTS), resolv: join(dir, RESOLV), hostname: join(dir, HOSTNAME) };
}

const BASE_HOSTS = [
  '127.0.0.1\tlocalhost',
  '::1\tlocalhost ip6-localhost ip6-loopback',
  'fe00::0\tip6-localnet',
  'ff00::0\tip6-mcastprefix',
  'ff02::1\tip6-allnodes',
  'ff02::2\tip6-allrouters',
];

export interface HostsInput {
  /** The host's /etc/hosts text, for --network host (replaces the base entries). */
  hostText?: string;
  extraHosts: [string, string][];
  /** The container's own address and names (hostname first). */
  self?: { address: string; names: string[] };
  /** Other members of its user networks. */
  members: { address: string; names: string[] }[];
}

export function buildHosts(h: HostsInput): string {
  const lines = h.hostText !== undefined ? [h.hostText.replace(/\n+$/, '')] : [...BASE_HOSTS];
  for (const [name, addr] of h.extraHosts) lines.push(`${addr}\t${name}`);
  if (h.self) lines.push(`${h.self.address}\t${dedupe(h.self.names).join(' ')}`);
  for (const m of h.members) if (m.names.length > 0) lines.push(`${m.address}\t${dedupe(m.names).join(' ')}`);
  return lines.join('\n') + '\n';
}

function dedupe(names: string[]): string[] {
  return [...new Set(names.filter(Boolean))];
}

export interface ResolvInput {
  dns: string[];
  dnsSearch: string[];
  dnsOptions: string[];
  fallbackDns: string[];
  /** Keep loopback nameservers (the container shares the host's network). */
  keepLoopback: boolean;
}

function isLoopbackNameserver(a: string): boolean {
  return a.startsWith('127.') || a === '::1' || a === '0:0:0:0:0:0:0:1';
}

/**
 * Derives the container's resolv.conf from the host's, as docker does: nameservers on loopback
 * cannot be reached from another network namespace and are dropped (IPv6 ones too: container
 * networks are IPv4 only); --dns, --dns-search and --dns-option replace their kind of line.
 */
export function buildResolvConf(hostText: string, r: ResolvInput): string {
  const ns: string[] = [];
  let search: string[] = [];
  let options: string[] = [];
  for (const raw of hostText.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    const [key, ...vals] = line.split(/\s+/);
    if (key === 'nameserver' && vals[0]) {
      const a = vals[0];
      if (r.keepLoopback || (!isLoopbackNameserver(a) && !a.includes(':'))) ns.push(a);
    } else if (key === 'search' || key === 'domain') search = vals;
    else if (key === 'options') options.push(...vals);
  }
  const nameservers = r.dns.length > 0 ? r.dns : ns.length > 0 ? ns : r.fallbackDns;
  if (r.dnsSearch.length > 0) search = r.dnsSearch.filter((s) => s !== '.');
  if (r.dnsOptions.length > 0) options = r.dnsOptions;
  const out: string[] = [];
  if (search.length > 0) out.push(`search ${search.join(' ')}`);
  for (const a of nameservers) out.push(`nameserver ${a}`);
  if (options.length > 0) out.push(`options ${options.join(' ')}`);
  return out.join('\n') + '\n';
}

/** Replaces a file's content keeping its inode (bind mounts of it stay current). */
export function writeInPlace(path: string, content: string): void {
  const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW, 0o644);
  try {
    ftruncateSync(fd, 0);
    const buf = Buffer.from(content);
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off, off);
  } finally {
    closeSync(fd);
  }
}
