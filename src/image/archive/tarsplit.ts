// Exact layer tars back from the store. While a layer is unpacked, a recorder keeps every byte
// of its tar except the contents of regular files (headers, PAX and long-name records,
// padding, the end-of-archive blocks), gzip-compressed; file contents are recorded as "this
// many bytes of file NAME". To export the layer, the recorded bytes are replayed and each file's
// contents read from the layer's own directory, which gives back the original tar, byte for
// byte, so the diffID (and the image id) survive save and push. A file that is not there, or
// is not a regular file of the recorded size, makes the replay fail, and the caller falls back
// to regenerating the tar. (containers/storage keeps the same kind of record, "tar-split".)
//
// Record format (then gzip): 'R' u32 n, n raw bytes | 'F' u32 n, n bytes of name, u64 size.
import { closeSync, constants as C, fstatSync, lstatSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { Readable, Transform, type TransformCallback } from 'node:stream';

// node:zlib on first use: `run` imports this module (through layers.ts) without packing anything
const gzipSync = (b: Buffer, opts: { level: number }): Buffer => process.getBuiltinModule('node:zlib').gzipSync(b, opts);
const gunzipSync = (b: Buffer): Buffer => process.getBuiltinModule('node:zlib').gunzipSync(b);

const BLOCK = 512;

function cstr(buf: Buffer, start: number, len: number): string {
  const end = buf.indexOf(0, start);
  return buf.toString('utf8', start, end === -1 || end > start + len ? start + len : end);
}

function sizeOf(h: Buffer): number {
  if ((h[124]! & 0x80) !== 0) {
    let v = 0;
    for (let i = 125; i < 136; i++) v = v * 256 + h[i]!;
    return v;
  }
  const s = cstr(h, 124, 12).trim();
  if (s === '') return 0;
  return /^[0-7]+$/.test(s) ? parseInt(s, 8) : NaN;
}

function paxRecords(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let rest = data;
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

/** The name an extractor gives an entry (see graph/tar-apply normalizeEntryName); null if unusable. */
function cleanName(name: string): string | null {
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
  return out.length === 0 ? null : out.join('/');
}

/** A pass-through that records the tar flowing through it. `result()` after the end. */
export class TarSplitRecorder extends Transform {
  private readonly records: Buffer[] = [];
  private raw: Buffer[] = [];
  private rawBytes = 0;
  private head = Buffer.alloc(0);
  /** Bytes of the current entry's data still to come, and what to do with them. */
  private remaining = 0;
  private mode: 'header' | 'file' | 'meta' | 'skip' | 'trailer' = 'header';
  private meta: Buffer[] = [];
  private metaType = '';
  private padding = 0;
  private nextName: string | undefined;
  private pax: Record<string, string> = {};
  private broken = false;

  private flushRaw(): void {
    if (this.rawBytes === 0) return;
    const h = Buffer.alloc(5);
    h[0] = 0x52; // 'R'
    h.writeUInt32BE(this.rawBytes, 1);
    this.records.push(h, ...this.raw);
    this.raw = [];
    this.rawBytes = 0;
  }

  private addRaw(b: Buffer): void {
    if (b.length === 0) return;
    this.raw.push(Buffer.from(b));
    this.rawBytes += b.length;
    if (this.rawBytes > 1 << 20) this.flushRaw();
  }

  private addFile(name: string, size: number): void {
    this.flushRaw();
    const n = Buffer.from(name, 'utf8');
    const h = Buffer.alloc(5 + n.length + 8);
    h[0] = 0x46; // 'F'
    h.writeUInt32BE(n.length, 1);
    n.copy(h, 5);
    h.writeBigUInt64BE(BigInt(size), 5 + n.length);
    this.records.push(h);
  }

  private header(h: Buffer): void {
    if (h.every((b) => b === 0)) {
      this.addRaw(h);
      this.mode = 'trailer';
      return;
    }
    const type = String.fromCharCode(h[156]! || 0x30);
    let size = sizeOf(h);
    if (this.pax['size'] !== undefined && /^\d+$/.test(this.pax['size'])) size = Number(this.pax['size']);
    if (!Number.isSafeInteger(size) || size < 0) {
      // not a tar we can record (the extractor will say what is wrong with it)
      this.broken = true;
      return;
    }
    this.addRaw(h);
    this.padding = (BLOCK - (size % BLOCK)) % BLOCK;
    this.remaining = size;
    if (type === 'x' || type === 'L' || type === 'K' || type === 'g') {
      this.mode = 'meta';
      this.metaType = type;
      this.meta = [];
      return;
    }
    let name = cstr(h, 0, 100);
    if (h.toString('latin1', 257, 262) === 'ustar') {
      const prefix = cstr(h, 345, 155);
      if (prefix !== '') name = `${prefix}/${name}`;
    }
    name = this.pax['path'] ?? this.nextName ?? name;
    this.pax = {};
    this.nextName = undefined;
    if ((type === '0' || type === '7') && size > 0) {
      const clean = cleanName(name);
      if (clean === null) this.broken = true;
      this.addFile(clean ?? '', size);
      this.mode = 'file';
    } else {
      this.mode = 'skip';
    }
    if (this.remaining === 0) this.endData();
  }

  private endData(): void {
    if (this.mode === 'meta') {
      const data = Buffer.concat(this.meta);
      if (this.metaType === 'x') this.pax = paxRecords(data);
      else if (this.metaType === 'L') this.nextName = cstr(data, 0, data.length);
    }
    this.mode = 'header';
    if (this.padding > 0) {
      this.remaining = this.padding;
      this.padding = 0;
      this.mode = 'skip';
    }
  }

  private consume(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length && !this.broken) {
      if (this.mode === 'trailer') {
        this.addRaw(chunk.subarray(off));
        return;
      }
      if (this.mode === 'header') {
        const need = BLOCK - this.head.length;
        const take = chunk.subarray(off, off + need);
        off += take.length;
        this.head = this.head.length === 0 ? Buffer.from(take) : Buffer.concat([this.head, take]);
        if (this.head.length === BLOCK) {
          const h = this.head;
          this.head = Buffer.alloc(0);
          this.header(h);
        }
        continue;
      }
      const take = chunk.subarray(off, off + this.remaining);
      off += take.length;
      this.remaining -= take.length;
      if (this.mode === 'meta') {
        this.meta.push(Buffer.from(take));
        this.addRaw(take);
      } else if (this.mode === 'skip') this.addRaw(take);
      // 'file': the contents come back from the layer directory
      if (this.remaining === 0) this.endData();
    }
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (!this.broken) this.consume(chunk);
    cb(null, chunk);
  }

  /** The compressed record, or undefined when the tar could not be recorded faithfully. */
  result(): Buffer | undefined {
    if (this.broken || this.mode === 'file' || this.head.length > 0) return undefined;
    this.flushRaw();
    return gzipSync(Buffer.concat(this.records), { level: 1 });
  }
}

interface Rec {
  raw?: Buffer;
  file?: { name: string; size: number };
}

function parseRecords(data: Buffer): Rec[] {
  const buf = gunzipSync(data);
  const out: Rec[] = [];
  let off = 0;
  while (off < buf.length) {
    const kind = buf[off]!;
    const n = buf.readUInt32BE(off + 1);
    off += 5;
    if (kind === 0x52) {
      out.push({ raw: buf.subarray(off, off + n) });
      off += n;
    } else if (kind === 0x46) {
      const name = buf.toString('utf8', off, off + n);
      off += n;
      out.push({ file: { name, size: Number(buf.readBigUInt64BE(off)) } });
      off += 8;
    } else throw new Error('corrupt tar-split record');
  }
  return out;
}

/** Checks that every recorded file is there as a regular file of its size (no symlinks). */
function checkFiles(dir: string, recs: Rec[]): void {
  for (const r of recs) {
    if (!r.file) continue;
    let st;
    try {
      st = lstatSync(join(dir, r.file.name));
    } catch {
      throw new Error(`${r.file.name} is missing`);
    }
    if (!st.isFile() || st.size !== r.file.size) throw new Error(`${r.file.name} changed`);
  }
}

/**
 * The original tar of a layer from its record and its directory. Throws before yielding
 * anything when a recorded file is missing or has another size; files are opened one at a
 * time, without following symlinks, as the stream reaches them.
 */
export function replayTar(record: Buffer, dir: string): Readable {
  const recs = parseRecords(record);
  checkFiles(dir, recs);
  async function* gen(): AsyncGenerator<Buffer> {
    for (const r of recs) {
      if (r.raw) {
        yield r.raw;
        continue;
      }
      const f = r.file!;
      const fd = openSync(join(dir, f.name), C.O_RDONLY | C.O_NOFOLLOW);
      try {
        if (!fstatSync(fd).isFile()) throw new Error(`${f.name} is not a regular file`);
        let left = f.size;
        let pos = 0;
        while (left > 0) {
          const chunk = Buffer.allocUnsafe(Math.min(256 * 1024, left));
          const n = readSync(fd, chunk, 0, chunk.length, pos);
          if (n <= 0) throw new Error(`${f.name} is shorter than recorded`);
          yield n === chunk.length ? chunk : chunk.subarray(0, n);
          left -= n;
          pos += n;
        }
      } finally {
        closeSync(fd);
      }
    }
  }
  return Readable.from(gen(), { objectMode: false });
}

/** The byte length of the tar a record replays to. */
export function recordedSize(record: Buffer): number {
  return parseRecords(record).reduce((n, r) => n + (r.raw ? r.raw.length : r.file!.size), 0);
}
