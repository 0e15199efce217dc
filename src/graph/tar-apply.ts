// Safe, streaming extraction of a layer tar into a layer directory.
//
// The archive is untrusted. Rules (docker's where docker has one, stricter where that is cheap):
//  * Names are cleaned lexically: a leading "/" is stripped (an absolute name means "from the
//    layer's root", as docker does), "." and empty components are dropped, ".." removes the
//    previous component. A name whose ".." climbs above the layer root is refused.
//  * Every parent component of an entry is looked at with lstat from the layer root down. A
//    missing one is created (0755, root-owned, as docker does); a symbolic link, or anything that
//    is not a directory, is refused. So nothing is ever written through a symlink, whether the
//    archive made it earlier (`a -> /etc` then `a/passwd`) or the layer below did (vfs copies).
//    A layer tar produced from a real file system never needs to, since it records real paths.
//  * The entry itself never follows a symlink: an existing non-directory at the name is unlinked
//    first, files are created with O_EXCL|O_NOFOLLOW, metadata uses lchown/lutimes, symlink
//    targets are stored verbatim and never resolved.
//  * A hard link's target is cleaned the same way, must stay inside the layer, must be reached
//    without symlinks, must exist already and must not be a directory.
//  * Whiteouts (`.wh.NAME`, `.wh..wh..opq`) must name one real component (not "." or "..");
//    they become overlay's 0/0 character devices / opaque xattr, or deletions for vfs.
//  * xattrs from PAX `SCHILY.xattr.*` are applied except overlay's own (trusted.overlay.*,
//    user.overlay.*), which could otherwise steer an overlay mount (redirects, metacopy).
// The archive must be an uncompressed tar (gzip detection is the caller's). We are the only
// writer of a layer directory while it is being extracted, so checks and uses of a path do not
// race with anyone else. On failure the partly extracted layer is left as it is: the caller
// removes it with the driver's `remove`.
import {
  closeSync,
  constants as C,
  linkSync,
  lchownSync,
  chmodSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  readdirSync,
  realpathSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeSync,
  type Stats,
} from 'node:fs';
import type { Readable } from 'node:stream';
import tarStream from 'tar-stream';
import { TscError, errnoMessage } from '../util/errors.js';
import type { ApplyResult } from './driver.js';
import { FsOps, FsOpError, type NodeKind } from './fsops.js';
import {
  OVERLAY_OPAQUE_VALUE,
  OVERLAY_OPAQUE_XATTR,
  classifyName,
  isOverlayPrivateXattr,
  isValidWhiteoutTarget,
  type WhiteoutFormat,
} from './whiteout.js';

export interface ApplyOptions {
  /** How whiteouts are stored: overlay devices/xattr, or deletion (vfs). */
  whiteouts: WhiteoutFormat;
  /** lchown entries to the archive's uid/gid (default: when running as root). */
  chown?: boolean;
}

/** A tar-stream header as it really arrives: an unknown type flag gives a null type, a missing
 *  link name is null, and PAX records are attached as text. */
type TarHeader = Omit<tarStream.Header, 'type' | 'linkname' | 'pax'> & {
  type: tarStream.Header['type'] | null;
  linkname: string | null;
  pax?: Record<string, string> | null;
};

const RAW_PAX = Symbol('tscontainer.rawPax');

/** Cleans a tar name: strips a leading "/", drops "." and empty components, applies "..".
 *  Returns the relative path ("" for the root) or null when ".." climbs above the root. */
export function normalizeEntryName(name: string): string | null {
  const out: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length === 0) return null;
      out.pop();
      continue;
    }
    out.push(part);
  }
  return out.join('/');
}

/** Splits the records of a PAX extended header, keeping values as bytes (xattrs are binary). */
export function parsePaxRecords(buf: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let off = 0;
  while (off < buf.length) {
    const sp = buf.indexOf(0x20, off);
    if (sp < 0) break;
    const len = parseInt(buf.toString('latin1', off, sp), 10);
    if (!(len > 0) || off + len > buf.length || sp >= off + len) break;
    const rec = buf.subarray(sp + 1, off + len - 1);
    const eq = rec.indexOf(0x3d);
    if (eq < 0) break;
    out.set(rec.toString('utf8', 0, eq), Buffer.from(rec.subarray(eq + 1)));
    off += len;
  }
  return out;
}

/** tar-stream decodes PAX values as UTF-8 text, which corrupts binary xattr values
 *  (security.capability). Keep a copy of each raw PAX block next to the decoded records. */
