// What a container asks of the network, validated before anything is made. Pure.
import { UsageError } from '../util/errors.js';
import { isIpv4 } from './ip.js';
import { parseExposed, parsePublish, type PortSpec } from './ports.js';

export type NetworkKind = 'bridge' | 'none' | 'host' | 'container' | 'network';

/** The flags of run/create that concern the network (the shape of runtime's NetworkOptions). */
export interface NetworkRequestInput {
  /** bridge (default) | none | host | container:<name|id> | <user network name> */
  mode?: string;
  publish?: string[];
  publishAll?: boolean;
  /** "80/tcp" keys of the image's ExposedPorts plus --expose. */
  exposedPorts?: string[];
  dns?: string[];
  dnsSearch?: string[];
  dnsOptions?: string[];
  /** "name:address" (or name=address); address may be "host-gateway" (the network's gateway). */
  addHosts?: string[];
  /** --hostname; empty = the first 12 characters of the container id. */
  hostname?: string;
  /** --network-alias: extra names on a user network. */
  aliases?: string[];
}

export interface NetworkRequest {
  mode: string;
  kind: NetworkKind;
  /** The container reference for kind 'container', the network name for 'bridge' / 'network'. */
  target: string;
  publish: PortSpec[];
  publishAll: boolean;
  exposed: PortSpec[];
  dns: string[];
  dnsSearch: string[];
  dnsOptions: string[];
  addHosts: [string, string][];
  hostname: string;
  aliases: string[];
  /** Things docker prints as warnings (e.g. ports ignored with --network host). */
  warnings: string[];
}

export const NETWORK_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
/** RFC 1123 host name: dot-separated labels of 1-63 [a-zA-Z0-9-], not starting or ending with '-'. */
const HOSTNAME = /^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/;
const HOSTNAME_LIKE = /^[a-zA-Z0-9_]([a-zA-Z0-9_.-]{0,253})?$/;

/** --hostname: an RFC 1123 host name of at most 253 characters (the one rule, for run/create and the network). */
export function validateHostname(h: string): string {
  if (h.length > 253 || !HOSTNAME.test(h)) throw new UsageError(`invalid hostname "${h}"`);
  return h;
}

export function validateNetworkName(name: string): string {
  if (!NETWORK_NAME.test(name) || name.length > 128)
    throw new UsageError(`invalid network name "${name}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
  return name;
}

export function parseAddHost(v: string): [string, string] {
  const i = v.search(/[:=]/);
  if (i <= 0) throw new UsageError(`invalid --add-host "${v}": expected host:address`);
  const name = v.slice(0, i);
  const addr = v.slice(i + 1);
  if (!HOSTNAME_LIKE.test(name)) throw new UsageError(`invalid --add-host "${v}": bad host name "${name}"`);
  if (addr !== 'host-gateway' && !isIpv4(addr))
    throw new UsageError(`invalid --add-host "${v}": "${addr}" is not an IPv4 address`);
  return [name, addr];
}

export function parseNetworkRequest(input: NetworkRequestInput): NetworkRequest {
  const mode = input.mode && input.mode !== 'default' ? input.mode : 'bridge';
  let kind: NetworkKind;
  let target = '';
  if (mode === 'none' || mode === 'host') kind = mode;
  else if (mode === 'bridge') {
    kind = 'bridge';
    target = 'bridge';
  } else if (mode.startsWith('container:')) {
    kind = 'container';
    target = mode.slice('container:'.length);
    if (!target) throw new UsageError('invalid --network container: it needs a container name or id');
  } else {
    kind = 'network';
    target = validateNetworkName(mode);
  }

  const warnings: string[] = [];
  let publish = (input.publish ?? []).map(parsePublish);
  let publishAll = Boolean(input.publishAll);
  const exposed = publishAll ? (input.exposedPorts ?? []).map(parseExposed) : [];
  const wantsPorts = publish.length > 0 || (publishAll && exposed.length > 0);
  if (wantsPorts && (kind === 'none' || kind === 'container'))
    throw new UsageError(`conflicting options: port publishing and --network ${mode}`);
  if (kind === 'host' && wantsPorts) {
    warnings.push('Published ports are discarded when using host network mode');
    publish = [];
    publishAll = false;
  }

  const dns = input.dns ?? [];
  for (const a of dns) if (!isIpv4(a)) throw new UsageError(`invalid --dns "${a}": expected an IPv4 address`);
  const dnsSearch = input.dnsSearch ?? [];
  for (const s of dnsSearch) if (s !== '.' && !HOSTNAME_LIKE.test(s)) throw new UsageError(`invalid --dns-search "${s}"`);
  const dnsOptions = input.dnsOptions ?? [];
  for (const o of dnsOptions) if (!/^[a-zA-Z0-9_:.-]+$/.test(o)) throw new UsageError(`invalid --dns-option "${o}"`);
  const addHosts = (input.addHosts ?? []).map(parseAddHost);
  const hostname = input.hostname ?? '';
  if (hostname) validateHostname(hostname);
  const aliases = input.aliases ?? [];
  for (const a of aliases) if (!HOSTNAME_LIKE.test(a)) throw new UsageError(`invalid --network-alias "${a}"`);

  if (kind === 'container') {
    if (dns.length || dnsSearch.length || dnsOptions.length)
      throw new UsageError(`conflicting options: dns and --network ${mode}`);
    if (addHosts.length) throw new UsageError(`conflicting options: --add-host and --network ${mode}`);
    if (hostname) throw new UsageError(`conflicting options: --hostname and --network ${mode}`);
  }
  if (aliases.length > 0 && kind !== 'network')
    throw new UsageError('network-scoped aliases are supported only for containers on user-defined networks');

  return { mode, kind, target, publish, publishAll, exposed, dns, dnsSearch, dnsOptions, addHosts, hostname, aliases, warnings };
}
