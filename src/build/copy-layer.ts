// The layer tar of one COPY or ADD: the destination's parent directories (with the metadata
// they already have in the image, so /tmp stays 1777), then every copied node under its new
// name, owned by root (or --chown; --from keeps the source's owners), --chmod applied. ADD
// extracts local tar archives (plain, gzip, bzip2, xz) into the destination.
import { spawn } from 'node:child_process';
import { closeSync, createReadStream, openSync, readSync, statSync } from 'node:fs';
import { posix } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import tarStream from 'tar-stream';
import { UsageError } from '../util/errors.js';
import { components, relativeTo, resolveScoped } from './scoped.js';
import { entry, streamEntry } from './tar-write.js';
import { walkSource, type SourceItem, type SourceRoot } from './sources.js';

export interface VirtualFile {
  /** The name used when the destination is a directory (the heredoc's name). */
  baseName: string;
  content: Buffer;
}

export interface CopyLayerRequest {
  /** The parent image's root filesystem (read-only view). */
  view: string;
  /** The absolute destination in the image, as written (a trailing `/` means a directory). */
  dest: string;
  /** extract: false keeps an archive as it is (ADD of a URL). */
  sources: { root: SourceRoot; item: SourceItem; extract?: boolean }[];
  files: VirtualFile[];
  owner: { uid: number; gid: number } | undefined;
  /** Keep the source's owners (COPY --from) instead of root. */
  preserveOwner: boolean;
  chmod: number | undefined;
  /** ADD: extract local archives. */
  extract: boolean;
  /** Time for directories that the copy creates. */
  now: Date;
}

type Compression = 'gzip' | 'bzip2' | 'xz' | 'none';