function keepRawPax(ex: tarStream.Extract): void {
  const inner = ex as unknown as {
    _decodeLongHeader?: (buf: Buffer) => void;
    _header?: { type?: string } | null;
    _pax?: object | null;
  };
  const orig = inner._decodeLongHeader;
  if (typeof orig !== 'function') return;
  inner._decodeLongHeader = function (this: typeof inner, buf: Buffer): void {
    orig.call(this, buf);
    if (this._header?.type === 'pax-header' && this._pax) {
      Object.defineProperty(this._pax, RAW_PAX, { value: Buffer.from(buf), enumerable: false });
    }
  };
}

function paxOf(header: TarHeader): Map<string, Buffer> {
  const pax = header.pax;
  if (!pax) return new Map();
  const raw = (pax as { [RAW_PAX]?: Buffer })[RAW_PAX];
  const decoded = new Map<string, Buffer>(Object.entries(pax).map(([k, v]) => [k, Buffer.from(v, 'utf8')]));
  if (raw) for (const [k, v] of parsePaxRecords(raw)) decoded.set(k, v);
  return decoded;
}

function isErrno(e: unknown, code: string): boolean {
  return (e as NodeJS.ErrnoException | undefined)?.code === code;
}

function layerError(msg: string): TscError {
  return new TscError(`layer tar: ${msg}`);
}

async function drain(entry: Readable): Promise<void> {
  for await (const _ of entry) {
    /* discard */
  }
}

class Applier {
  size = 0;
  readonly fsops = new FsOps();
  private readonly chown: boolean;
  /** Relative paths known to be real directories (cleared whenever a directory is removed). */
  private readonly okDirs = new Set<string>();
  /** Directory times to set at the end, after their contents stop changing. */
  private readonly dirTimes = new Map<string, { atime: number; mtime: number }>();
  /** Paths this archive created (delete format only: an opaque dir keeps these). */
  private readonly unpacked = new Set<string>();

  constructor(
    readonly root: string,
    readonly format: WhiteoutFormat,
    chown: boolean,
  ) {
    this.chown = chown;
  }

  private mark(rel: string): void {
    if (this.format === 'delete') this.unpacked.add(rel);
  }

  /** Walks `parts` from the root without following symlinks; creates missing directories
   *  when `create`, else returns null for a missing one. */
  private resolveDir(parts: string[], create: boolean, entryName: string): string | null {
    let abs = this.root;
    let rel = '';
    for (const part of parts) {
      rel = rel ? `${rel}/${part}` : part;
      abs = `${abs}/${part}`;
      if (this.okDirs.has(rel)) continue;
      let st: Stats;
      try {
        st = lstatSync(abs);
      } catch (e) {
        if (!isErrno(e, 'ENOENT')) throw e;
        if (!create) return null;
        mkdirSync(abs, 0o755);
        this.mark(rel);
        this.okDirs.add(rel);
        continue;
      }
      if (st.isSymbolicLink()) {
        throw layerError(`entry "${entryName}" would be written through the symbolic link "${rel}"`);
      }
      if (!st.isDirectory()) throw layerError(`entry "${entryName}": "${rel}" is not a directory`);
      this.okDirs.add(rel);
    }
    return abs;
  }

  /** Clears the way for a new entry at abs; keeps an existing directory when `keepDir`. */
  private clear(abs: string, keepDir: boolean): boolean {
    let st: Stats;
    try {
      st = lstatSync(abs);
    } catch (e) {
      if (isErrno(e, 'ENOENT')) return false;
      throw e;
    }
    if (st.isDirectory()) {
      if (keepDir) return true;
      rmSync(abs, { recursive: true, force: true });
      this.okDirs.clear();
      return false;
    }
    unlinkSync(abs);
    return false;
  }

