// Producing layer tars (docker/aufs whiteouts) from a directory.
//
//  * overlayDiffTar(upper): everything in an overlay upper dir is a change; 0/0 character
//    devices become `.wh.NAME`, a dir with trusted.overlay.opaque=y gets `.wh..wh..opq` right
//    after its own entry.
//  * compareDiffTar(layer, parent): walks a full copy against its parent's copy (vfs). A
//    non-directory changed when its type, permissions, owner, size, mtime (ns), device number or
//    symlink target differ (content is not read, as docker's naive diff); a directory changed when
//    its type, permissions or owner do; a name missing from the layer becomes a whiteout; the
//    unchanged parent directories of a change are written too, so that their owners and
//    permissions survive a re-apply.
// Entries are in byte-sorted order, parents before children, times in whole seconds, no user or
// group names: the same tree gives the same bytes. Hard links within the archive are kept (the
// first name is a file, later names link to it). Sockets are skipped. xattrs go into PAX
// `SCHILY.xattr.*` records as raw bytes (overlay's own trusted.overlay.* are left out); PAX is
// also used for names that do not fit ustar and for large ids.
import { closeSync, constants as C, lstatSync, openSync, readSync, readdirSync, readlinkSync, type BigIntStats } from 'node:fs';
import { Readable } from 'node:stream';
import tarStream from 'tar-stream';
import { FsOps } from './fsops.js';
import {
  OVERLAY_OPAQUE_XATTR,
  OVERLAY_OPAQUE_VALUE,
  WH_OPAQUE,
  isOverlayPrivateXattr,
  isOverlayWhiteout,
  whiteoutNameFor,
} from './whiteout.js';

type Xattrs = Map<string, Buffer>;
type TarEntryHeader = Partial<tarStream.Header> & { name: string };

const S_IFMT = 0o170000n;
const MAX_USTAR_ID = 0o7777777;

function join(rel: string, name: string): string {
  return rel ? `${rel}/${name}` : name;
}

/** Would tar-stream encode this name (and linkname) in a plain ustar header? */
function ustarFits(name: string, linkname?: string): boolean {
  if (Buffer.byteLength(name) !== name.length) return false;
  let n = name;
  let prefix = '';
  while (n.length > 100) {
    const i = n.indexOf('/');
    if (i === -1) return false;
    prefix += prefix ? '/' + n.slice(0, i) : n.slice(0, i);
    n = n.slice(i + 1);
  }
  if (n.length > 100 || prefix.length > 155) return false;
  if (linkname && Buffer.byteLength(linkname) > 100) return false;
  return true;
}

function placeholder(name: string, max: number): string {
  const ascii = name.replace(/[^\x20-\x7e]/g, '_');
  return ascii.length > max ? ascii.slice(ascii.length - max) : ascii;
}

