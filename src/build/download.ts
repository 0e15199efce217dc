// ADD <url>: each URL is fetched (Node's fetch) into a private temporary directory, its sha256
// computed while it streams to disk; the file gets mode 0600 and the Last-Modified time, as
// docker gives it. The digest goes into the step's cache key, so a changed download rebuilds.
import { createHash } from 'node:crypto';
import { createWriteStream, mkdirSync, mkdtempSync, rmSync, utimesSync, chmodSync } from 'node:fs';
import { join, posix } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { UsageError } from '../util/errors.js';
import type { SourceItem, SourceRoot } from './sources.js';
import { checkAllowedHost } from '../util/allowed-hosts.js';

/** fetch with redirects followed by hand (at most 10), each target's host checked first. */
async function fetchFollowing(start: URL, signal: AbortSignal | undefined): Promise<Response> {
  let url = start;
  for (let hops = 0; ; hops++) {
    const res = await fetch(url, { signal, redirect: 'manual' });
    const loc = res.headers.get('location');
    if (res.status < 300 || res.status >= 400 || !loc) return res;
    await res.body?.cancel();
    if (hops >= 10) throw new Error('too many redirects');
    url = new URL(loc, url);
    checkAllowedHost(url);
  }
}

export interface Downloaded {
  url: string;
  digest: string;
  root: SourceRoot;
  item: SourceItem;
}

function nameOf(url: URL): string {
  const base = posix.basename(url.pathname);
  return base && base !== '/' ? decodeURIComponent(base) : 'index.html';
}

export async function downloadAll(
  urls: readonly string[],
  tmpParent: string,
  signal: AbortSignal,
): Promise<{ items: Downloaded[]; remove(): void }> {
  mkdirSync(tmpParent, { recursive: true, mode: 0o700 });
  const dirs: string[] = [];
  const remove = () => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  };
  const items: Downloaded[] = [];
  try {
    for (const u of urls) {
      let url: URL;
      try {
        url = new URL(u);
      } catch {
        throw new UsageError(`ADD: "${u}" is not a valid URL`);
      }
      const dir = mkdtempSync(join(tmpParent, `add-${process.pid}-`));
      dirs.push(dir);
      const name = nameOf(url);
      let res: Response;
      try {
        checkAllowedHost(url);
        // redirects by hand, so that every hop's host is checked
        res = await fetchFollowing(url, signal);
      } catch (err) {
        throw new UsageError(`ADD ${u}: ${(err as Error).message}`);
      }
      if (!res.ok || !res.body) throw new UsageError(`ADD ${u}: the server answered ${res.status} ${res.statusText}`);
      const h = createHash('sha256');
      const hashing = new Transform({
        transform(chunk: Buffer, _e, cb) {
          h.update(chunk);
          cb(null, chunk);
        },
      });
      const file = join(dir, name);
      await pipeline(
        Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>),
        hashing,
        createWriteStream(file, { mode: 0o600 }),
      );
      chmodSync(file, 0o600);
      const lm = res.headers.get('last-modified');
      const when = lm && !Number.isNaN(Date.parse(lm)) ? new Date(lm) : new Date(0);
      utimesSync(file, when, when);
      items.push({
        url: u,
        digest: `sha256:${h.digest('hex')}`,
        root: { dir, ignore: undefined, label: 'download' },
        item: { root: dir, path: name, baseName: name, isDir: false },
      });
    }
  } catch (err) {
    remove();
    throw err;
  }
  return { items, remove };
}
