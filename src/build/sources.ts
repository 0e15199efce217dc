// What a COPY or ADD copies: its source words resolved against the context (or a stage's or an
// image's root filesystem for --from), globs expanded, .dockerignore applied, every path kept
// inside its root whatever symlinks it meets; and the streaming checksum of the context files
// (contents and metadata) that goes into the step's cache key.
import { createHash } from 'node:crypto';
import { createReadStream, lstatSync, readdirSync, readlinkSync, statSync, type BigIntStats } from 'node:fs';
import { posix } from 'node:path';
import { UsageError } from '../util/errors.js';
import type { IgnoreMatcher } from './ignore.js';
import { patternToRegExp } from './ignore.js';
import { components, relativeTo, resolveScoped } from './scoped.js';

/** One node to copy: a file, directory or symlink below a root. */
export interface SourceNode {
  /** The host path (already resolved inside the root). */
  abs: string;
  /** Path relative to the source item ("" for the item itself). */
  rel: string;
  st: BigIntStats;
  type: 'file' | 'directory' | 'symlink';
  linkname: string | undefined;
}

/** One matched source word: a file, symlink-resolved, or a directory whose contents are copied. */
export interface SourceItem {
  /** The root the source lives in (context directory or a rootfs view). */
  root: string;
  /** Path relative to the root, after resolving symlinks. */
  path: string;
  /** The name a file gets when copied into a directory (the last element of the word). */
  baseName: string;
  isDir: boolean;
}

export interface SourceRoot {
  dir: string;
  /** .dockerignore of the context; undefined for a rootfs view. */
  ignore: IgnoreMatcher | undefined;
  /** What to call the root in errors: "build context" or "stage build". */
  label: string;
}

