// An index of a tar file: where each entry's bytes are, read from the headers alone (ustar,
// GNU long names, PAX path/linkpath/size), so that an archive's files can be opened in any
// order without extracting it. The archive is untrusted: a bad checksum, a size running past
// the end of the file, or a name that climbs out of the archive is an error naming it.
import { open } from 'node:fs/promises';
import { UsageError } from '../../util/errors.js';

export interface TarEntry {
  name: string;
  /** '0' file, '1' hard link, '2' symlink, '5' directory, ... */
  type: string;
  linkname: string;
  offset: number;
  size: number;
}

const BLOCK = 512;

function cstr(buf: Buffer, start: number, len: number): string {
  const end = buf.indexOf(0, start);
  return buf.toString('utf8', start, end === -1 || end > start + len ? start + len : end);
}

function octal(buf: Buffer, start: number, len: number, what: string): number {
  if ((buf[start]! & 0x80) !== 0) {
    // base-256 (GNU) for large values
    let v = 0;
    for (let i = start + 1; i < start + len; i++) v = v * 256 + buf[i]!;
    return v;
  }
  const s = cstr(buf, start, len).trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw new UsageError(`${what}: a tar header has a malformed number field`);
  return parseInt(s, 8);
}

function checksumOk(h: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
  const stored = parseInt(cstr(h, 148, 8).trim() || '-1', 8);
  return sum === stored;
}

function parsePax(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  let rest = Buffer.from(text, 'utf8');
  while (rest.length > 0) {
    const sp = rest.indexOf(0x20);
    if (sp <= 0) break;
    const len = parseInt(rest.toString('utf8', 0, sp), 10);
    if (!Number.isFinite(len) || len <= sp || len > rest.length) break;
    const rec = rest.toString('utf8', sp + 1, len - 1);
    const eq = rec.indexOf('=');
    if (eq > 0) out[rec.slice(0, eq)] = rec.slice(eq + 1);
    rest = rest.subarray(len);
  }
  return out;
}

/** Cleans an archive member name ("./a//b" -> "a/b"); null when it is absolute or climbs out. */
export function cleanMemberName(name: string): string | null {
  if (name.startsWith('/')) return null;
  const parts: string[] = [];
  for (const p of name.split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..') return null;
    parts.push(p);
  }
  return parts.join('/');
}

/** Reads the headers of the tar file at `path`; `what` names it in errors. */
export async function indexTar(path: string, what: string): Promise<Map<string, TarEntry>> {
  const fh = await open(path, 'r');
  try {
    const total = (await fh.stat()).size;
    const entries = new Map<string, TarEntry>();
    const header = Buffer.alloc(BLOCK);
    let pos = 0;
    let longName: string | undefined;
    let longLink: string | undefined;
    let pax: Record<string, string> = {};
    let sawEnd = false;
    while (pos + BLOCK <= total) {
      const { bytesRead } = await fh.read(header, 0, BLOCK, pos);
      if (bytesRead < BLOCK) break;
      if (header.every((b) => b === 0)) {
        sawEnd = true;
        break;
      }
      if (!checksumOk(header)) throw new UsageError(`${what} is not a valid tar archive (bad header checksum at byte ${pos})`);
      const type = String.fromCharCode(header[156]! || 0x30);
      let size = octal(header, 124, 12, what);
      if (pax['size'] !== undefined && /^\d+$/.test(pax['size'])) size = Number(pax['size']);
      const dataStart = pos + BLOCK;
      if (dataStart + size > total) throw new UsageError(`${what} is truncated: an entry runs past the end of the file`);
      const next = dataStart + Math.ceil(size / BLOCK) * BLOCK;
      if (type === 'L' || type === 'K' || type === 'x' || type === 'g') {
        if (size > 1024 * 1024) throw new UsageError(`${what}: a tar metadata entry is implausibly large`);
        const buf = Buffer.alloc(size);
        await fh.read(buf, 0, size, dataStart);
        if (type === 'L') longName = cstr(buf, 0, size);
        else if (type === 'K') longLink = cstr(buf, 0, size);
        else if (type === 'x') pax = parsePax(buf.toString('utf8'));
        pos = next;
        continue;
      }
      let name = cstr(header, 0, 100);
      const magic = header.toString('latin1', 257, 262);
      if (magic === 'ustar') {
        const prefix = cstr(header, 345, 155);
        if (prefix !== '') name = `${prefix}/${name}`;
      }
      name = pax['path'] ?? longName ?? name;
      const linkname = pax['linkpath'] ?? longLink ?? cstr(header, 157, 100);
      longName = longLink = undefined;
      pax = {};
      const clean = cleanMemberName(name);
      if (clean === null) throw new UsageError(`${what} holds an entry whose name leaves the archive: "${name}"`);
      entries.set(clean, { name: clean, type, linkname, offset: dataStart, size });
      pos = next;
    }
    if (!sawEnd && pos < total) throw new UsageError(`${what} is truncated or not a tar archive`);
    if (entries.size === 0) throw new UsageError(`${what} is empty or not a tar archive`);
    return entries;
  } finally {
    await fh.close();
  }
}
