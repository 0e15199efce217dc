// Resolving a path inside a root directory the way the root's own processes would see it:
// symlinks are followed (absolute ones relative to the root), and `..` never climbs above the
// root. COPY sources are resolved in the context this way (so no symlink in the context can
// reach outside it), and COPY destinations, --from sources and `cp` paths in a rootfs.
import { lstatSync, readlinkSync } from 'node:fs';
import { UsageError } from '../util/errors.js';

const MAX_LINKS = 255;

/** Splits a path into its components, without "." and empty ones. */
export function components(p: string): string[] {
  return p.split('/').filter((c) => c !== '' && c !== '.');
}

/**
 * The host path of `path` inside `root`. With `followLast` false the last component is not
 * followed when it is a symlink (it names the link itself). Missing components are appended
 * as they are (the result may not exist).
 */
export function resolveScoped(root: string, path: string, followLast = true): string {
  const cur: string[] = [];
  let pending = components(path);
  let links = 0;
  while (pending.length > 0) {
    const c = pending.shift()!;
    if (c === '..') {
      cur.pop();
      continue;
    }
    const candidate = `${root}/${[...cur, c].join('/')}`;
    let isLink = false;
    try {
      isLink = lstatSync(candidate).isSymbolicLink();
    } catch {
      cur.push(c);
      continue;
    }
    if (!isLink || (pending.length === 0 && !followLast)) {
      cur.push(c);
      continue;
    }
    if (++links > MAX_LINKS) throw new UsageError(`too many levels of symbolic links resolving ${path}`);
    const target = readlinkSync(candidate);
    if (target.startsWith('/')) cur.length = 0;
    pending = [...components(target), ...pending];
  }
  return cur.length === 0 ? root : `${root}/${cur.join('/')}`;
}

/** The path relative to root of a result of resolveScoped ("" for the root itself). */
export function relativeTo(root: string, abs: string): string {
  return abs === root ? '' : abs.slice(root.length + 1);
}
