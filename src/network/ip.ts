// IPv4 arithmetic: dotted quads, CIDR blocks, overlap. Pure.
import { UsageError } from '../util/errors.js';

export interface Cidr {
  /** Network address as an unsigned 32-bit number. */
  base: number;
  prefix: number;
}

const QUAD = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

export function parseIpv4(s: string): number | undefined {
  const m = QUAD.exec(s);
  if (!m) return undefined;
  let n = 0;
  for (let i = 1; i <= 4; i++) {
    const o = Number(m[i]);
    if (o > 255 || (m[i]!.length > 1 && m[i]!.startsWith('0'))) return undefined;
    n = n * 256 + o;
  }
  return n;
}

export function isIpv4(s: string): boolean {
  return parseIpv4(s) !== undefined;
}

export function formatIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** Parses "10.1.2.0/24"; with `strict`, host bits must be zero. */
export function parseCidr(s: string, strict = true): Cidr | undefined {
  const slash = s.indexOf('/');
  if (slash < 0) return undefined;
  const addr = parseIpv4(s.slice(0, slash));
  const p = s.slice(slash + 1);
  if (addr === undefined || !/^\d{1,2}$/.test(p)) return undefined;
  const prefix = Number(p);
  if (prefix > 32) return undefined;
  const base = (addr & maskOf(prefix)) >>> 0;
  if (strict && base !== addr) return undefined;
  return { base, prefix };
}

export function formatCidr(c: Cidr): string {
  return `${formatIpv4(c.base)}/${c.prefix}`;
}

export function size(c: Cidr): number {
  return 2 ** (32 - c.prefix);
}

export function contains(c: Cidr, addr: number): boolean {
  return (addr & maskOf(c.prefix)) >>> 0 === c.base;
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  const p = Math.min(a.prefix, b.prefix);
  const m = maskOf(p);
  return (a.base & m) >>> 0 === (b.base & m) >>> 0;
}

/** The usable host range of a subnet: network and broadcast excluded (for prefixes up to /30). */
export function hostRange(c: Cidr): { first: number; last: number } {
  if (c.prefix >= 31) return { first: c.base, last: c.base + size(c) - 1 };
  return { first: c.base + 1, last: c.base + size(c) - 2 };
}

export function requireCidr(s: string, what: string): Cidr {
  const c = parseCidr(s, false);
  if (!c) throw new UsageError(`invalid ${what} "${s}": expected an IPv4 CIDR such as 10.123.0.0/24`);
  if (c.prefix > 30 || c.prefix < 8) throw new UsageError(`invalid ${what} "${s}": the prefix length must be between 8 and 30`);
  const strict = parseCidr(s, true);
  if (!strict) throw new UsageError(`invalid ${what} "${s}": host bits are set (did you mean ${formatCidr(c)}?)`);
  return strict;
}

/** A locally administered MAC derived from the address, as docker does (02:42:a.b.c.d). */
export function macFor(addr: number): string {
  const b = [0x02, 0x42, addr >>> 24, (addr >>> 16) & 255, (addr >>> 8) & 255, addr & 255];
  return b.map((x) => x.toString(16).padStart(2, '0')).join(':');
}