/** The archive kind of a local file for ADD, or undefined when it is not an archive. */
export function archiveKind(path: string): Compression | undefined {
  const fd = openSync(path, 'r');
  const head = Buffer.alloc(512);
  let n = 0;
  try {
    n = readSync(fd, head, 0, 512, 0);
  } finally {
    closeSync(fd);
  }
  if (n >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (n >= 3 && head.subarray(0, 3).toString('latin1') === 'BZh') return 'bzip2';
  if (n >= 6 && head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  if (n >= 262 && head.subarray(257, 262).toString('latin1') === 'ustar') return 'none';
  return undefined;
}

function decompressed(path: string, kind: Compression): Readable {
  const file = createReadStream(path);
  if (kind === 'none') return file;
  if (kind === 'gzip') return file.pipe(createGunzip());
  const child = spawn(kind, ['-dc'], { stdio: ['pipe', 'pipe', 'ignore'] });
  file.pipe(child.stdin);
  const out = new PassThrough();
  child.stdout.pipe(out);
  child.on('error', (err) => out.destroy(new UsageError(`cannot extract ${posix.basename(path)}: ${kind}: ${err.message}`)));
  child.on('close', (code) => {
    if (code !== 0) out.destroy(new UsageError(`cannot extract ${posix.basename(path)}: ${kind} exited with ${code}`));
  });
  return out;
}

function secondsDate(ns: bigint): Date {
  return new Date(Number(ns / 1_000_000_000n) * 1000);
}

/** Is `rel` (relative to the view) an existing directory, following symlinks inside it? */
function isDirIn(view: string, rel: string): boolean {
  try {
    return statSync(resolveScoped(view, rel)).isDirectory();
  } catch {
    return false;
  }
}

/** Builds the layer tar; errors reach the returned stream. */
export function copyLayerTar(req: CopyLayerRequest): Readable {
  const pack = tarStream.pack();
  write(pack, req).then(
    () => pack.finalize(),
    (err: unknown) => pack.destroy(err instanceof Error ? err : new Error(String(err))),
  );
  return Readable.from(pack as AsyncIterable<Buffer>, { objectMode: false });
}

async function write(pack: tarStream.Pack, req: CopyLayerRequest): Promise<void> {
  const { view } = req;
  const count = req.sources.length + req.files.length;
  const anyDir = req.sources.some((s) => s.item.isDir);
  const destDirSyntax = req.dest.endsWith('/') || req.dest.endsWith('/.');
  const destComps = components(req.dest);
  if (count > 1 && !destDirSyntax) {
    throw new UsageError('when using COPY with more than one source file, the destination must be a directory and end with a /');
  }
  const archives = req.extract
    ? req.sources.map((s) => (s.item.isDir || s.extract === false ? undefined : archiveKind(`${s.root.dir}/${s.item.path}`)))
    : req.sources.map(() => undefined);
  const intoDir = destDirSyntax || anyDir || archives.some((a) => a !== undefined) || isDirIn(view, destComps.join('/'));

  // Where the destination really is in the image: its parent path resolved inside the view.
  const parentRel = relativeTo(view, resolveScoped(view, destComps.slice(0, -1).join('/')));
  const last = destComps[destComps.length - 1];
  let destDir: string; // the directory receiving the copies (relative, "" = root)
  let destFile: string | undefined; // the single file's name when the destination is a file
  if (intoDir) {
    destDir = last === undefined ? '' : relativeTo(view, resolveScoped(view, destComps.join('/')));
  } else {
    destDir = parentRel;
    destFile = destDir ? `${destDir}/${last}` : last;
  }

  const emitted = new Set<string>();
  const addDir = async (name: string, mode: number, uid: number, gid: number, mtime: Date) => {
    if (name === '' || emitted.has(name)) return;
    emitted.add(name);
    await entry(pack, { name: name + '/', type: 'directory', mode, uid, gid, mtime });
  };
  // the destination directory and its parents: existing ones as they are, new ones 0755 root
  const chain = components(destDir);
  for (let i = 1; i <= chain.length; i++) {
    const rel = chain.slice(0, i).join('/');
    try {
      const st = statSync(`${view}/${rel}`, { bigint: true });
      if (!st.isDirectory()) throw new UsageError(`cannot copy to /${rel}: it exists and is not a directory`);
      await addDir(rel, Number(st.mode) & 0o7777, Number(st.uid), Number(st.gid), secondsDate(st.mtimeNs));
    } catch (err) {
      if (err instanceof UsageError) throw err;
      await addDir(rel, 0o755, req.owner?.uid ?? 0, req.owner?.gid ?? 0, req.now);
    }
  }

  const ownerOf = (uid: bigint, gid: bigint) =>
    req.owner ?? (req.preserveOwner ? { uid: Number(uid), gid: Number(gid) } : { uid: 0, gid: 0 });
  const join = (a: string, b: string) => (a && b ? `${a}/${b}` : a || b);

  for (const [i, { root, item }] of req.sources.entries()) {
    const archive = archives[i];
    if (archive !== undefined) {
      await extractInto(pack, decompressed(`${root.dir}/${item.path}`, archive), destDir, req, emitted);
      continue;
    }
    for (const n of walkSource(root, item)) {
      const name = item.isDir ? join(destDir, n.rel) : (destFile ?? join(destDir, item.baseName));
      const { uid, gid } = ownerOf(n.st.uid, n.st.gid);
      const mode = req.chmod ?? Number(n.st.mode) & 0o7777;
      const mtime = secondsDate(n.st.mtimeNs);
      if (n.type === 'directory') {
        if (name === destDir && emitted.has(name)) continue; // keep the existing destination's metadata
        await addDir(name, mode, uid, gid, mtime);
      } else if (n.type === 'symlink') {
        await entry(pack, { name, type: 'symlink', linkname: n.linkname!, mode: 0o777, uid, gid, mtime });
      } else {
        const header = { name, type: 'file' as const, size: Number(n.st.size), mode, uid, gid, mtime };
        await streamEntry(pack, header, createReadStream(n.abs));
      }
    }
  }
  for (const f of req.files) {
    const name = destFile ?? join(destDir, f.baseName);
    const { uid, gid } = req.owner ?? { uid: 0, gid: 0 };
    await entry(
      pack,
      { name, type: 'file', size: f.content.length, mode: req.chmod ?? 0o644, uid, gid, mtime: req.now },
      f.content,
    );
  }
}

/** Re-emits an archive's entries below `destDir` (names cleaned; `..` cannot climb out). */
async function extractInto(
  pack: tarStream.Pack,
  input: Readable,
  destDir: string,
  req: CopyLayerRequest,
  emitted: Set<string>,
): Promise<void> {
  const extract = tarStream.extract();
  const clean = (n: string): string | null => {
    const out: string[] = [];
    for (const c of n.split('/')) {
      if (c === '' || c === '.') continue;
      if (c === '..') {
        if (out.length === 0) return null;
        out.pop();
      } else out.push(c);
    }
    return out.join('/');
  };
  input.on('error', (err) => extract.destroy(err));
  input.pipe(extract);
  for await (const e of extract) {
    const h = e.header;
    const rel = clean(h.name);
    if (rel === null || (rel === '' && h.type !== 'directory') || posix.basename(rel).startsWith('.wh.')) {
      e.resume();
      continue;
    }
    const name = rel ? (destDir ? `${destDir}/${rel}` : rel) : destDir;
    const owner = req.owner ?? { uid: h.uid ?? 0, gid: h.gid ?? 0 };
    const base = { mode: req.chmod ?? (h.mode ?? 0o644) & 0o7777, uid: owner.uid, gid: owner.gid, mtime: h.mtime ?? req.now };
    switch (h.type) {
      case 'directory':
        e.resume();
        if (name === '' || emitted.has(name)) break;
        emitted.add(name);
        await entry(pack, { ...base, name: name + '/', type: 'directory' });
        break;
      case 'file':
      case 'contiguous-file':
        await streamEntry(pack, { ...base, name, type: 'file', size: h.size ?? 0 }, e as AsyncIterable<Buffer>);
        break;
      case 'symlink':
        e.resume();
        await entry(pack, { ...base, name, type: 'symlink', linkname: h.linkname ?? '' });
        break;
      case 'link': {
        e.resume();
        const target = clean(h.linkname ?? '');
        if (target === null) break;
        await entry(pack, { ...base, name, type: 'link', linkname: destDir ? `${destDir}/${target}` : target });
        break;
      }
      default:
        e.resume(); // devices and fifos are not recreated by ADD here
    }
  }
}
