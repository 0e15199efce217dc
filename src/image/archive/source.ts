// Where an archive's files come from: a tar file (through its index, each member read by
// offset) or an OCI layout directory. Members are named relative to the archive's root;
// a name that leaves it, a member that is not a regular file (a symlink to something outside,
// a device), or one larger than expected is refused with a sentence that names it.
import { createReadStream, lstatSync, readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join, posix } from 'node:path';
import type { Readable } from 'node:stream';
import { UsageError } from '../../util/errors.js';
import { cleanMemberName, indexTar, type TarEntry } from './tarindex.js';
import { MAX_JSON_BYTES } from './types.js';

export interface ArchiveSource {
  /** "the archive x.tar", "the directory d" */
  readonly what: string;
  has(name: string): boolean;
  /** Size of a member, following in-archive symlinks. */
  size(name: string): number;
  /** A stream of a member's bytes. */
  open(name: string): Readable;
  /** A small member read into memory (JSON documents). */
  readText(name: string): Promise<string>;
  names(): string[];
}

function safeName(name: string, what: string): string {
  const clean = cleanMemberName(name);
  if (clean === null || clean === '') throw new UsageError(`${what} names a path outside the archive: "${name}"`);
  return clean;
}

export class TarSource implements ArchiveSource {
  private constructor(
    readonly what: string,
    private readonly file: string,
    private readonly entries: Map<string, TarEntry>,
  ) {}

  static async open(file: string, what: string): Promise<TarSource> {
    return new TarSource(what, file, await indexTar(file, what));
  }

  private entry(name: string): TarEntry {
    let clean = safeName(name, this.what);
    for (let hops = 0; hops < 4; hops++) {
      const e = this.entries.get(clean);
      if (!e) throw new UsageError(`${this.what} has no file "${name}"`);
      if (e.type === '0' || e.type === '7') return e;
      if (e.type === '2' || e.type === '1') {
        // docker save links identical layer.tar files to each other; the target must be another
        // member of the archive (relative to the link for symlinks, to the root for hard links)
        const target = e.type === '2' ? posix.join(posix.dirname(clean), e.linkname) : e.linkname;
        const t = cleanMemberName(target);
        if (t === null || e.linkname.startsWith('/')) {
          throw new UsageError(`${this.what}: "${name}" is a link that points outside the archive (${e.linkname})`);
        }
        clean = t;
        continue;
      }
      throw new UsageError(`${this.what}: "${name}" is not a regular file`);
    }
    throw new UsageError(`${this.what}: "${name}" is a chain of links`);
  }

  has(name: string): boolean {
    const clean = cleanMemberName(name);
    return clean !== null && this.entries.has(clean);
  }

  size(name: string): number {
    return this.entry(name).size;
  }

  open(name: string): Readable {
    const e = this.entry(name);
    if (e.size === 0) return createReadStream(this.file, { start: 1, end: 0 });
    return createReadStream(this.file, { start: e.offset, end: e.offset + e.size - 1, highWaterMark: 256 * 1024 });
  }

  async readText(name: string): Promise<string> {
    const e = this.entry(name);
    if (e.size > MAX_JSON_BYTES) throw new UsageError(`${this.what}: "${name}" is too large for a JSON document`);
    const fh = await open(this.file, 'r');
    try {
      const buf = Buffer.alloc(e.size);
      await fh.read(buf, 0, e.size, e.offset);
      return buf.toString('utf8');
    } finally {
      await fh.close();
    }
  }

  names(): string[] {
    return [...this.entries.keys()];
  }
}

export class DirSource implements ArchiveSource {
  readonly what: string;
  constructor(private readonly dir: string) {
    this.what = `the directory ${dir}`;
  }

  private path(name: string): string {
    const clean = safeName(name, this.what);
    // every component must be a real directory, the member a regular file: no symlinks at all
    let p = this.dir;
    const parts = clean.split('/');
    for (const [i, part] of parts.entries()) {
      p = join(p, part);
      let st;
      try {
        st = lstatSync(p);
      } catch {
        throw new UsageError(`${this.what} has no file "${name}"`);
      }
      if (st.isSymbolicLink()) throw new UsageError(`${this.what}: "${clean}" is a symbolic link, refusing to follow it`);
      if (i < parts.length - 1 ? !st.isDirectory() : !st.isFile()) {
        throw new UsageError(`${this.what}: "${clean}" is not a regular file`);
      }
    }
    return p;
  }

  has(name: string): boolean {
    try {
      this.path(name);
      return true;
    } catch {
      return false;
    }
  }

  size(name: string): number {
    return lstatSync(this.path(name)).size;
  }

  open(name: string): Readable {
    return createReadStream(this.path(name), { highWaterMark: 256 * 1024 });
  }

  async readText(name: string): Promise<string> {
    const p = this.path(name);
    if (lstatSync(p).size > MAX_JSON_BYTES) throw new UsageError(`${this.what}: "${name}" is too large for a JSON document`);
    return readFileSync(p, 'utf8');
  }

  names(): string[] {
    return [];
  }
}

/** The member holding blob `digest` in an OCI layout. */
export function blobPath(digest: string): string {
  const [alg, hex] = digest.split(':') as [string, string];
  return `blobs/${alg}/${hex}`;
}