  async entry(header: TarHeader, stream: Readable): Promise<void> {
    const name = header.name;
    if (name.includes('\0')) throw layerError(`entry "${name.replace(/\0/g, '\\0')}" has a NUL byte in its name`);
    const rel = normalizeEntryName(name);
    if (rel === null) throw layerError(`entry "${name}" escapes the layer directory`);
    const parts = rel === '' ? [] : rel.split('/');
    const base = parts[parts.length - 1] ?? '';

    // aufs bookkeeping (.wh..wh.plnk/..., .wh..wh.aufs) is never content.
    for (let i = 0; i < parts.length; i++) {
      const k = classifyName(parts[i]!);
      if (k.kind === 'meta' || (k.kind === 'opaque' && i < parts.length - 1)) {
        await drain(stream);
        return;
      }
    }

    const wk = classifyName(base);
    if (wk.kind === 'opaque') {
      await drain(stream);
      await this.opaque(parts.slice(0, -1), header, name);
      return;
    }
    if (wk.kind === 'whiteout') {
      await drain(stream);
      if (!isValidWhiteoutTarget(wk.name)) throw layerError(`whiteout "${name}" names an invalid file "${wk.name}"`);
      await this.whiteout(parts.slice(0, -1), wk.name, header, name);
      return;
    }

    const pax = paxOf(header);
    const type = header.type;
    if (rel === '') {
      if (type !== 'directory') throw layerError(`entry "${name}" would replace the layer's root directory`);
      await drain(stream);
      await this.metadata(this.root, header, pax, 'directory');
      return;
    }

    const parent = this.resolveDir(parts.slice(0, -1), true, name)!;
    const abs = `${parent}/${base}`;
    switch (type) {
      case 'directory': {
        await drain(stream);
        if (!this.clear(abs, true)) mkdirSync(abs, 0o700);
        this.okDirs.add(rel);
        break;
      }
      case 'file':
      case 'contiguous-file': {
        this.clear(abs, false);
        const fd = openSync(abs, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o600);
        let written = 0;
        try {
          for await (const chunk of stream as AsyncIterable<Buffer>) {
            let off = 0;
            while (off < chunk.length) off += writeSync(fd, chunk, off, chunk.length - off);
            written += chunk.length;
          }
        } finally {
          closeSync(fd);
        }
        this.size += written;
        break;
      }
      case 'symlink': {
        await drain(stream);
        this.clear(abs, false);
        symlinkSync(header.linkname ?? '', abs);
        break;
      }
      case 'link': {
        await drain(stream);
        this.hardlink(abs, header.linkname ?? '', name);
        this.mark(rel);
        return; // a hard link shares its target's inode and metadata
      }
      case 'character-device':
      case 'block-device':
      case 'fifo': {
        await drain(stream);
        this.clear(abs, false);
        const kind: NodeKind = type === 'fifo' ? 'fifo' : type === 'block-device' ? 'block' : 'char';
        try {
          await this.fsops.mknod(abs, kind, header.mode ?? 0o600, header.devmajor ?? 0, header.devminor ?? 0);
        } catch (e) {
          throw layerError(`cannot create ${kind === 'fifo' ? 'fifo' : 'device'} "${name}": ${errnoMessage(e)}`);
        }
        break;
      }
      default:
        throw layerError(`entry "${name}" has an unsupported type (${type ?? 'unknown'})`);
    }
    this.mark(rel);
    await this.metadata(abs, header, pax, type);
  }

  private hardlink(abs: string, linkname: string, name: string): void {
    const target = normalizeEntryName(linkname);
    if (target === null || target === '') {
      throw layerError(`hard link "${name}" points to "${linkname}", outside the layer directory`);
    }
    const tparts = target.split('/');
    const tparent = this.resolveDir(tparts.slice(0, -1), false, linkname);
    const tabs = tparent === null ? null : `${tparent}/${tparts[tparts.length - 1]}`;
    let st: Stats | undefined;
    try {
      if (tabs) st = lstatSync(tabs);
    } catch (e) {
      if (!isErrno(e, 'ENOENT')) throw e;
    }
    if (!tabs || !st) throw layerError(`hard link "${name}" points to "${linkname}", which is not in the layer`);
    if (st.isDirectory()) throw layerError(`hard link "${name}" points to the directory "${linkname}"`);
    if (tabs === abs) return;
    this.clear(abs, false);
    linkSync(tabs, abs);
  }

  private async metadata(abs: string, header: TarHeader, pax: Map<string, Buffer>, type: TarHeader['type']): Promise<void> {
    const num = (key: string, dflt: number): number => {
      const v = pax.get(key);
      const n = v === undefined ? NaN : Number(v.toString('latin1'));
      return Number.isFinite(n) ? n : dflt;
    };
    const uid = num('uid', header.uid ?? 0);
    const gid = num('gid', header.gid ?? 0);
    const mtime = num('mtime', (header.mtime?.getTime() ?? 0) / 1000);
    const atime = num('atime', mtime);
    if (this.chown) lchownSync(abs, uid, gid);
    if (type !== 'symlink') chmodSync(abs, (header.mode ?? 0o644) & 0o7777);
    for (const [key, value] of pax) {
      if (!key.startsWith('SCHILY.xattr.')) continue;
      const xname = key.slice('SCHILY.xattr.'.length);
      if (isOverlayPrivateXattr(xname)) continue;
      try {
        await this.fsops.setXattr(abs, xname, value);
      } catch (e) {
        const code = e instanceof FsOpError ? e.code : '';
        if (code === 'ENOTSUP' || code === 'EOPNOTSUPP' || (type === 'symlink' && code === 'EPERM')) continue;
        throw layerError(`cannot set xattr ${xname} on "${header.name}": ${errnoMessage(e)}`);
      }
    }
    if (type === 'directory') this.dirTimes.set(abs, { atime, mtime });
    else lutimesSync(abs, atime, mtime);
  }

