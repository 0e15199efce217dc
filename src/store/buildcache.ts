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

/** Deletes every build cache row; returns how many there were. */
export function clearBuildCache(db: DB): number {
  return db.prepare('DELETE FROM build_cache').run().changes;
}

/** Layers nothing points at: no image has them on top, no layer has them as parent, no cache
 *  row names them (after clearBuildCache: the build's leftovers). */
export function danglingLayerIds(db: DB): string[] {
  return (
    db
      .prepare(
        `SELECT chain_id FROM layers l
         WHERE NOT EXISTS (SELECT 1 FROM images i WHERE i.top_layer = l.chain_id)
           AND NOT EXISTS (SELECT 1 FROM layers c WHERE c.parent = l.chain_id)
           AND NOT EXISTS (SELECT 1 FROM build_cache b WHERE b.top_layer = l.chain_id)`,
      )
      .all() as { chain_id: string }[]
  ).map((r) => r.chain_id);
}
