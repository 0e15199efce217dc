// The build cache rows and the context file checksums (migration 003).
import type { DB } from './db.js';

export interface BuildCacheRow {
  key: string;
  config: string;
  top_layer: string | null;
  created_at: string;
  used_at: string;
}

export function getBuildCache(db: DB, key: string): BuildCacheRow | undefined {
  return db.prepare('SELECT * FROM build_cache WHERE key = ?').get(key) as BuildCacheRow | undefined;
}

/** Records (or replaces) the result of a step. */
export function putBuildCache(db: DB, row: Omit<BuildCacheRow, 'used_at'>): void {
  db.prepare(
    `INSERT INTO build_cache (key, config, top_layer, created_at, used_at)
     VALUES (@key, @config, @top_layer, @created_at, @created_at)
     ON CONFLICT(key) DO UPDATE SET config = excluded.config, top_layer = excluded.top_layer,
       created_at = excluded.created_at, used_at = excluded.used_at`,
  ).run(row);
}

export function touchBuildCache(db: DB, key: string, when: string): void {
  db.prepare('UPDATE build_cache SET used_at = ? WHERE key = ?').run(when, key);
}

export function countBuildCache(db: DB): number {
  return (db.prepare('SELECT count(*) AS n FROM build_cache').get() as { n: number }).n;
}

export interface ContextHashRow {
  path: string;
  dev: number;
  ino: number;
  size: number;
  mtime_ns: string;
  ctime_ns: string;
  digest: string;
}

export function getContextHash(db: DB, path: string): ContextHashRow | undefined {
  return db.prepare('SELECT * FROM context_hashes WHERE path = ?').get(path) as ContextHashRow | undefined;
}

export function putContextHashes(db: DB, rows: readonly ContextHashRow[]): void {
  const stmt = db.prepare(
    `INSERT INTO context_hashes (path, dev, ino, size, mtime_ns, ctime_ns, digest)
     VALUES (@path, @dev, @ino, @size, @mtime_ns, @ctime_ns, @digest)
     ON CONFLICT(path) DO UPDATE SET dev = excluded.dev, ino = excluded.ino, size = excluded.size,
       mtime_ns = excluded.mtime_ns, ctime_ns = excluded.ctime_ns, digest = excluded.digest`,
  );
  for (const r of rows) stmt.run(r);
}