const GLOB = /[*?[]/;

function ignored(root: SourceRoot, rel: string): boolean {
  return root.ignore !== undefined && rel !== '' && root.ignore.ignored(rel);
}

function typeOf(st: BigIntStats): SourceNode['type'] | undefined {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'directory';
  if (st.isSymbolicLink()) return 'symlink';
  return undefined; // devices, fifos and sockets are not copied
}

function notFound(root: SourceRoot, word: string): UsageError {
  return new UsageError(
    `failed to compute cache key: "${word}" not found in the ${root.label}${root.ignore ? ' (or excluded by .dockerignore)' : ''}`,
  );
}

/** Expands a glob word into paths relative to the root (sorted), with docker's filepath.Match. */
function expandGlob(root: SourceRoot, word: string): string[] {
  let paths: string[] = [''];
  for (const comp of components(word)) {
    const next: string[] = [];
    for (const p of paths) {
      if (comp === '..') {
        next.push(posix.dirname(p) === '.' ? '' : posix.dirname(p));
        continue;
      }
      if (!GLOB.test(comp)) {
        next.push(p ? `${p}/${comp}` : comp);
        continue;
      }
      const re = patternToRegExp(comp);
      const dir = resolveScoped(root.dir, p);
      let names: string[];
      try {
        names = readdirSync(dir).sort();
      } catch {
        continue;
      }
      for (const n of names) if (re.test(n)) next.push(p ? `${p}/${n}` : n);
    }
    paths = next;
  }
  return paths.filter((p) => !ignored(root, p));
}

/** Resolves the source words of one COPY/ADD (after substitution). */
export function resolveSources(root: SourceRoot, words: readonly string[]): SourceItem[] {
  const out: SourceItem[] = [];
  for (const word of words) {
    const lexical = posix.normalize('/' + word);
    const matches = GLOB.test(word) ? expandGlob(root, lexical) : [components(lexical).join('/')];
    if (matches.length === 0) throw notFound(root, word);
    for (const m of matches) {
      if (ignored(root, m)) throw notFound(root, word);
      const abs = resolveScoped(root.dir, m);
      let st;
      try {
        st = statSync(abs);
      } catch {
        throw notFound(root, word);
      }
      const path = relativeTo(root.dir, abs);
      if (ignored(root, path)) throw notFound(root, word);
      const base = components(m).pop() ?? '';
      out.push({ root: root.dir, path, baseName: base, isDir: st.isDirectory() });
    }
  }
  return out;
}

/** Every node of a source item, parents first, names byte-sorted, ignored ones left out. */
export function* walkSource(root: SourceRoot, item: SourceItem): Generator<SourceNode> {
  const top = item.path ? `${root.dir}/${item.path}` : root.dir;
  const st = lstatSync(top, { bigint: true });
  if (!item.isDir) {
    // a file (symlinks to files were followed when the source was resolved)
    yield { abs: top, rel: '', st, type: 'file', linkname: undefined };
    return;
  }
  yield* walkDir(root, top, item.path, '', st);
}

function* walkDir(root: SourceRoot, abs: string, ctxRel: string, rel: string, st: BigIntStats): Generator<SourceNode> {
  yield { abs, rel, st, type: 'directory', linkname: undefined };
  const names = readdirSync(abs).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  for (const n of names) {
    const cabs = `${abs}/${n}`;
    const cctx = ctxRel ? `${ctxRel}/${n}` : n;
    const crel = rel ? `${rel}/${n}` : n;
    const cst = lstatSync(cabs, { bigint: true });
    const t = typeOf(cst);
    if (t === undefined) continue;
    if (ignored(root, cctx)) {
      // an excluded directory may still hold files a `!` pattern brings back
      if (t === 'directory' && root.ignore?.hasExclusions) yield* onlyIncluded(root, cabs, cctx, crel, cst);
      continue;
    }
    if (t === 'directory') yield* walkDir(root, cabs, cctx, crel, cst);
    else yield { abs: cabs, rel: crel, st: cst, type: t, linkname: t === 'symlink' ? readlinkSync(cabs) : undefined };
  }
}

function* onlyIncluded(root: SourceRoot, abs: string, ctxRel: string, rel: string, st: BigIntStats): Generator<SourceNode> {
  const inner = [...walkDir({ ...root, ignore: undefined }, abs, ctxRel, rel, st)].filter(
    (n) => n.rel === rel || !root.ignore!.ignored(`${ctxRel}${n.rel.slice(rel.length)}`),
  );
  // keep the directories leading to an included file
  const keep = inner.filter((n) => n.type !== 'directory');
  if (keep.length === 0) return;
  const dirs = new Set<string>();
  for (const k of keep) {
    let p = posix.dirname(k.rel);
    while (p !== '.' && p.length >= rel.length) {
      dirs.add(p);
      p = posix.dirname(p);
    }
  }
  for (const n of inner) if (n.type !== 'directory' || dirs.has(n.rel)) yield n;
}

/** sha256 of a file's content, streamed. */
export function fileDigest(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(path)
      .on('data', (d) => h.update(d))
      .on('error', reject)
      .on('end', () => resolve(`sha256:${h.digest('hex')}`));
  });
}

/** Remembered content digests, keyed by path and checked against dev, inode, size and times. */
export interface HashMemo {
  get(path: string, st: BigIntStats): string | undefined;
  put(path: string, st: BigIntStats, digest: string): void;
}

/**
 * The checksum of what the items copy: names, types, permission bits, symlink targets and file
 * contents (owners and times are not part of it, as docker's). Contents are streamed, and read
 * only when the memo has no digest for the file's current inode, size and times.
 */
export async function checksumSources(root: SourceRoot, items: readonly SourceItem[], memo: HashMemo): Promise<string> {
  const h = createHash('sha256');
  for (const item of items) {
    h.update(`item\0${item.path}\0${item.baseName}\0${item.isDir ? 'd' : 'f'}\n`);
    for (const n of walkSource(root, item)) {
      let content = '';
      if (n.type === 'file') {
        content = memo.get(n.abs, n.st) ?? (await fileDigest(n.abs));
        memo.put(n.abs, n.st, content);
      }
      h.update(`${n.rel}\0${n.type}\0${(Number(n.st.mode) & 0o7777).toString(8)}\0${n.linkname ?? ''}\0${content}\n`);
    }
  }
  return `sha256:${h.digest('hex')}`;
}
