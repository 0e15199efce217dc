// The layer chain: one row per image layer, keyed by docker's chainID.
import type { DB } from './db.js';

export interface LayerRow {
  chain_id: string;
  diff_id: string;
  parent: string | null;
  cache_id: string;
  driver: string;
  size: number;
  created_at: string;
}

export function getLayer(db: DB, chainId: string): LayerRow | undefined {
  return db.prepare('SELECT * FROM layers WHERE chain_id = ?').get(chainId) as LayerRow | undefined;
}

export function insertLayer(db: DB, row: LayerRow): void {
  db.prepare(
    `INSERT INTO layers (chain_id, diff_id, parent, cache_id, driver, size, created_at)
     VALUES (@chain_id, @diff_id, @parent, @cache_id, @driver, @size, @created_at)`,
  ).run(row);
}

/** The chain from the top layer down to the base, top first. */
export function layerChain(db: DB, topChainId: string): LayerRow[] {
  return db
    .prepare(
      `WITH RECURSIVE chain(chain_id, depth) AS (
         SELECT ?, 0
         UNION ALL
         SELECT l.parent, c.depth + 1 FROM layers l JOIN chain c ON l.chain_id = c.chain_id
         WHERE l.parent IS NOT NULL)
       SELECT l.* FROM chain c JOIN layers l ON l.chain_id = c.chain_id ORDER BY c.depth`,
    )
    .all(topChainId) as LayerRow[];
}

export function deleteLayer(db: DB, chainId: string): void {
  db.prepare('DELETE FROM layers WHERE chain_id = ?').run(chainId);
}

export function allLayers(db: DB): LayerRow[] {
  return db.prepare('SELECT * FROM layers').all() as LayerRow[];
}

/** The storage drivers that layers and containers in this state root were made with. */
export function driversInUse(db: DB): string[] {
  return (
    db.prepare('SELECT driver FROM layers UNION SELECT driver FROM containers ORDER BY driver').all() as { driver: string }[]
  ).map((r) => r.driver);
}

/** True when an image uses the layer as its top layer or another layer has it as parent. */
export function layerReferenced(db: DB, chainId: string): boolean {
  return (
    (
      db
        .prepare(
          `SELECT EXISTS (SELECT 1 FROM images WHERE top_layer = @id)
             OR EXISTS (SELECT 1 FROM layers WHERE parent = @id) AS used`,
        )
        .get({ id: chainId }) as { used: number }
    ).used === 1
  );
}

/** Every driver directory a row names: image layers and containers' -init and rw layers. */
export function usedCacheIds(db: DB): Set<string> {
  const ids = new Set<string>();
  for (const r of db.prepare('SELECT cache_id FROM layers').all() as { cache_id: string }[]) ids.add(r.cache_id);
  for (const r of db.prepare('SELECT init_layer, rw_layer FROM containers').all() as { init_layer: string; rw_layer: string }[]) {
    ids.add(r.init_layer);
    ids.add(r.rw_layer);
  }
  return ids;
}
