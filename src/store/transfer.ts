// RepoDigests and the registry blobs known to hold each layer (tables of migration 004).
import type { DB } from './db.js';

export interface LayerBlobRow {
  diff_id: string;
  digest: string;
  media_type: string;
  size: number;
  /** The diffID of the tar inside the blob (what a config lists for it). */
  tar_diff_id: string;
  repository: string;
}

/** Records `name` (repository@digest) for an image, moving it if it named another image. */
export function setRepoDigest(db: DB, name: string, imageId: string): void {
  db.prepare(
    `INSERT INTO repo_digests (name, image_id, created_at) VALUES (?, ?, ?)
     ON CONFLICT(name) DO UPDATE SET image_id = excluded.image_id`,
  ).run(name, imageId, new Date().toISOString());
}

export function repoDigestsOf(db: DB, imageId: string): string[] {
  return (db.prepare('SELECT name FROM repo_digests WHERE image_id = ? ORDER BY name').all(imageId) as { name: string }[]).map(
    (r) => r.name,
  );
}

export function imageIdForRepoDigest(db: DB, name: string): string | undefined {
  return (db.prepare('SELECT image_id FROM repo_digests WHERE name = ?').get(name) as { image_id: string } | undefined)?.image_id;
}

export function allRepoDigests(db: DB): { name: string; image_id: string }[] {
  return db.prepare('SELECT name, image_id FROM repo_digests ORDER BY name').all() as { name: string; image_id: string }[];
}

export function recordLayerBlob(db: DB, row: LayerBlobRow): void {
  db.prepare(
    `INSERT INTO layer_blobs (diff_id, digest, media_type, size, tar_diff_id, repository)
     VALUES (@diff_id, @digest, @media_type, @size, @tar_diff_id, @repository) ON CONFLICT DO NOTHING`,
  ).run(row);
}

/** Blobs known to hold the layer `diffId`, those of `repository` first. */
export function layerBlobsOf(db: DB, diffId: string, repository: string): LayerBlobRow[] {
  return db
    .prepare('SELECT * FROM layer_blobs WHERE diff_id = ? ORDER BY (repository = ?) DESC, repository')
    .all(diffId, repository) as LayerBlobRow[];
}

/** Layers no image uses and no layer builds on, committed before `before` (ISO time): what an
 *  interrupted pull or load left for a later one to reuse, and image prune removes in the end. */
export function danglingLayerIds(db: DB, before: string): string[] {
  return (
    db
      .prepare(
        `SELECT chain_id FROM layers l
         WHERE created_at < ?
           AND NOT EXISTS (SELECT 1 FROM images WHERE top_layer = l.chain_id)
           AND NOT EXISTS (SELECT 1 FROM layers c WHERE c.parent = l.chain_id)`,
      )
      .all(before) as { chain_id: string }[]
  ).map((r) => r.chain_id);
}

export function setTarSplit(db: DB, chainId: string, data: Buffer): void {
  db.prepare('INSERT INTO layer_tarsplit (chain_id, data) VALUES (?, ?) ON CONFLICT(chain_id) DO NOTHING').run(chainId, data);
}

export function getTarSplit(db: DB, chainId: string): Buffer | undefined {
  return (db.prepare('SELECT data FROM layer_tarsplit WHERE chain_id = ?').get(chainId) as { data: Buffer } | undefined)?.data;
}