  private async whiteout(dirParts: string[], target: string, header: TarHeader, name: string): Promise<void> {
    if (this.format === 'overlay') {
      const dir = this.resolveDir(dirParts, true, name)!;
      const abs = `${dir}/${target}`;
      this.clear(abs, false);
      await this.fsops.mknod(abs, 'char', 0, 0, 0);
      if (this.chown) lchownSync(abs, header.uid ?? 0, header.gid ?? 0);
      return;
    }
    const dir = this.resolveDir(dirParts, false, name);
    if (dir === null) return;
    const abs = `${dir}/${target}`;
    let st: Stats;
    try {
      st = lstatSync(abs);
    } catch (e) {
      if (isErrno(e, 'ENOENT')) return;
      throw e;
    }
    if (st.isDirectory()) {
      rmSync(abs, { recursive: true, force: true });
      this.okDirs.clear();
    } else unlinkSync(abs);
  }

  private async opaque(dirParts: string[], header: TarHeader, name: string): Promise<void> {
    if (this.format === 'overlay') {
      const dir = this.resolveDir(dirParts, true, name)!;
      await this.fsops.setXattr(dir, OVERLAY_OPAQUE_XATTR, Buffer.from(OVERLAY_OPAQUE_VALUE));
      void header;
      return;
    }
    const dir = this.resolveDir(dirParts, false, name);
    if (dir === null) return;
    this.removeNotUnpacked(dir, dirParts.join('/'));
  }

  /** Opaque directory in delete format: everything below `dir` that this archive did not
   *  create came from the layer below and goes. */
  private removeNotUnpacked(dir: string, rel: string): void {
    for (const child of readdirSync(dir, { withFileTypes: true })) {
      const crel = rel ? `${rel}/${child.name}` : child.name;
      const cabs = `${dir}/${child.name}`;
      if (!this.unpacked.has(crel)) {
        rmSync(cabs, { recursive: true, force: true });
        this.okDirs.clear();
      } else if (child.isDirectory()) {
        this.removeNotUnpacked(cabs, crel);
      }
    }
  }

  finish(): void {
    for (const [abs, t] of this.dirTimes) lutimesSync(abs, t.atime, t.mtime);
  }
}

/**
 * Extracts the uncompressed layer tar `input` into the directory `root` (which must exist).
 * Returns the bytes of regular file content written. Throws a TscError with a one-line
 * `layer tar: ...` message on a malicious or broken archive; the directory is then left
 * partly extracted for the caller to remove.
 */
export async function applyLayerTar(root: string, input: Readable, opts: ApplyOptions): Promise<ApplyResult> {
  // The producer may have failed already (a truncated gzip upstream): no event would follow.
  if (input.errored) throw layerError(errnoMessage(input.errored));
  if (input.destroyed && !input.readableEnded) throw layerError('the archive stream was closed before it ended');
  const realRoot = realpathSync(root);
  const applier = new Applier(realRoot, opts.whiteouts, opts.chown ?? process.getuid?.() === 0);
  const extract = tarStream.extract();
  keepRawPax(extract);
  let compressed = '';
  input.once('data', (chunk: Buffer | string) => {
    const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
    if (b[0] === 0x1f && b[1] === 0x8b) compressed = 'gzip';
    else if (b.length >= 4 && b.readUInt32LE(0) === 0xfd2fb528) compressed = 'zstd';
  });
  input.on('error', (e) => extract.destroy(e));
  input.pipe(extract as unknown as NodeJS.WritableStream);
  let current = '';
  try {
    for await (const entry of extract) {
      const header = entry.header as TarHeader;
      current = header.name;
      await applier.entry(header, entry as unknown as Readable);
    }
    applier.finish();
    return { size: applier.size };
  } catch (e) {
    input.unpipe(extract as unknown as NodeJS.WritableStream);
    input.destroy();
    extract.destroy();
    if (e instanceof TscError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code) throw layerError(`cannot extract "${current}": ${errnoMessage(e)}`);
    const msg = errnoMessage(e);
    if (compressed) throw layerError(`the archive is ${compressed}-compressed; it must be decompressed before it is applied`);
    if (/end of data/i.test(msg)) throw layerError('the archive is truncated (unexpected end of data)');
    if (/outside buffer bounds|invalid tar header/i.test(msg)) throw layerError('not a tar archive');
    throw layerError(msg);
  } finally {
    await applier.fsops.close();
  }
}