function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`, 'utf8'), value, Buffer.from('\n')]);
  let total = body.length + 1;
  while (String(total).length + body.length !== total) total = String(total).length + body.length;
  return Buffer.concat([Buffer.from(String(total), 'ascii'), body]);
}

function octal(buf: Buffer, value: number, off: number, len: number): void {
  buf.write(value.toString(8).padStart(len - 1, '0') + '\0', off, len, 'ascii');
}

/** A ustar block of type 'x' followed by the PAX records, padded to 512 bytes. tar-stream can
 *  only write PAX values as UTF-8 text, and xattr values are bytes. */
function paxBlock(records: Buffer, mtime: number): Buffer {
  const h = Buffer.alloc(512);
  h.write('PaxHeader', 0, 'ascii');
  octal(h, 0o644, 100, 8);
  octal(h, 0, 108, 8);
  octal(h, 0, 116, 8);
  octal(h, records.length, 124, 12);
  octal(h, Math.max(0, Math.floor(mtime)), 136, 12);
  h[156] = 'x'.charCodeAt(0);
  h.write('ustar\x0000', 257, 'latin1');
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'ascii');
  const pad = (512 - (records.length % 512)) % 512;
  return Buffer.concat([h, records, Buffer.alloc(pad)]);
}

function devNumbers(rdev: bigint): { major: number; minor: number } {
  const major = ((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn);
  const minor = (rdev & 0xffn) | ((rdev >> 12n) & ~0xffn);
  return { major: Number(major & 0xffffffffn), minor: Number(minor & 0xffffffffn) };
}

interface PendingDir {
  rel: string;
  abs: string;
  st: BigIntStats;
  xattrs: Xattrs;
}

/** Writes entries into a tar-stream pack, one at a time, honouring back-pressure. */
class LayerTarWriter {
  readonly pack = tarStream.pack();
  readonly fsops = new FsOps();
  private readonly links = new Map<string, string>();

  private async write(header: TarEntryHeader, extra: Xattrs, file?: { abs: string; size: number }): Promise<void> {
    const records: Buffer[] = [];
    const mtime = header.mtime ? header.mtime.getTime() / 1000 : 0;
    if (!ustarFits(header.type === 'directory' ? header.name.replace(/\/?$/, '/') : header.name, header.linkname ?? undefined)) {
      records.push(paxRecord('path', Buffer.from(header.name, 'utf8')));
      if (header.linkname) records.push(paxRecord('linkpath', Buffer.from(header.linkname, 'utf8')));
      const isDir = header.type === 'directory';
      header.name = placeholder(header.name.replace(/\/$/, ''), isDir ? 99 : 100) || 'x';
      if (header.linkname) header.linkname = placeholder(header.linkname, 100);
    }
    if ((header.uid ?? 0) > MAX_USTAR_ID) {
      records.push(paxRecord('uid', Buffer.from(String(header.uid))));
      header.uid = 0;
    }
    if ((header.gid ?? 0) > MAX_USTAR_ID) {
      records.push(paxRecord('gid', Buffer.from(String(header.gid))));
      header.gid = 0;
    }
    for (const [k, v] of [...extra].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      if (isOverlayPrivateXattr(k)) continue;
      records.push(paxRecord(`SCHILY.xattr.${k}`, v));
    }
    if (records.length > 0) this.pack.push(paxBlock(Buffer.concat(records), mtime));

    let sink: ReturnType<tarStream.Pack['entry']> | undefined;
    const done = new Promise<void>((resolve, reject) => {
      sink = this.pack.entry(header, (err) => (err ? reject(err) : resolve()));
    });
    done.catch(() => undefined); // awaited below; an early exit must not leave it unhandled
    if (file) {
      const fd = openSync(file.abs, C.O_RDONLY | C.O_NOFOLLOW);
      try {
        let remaining = file.size;
        while (remaining > 0) {
          const buf = Buffer.allocUnsafe(Math.min(remaining, 1 << 20));
          let n = readSync(fd, buf, 0, buf.length, null);
          if (n === 0) {
            // The file shrank while we read it: keep the archive well-formed.
            buf.fill(0);
            n = buf.length;
          }
          remaining -= n;
          if (!sink!.write(buf.subarray(0, n))) await this.drained(sink!);
        }
      } finally {
        closeSync(fd);
      }
      sink!.end(null);
    } else if (header.type === 'file') {
      sink!.end(null); // an empty body (whiteouts)
    }
    await done;
  }

  /** Waits for room in the archive; throws if the reader went away (destroyed the stream). */
  private async drained(sink: ReturnType<tarStream.Pack['entry']>): Promise<void> {
    await new Promise<void>((resolve) => {
      const done = () => {
        sink.off('drain', done);
        sink.off('close', done);
        this.pack.off('close', done);
        resolve();
      };
      sink.once('drain', done);
      sink.once('close', done);
      this.pack.once('close', done);
    });
    if (this.pack.destroyed || this.pack.destroying) throw new Error('layer tar: the reader closed the archive');
  }

  /** Adds the file-system object at `abs` as `rel`. */
  async add(rel: string, abs: string, st: BigIntStats, xattrs: Xattrs): Promise<void> {
    const base = {
      name: rel,
      mode: Number(st.mode & 0o7777n),
      uid: Number(st.uid),
      gid: Number(st.gid),
      mtime: new Date(Number(st.mtimeMs / 1000n) * 1000),
    };
    if (st.isDirectory()) return this.write({ ...base, name: rel + '/', type: 'directory' }, xattrs);
    if (st.isSymbolicLink()) return this.write({ ...base, type: 'symlink', linkname: readlinkSync(abs) }, xattrs);
    if (st.isFile()) {
      if (st.nlink > 1n) {
        const key = `${st.dev}:${st.ino}`;
        const first = this.links.get(key);
        if (first !== undefined) return this.write({ ...base, type: 'link', linkname: first, size: 0 }, new Map());
        this.links.set(key, rel);
      }
      const size = Number(st.size);
      return this.write({ ...base, type: 'file', size }, xattrs, { abs, size });
    }
    if (st.isCharacterDevice() || st.isBlockDevice()) {
      const { major, minor } = devNumbers(st.rdev);
      const type = st.isCharacterDevice() ? 'character-device' : 'block-device';
      return this.write({ ...base, type, devmajor: major, devminor: minor }, xattrs);
    }
    if (st.isFIFO()) return this.write({ ...base, type: 'fifo' }, xattrs);
    // sockets: not content
  }

  whiteout(relDir: string, name: string, uid: number, gid: number, mtime: Date): Promise<void> {
    return this.write(
      { name: join(relDir, whiteoutNameFor(name)), type: 'file', size: 0, mode: 0o600, uid, gid, mtime },
      new Map(),
    );
  }

  opaque(relDir: string, uid: number, gid: number, mtime: Date): Promise<void> {
    return this.write({ name: join(relDir, WH_OPAQUE), type: 'file', size: 0, mode: 0o600, uid, gid, mtime }, new Map());
  }
}

function secondsDate(st: BigIntStats): Date {
  return new Date(Number(st.mtimeMs / 1000n) * 1000);
}

function sortedNames(dir: string): string[] {
  return readdirSync(dir).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}

/** Runs `produce` against a fresh writer and returns the tar as a byte stream. */
function run(produce: (w: LayerTarWriter) => Promise<void>): Readable {
  const w = new LayerTarWriter();
  produce(w)
    .then(
      () => w.pack.finalize(),
      (e: unknown) => w.pack.destroy(e instanceof Error ? e : new Error(String(e))),
    )
    .finally(() => void w.fsops.close());
  return Readable.from(w.pack as AsyncIterable<Buffer>, { objectMode: false });
}

async function walkUpper(w: LayerTarWriter, upper: string, rel: string): Promise<void> {
  const dir = rel ? `${upper}/${rel}` : upper;
  const names = sortedNames(dir);
  const xattrs = await w.fsops.listXattrs(names.map((n) => `${dir}/${n}`));
  for (let i = 0; i < names.length; i++) {
    const name = names[i]!;
    const abs = `${dir}/${name}`;
    const crel = join(rel, name);
    const st = lstatSync(abs, { bigint: true });
    if (isOverlayWhiteout(st)) {
      await w.whiteout(rel, name, Number(st.uid), Number(st.gid), secondsDate(st));
      continue;
    }
    const x = xattrs[i] ?? new Map<string, Buffer>();
    await w.add(crel, abs, st, x);
    if (st.isDirectory()) {
      if (x.get(OVERLAY_OPAQUE_XATTR)?.toString() === OVERLAY_OPAQUE_VALUE) {
        await w.opaque(crel, Number(st.uid), Number(st.gid), secondsDate(st));
      }
      await walkUpper(w, upper, crel);
    }
  }
}

/** The layer tar of an overlay upper directory. */
export function overlayDiffTar(upper: string): Readable {
  return run((w) => walkUpper(w, upper, ''));
}

function nonDirChanged(n: BigIntStats, o: BigIntStats, nabs: string, oabs: string): boolean {
  if ((n.mode & S_IFMT) !== (o.mode & S_IFMT)) return true;
  if (n.mode !== o.mode || n.uid !== o.uid || n.gid !== o.gid || n.size !== o.size) return true;
  if (n.mtimeNs !== o.mtimeNs || n.rdev !== o.rdev) return true;
  if (n.isSymbolicLink() && readlinkSync(nabs) !== readlinkSync(oabs)) return true;
  return false;
}

class Comparer {
  private readonly pending: PendingDir[] = [];
  constructor(
    readonly w: LayerTarWriter,
    readonly layer: string,
    readonly parent: string | null,
  ) {}

  private async flush(): Promise<void> {
    for (const d of this.pending.splice(0)) await this.w.add(d.rel, d.abs, d.st, d.xattrs);
  }

  /** Everything at and below `rel` is new. */
  private async addTree(rel: string, abs: string, st: BigIntStats, x: Xattrs): Promise<void> {
    await this.w.add(rel, abs, st, x);
    if (!st.isDirectory()) return;
    const names = sortedNames(abs);
    const xs = await this.w.fsops.listXattrs(names.map((n) => `${abs}/${n}`));
    for (let i = 0; i < names.length; i++) {
      const cabs = `${abs}/${names[i]}`;
      await this.addTree(join(rel, names[i]!), cabs, lstatSync(cabs, { bigint: true }), xs[i] ?? new Map());
    }
  }

  async dir(rel: string): Promise<void> {
    const nd = rel ? `${this.layer}/${rel}` : this.layer;
    const od = this.parent === null ? null : rel ? `${this.parent}/${rel}` : this.parent;
    const newNames = sortedNames(nd);
    const oldNames = od === null ? [] : sortedNames(od);
    const newSet = new Set(newNames);
    const oldSet = new Set(oldNames);
    const all = [...new Set([...newNames, ...oldNames])].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    const xs = await this.w.fsops.listXattrs(newNames.map((n) => `${nd}/${n}`));
    const xOf = new Map(newNames.map((n, i) => [n, xs[i] ?? new Map<string, Buffer>()]));
    const dirSt = lstatSync(nd, { bigint: true });
    for (const name of all) {
      const crel = join(rel, name);
      const nabs = `${nd}/${name}`;
      if (!newSet.has(name)) {
        await this.flush();
        await this.w.whiteout(rel, name, 0, 0, secondsDate(dirSt));
        continue;
      }
      const n = lstatSync(nabs, { bigint: true });
      const x = xOf.get(name)!;
      if (!oldSet.has(name) || od === null) {
        await this.flush();
        await this.addTree(crel, nabs, n, x);
        continue;
      }
      const oabs = `${od}/${name}`;
      const o = lstatSync(oabs, { bigint: true });
      if (n.isDirectory() && o.isDirectory()) {
        if (n.mode !== o.mode || n.uid !== o.uid || n.gid !== o.gid) {
          await this.flush();
          await this.w.add(crel, nabs, n, x);
        } else {
          this.pending.push({ rel: crel, abs: nabs, st: n, xattrs: x });
        }
        await this.dir(crel);
        if (this.pending[this.pending.length - 1]?.rel === crel) this.pending.pop();
        continue;
      }
      if (n.isDirectory() || nonDirChanged(n, o, nabs, oabs)) {
        await this.flush();
        await this.addTree(crel, nabs, n, x);
      }
    }
  }
}

/** The layer tar of the full tree `layer` against the full tree `parent` (null: a base layer). */
export function compareDiffTar(layer: string, parent: string | null): Readable {
  return run((w) => new Comparer(w, layer, parent).dir(''));
}
