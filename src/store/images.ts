// Images and tags.
import type { DB } from './db.js';

export interface ImageRow {
  id: string;
  config: string;
  top_layer: string | null;
  size: number;
  created_at: string;
}

export interface ImageWithTags extends ImageRow {
  tags: string[];
}

export function getImage(db: DB, id: string): ImageRow | undefined {
  return db.prepare('SELECT * FROM images WHERE id = ?').get(id) as ImageRow | undefined;
}

/** Image ids starting with a hex prefix (no "sha256:"). */
export function imagesByIdPrefix(db: DB, hexPrefix: string): ImageRow[] {
  return db
    .prepare(`SELECT * FROM images WHERE id >= ? AND id < ? LIMIT 2`)
    .all(`sha256:${hexPrefix}`, `sha256:${hexPrefix}\uffff`) as ImageRow[];
}

export function insertImage(db: DB, row: ImageRow): void {
  db.prepare(
    `INSERT INTO images (id, config, top_layer, size, created_at)
     VALUES (@id, @config, @top_layer, @size, @created_at) ON CONFLICT(id) DO NOTHING`,
  ).run(row);
}

export function deleteImage(db: DB, id: string): void {
  db.prepare('DELETE FROM images WHERE id = ?').run(id);
}

export function imageIdForTag(db: DB, name: string): string | undefined {
  const r = db.prepare('SELECT image_id FROM tags WHERE name = ?').get(name) as { image_id: string } | undefined;
  return r?.image_id;
}

/** Points `name` at `imageId`, moving the tag if it pointed elsewhere. */
export function setTag(db: DB, name: string, imageId: string): void {
  db.prepare('INSERT INTO tags (name, image_id) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET image_id = excluded.image_id').run(
    name,
    imageId,
  );
}

export function deleteTag(db: DB, name: string): boolean {
  return db.prepare('DELETE FROM tags WHERE name = ?').run(name).changes > 0;
}

export function tagsOf(db: DB, imageId: string): string[] {
  return (db.prepare('SELECT name FROM tags WHERE image_id = ? ORDER BY name').all(imageId) as { name: string }[]).map(
    (r) => r.name,
  );
}

export function listImages(db: DB): ImageWithTags[] {
  const images = db.prepare('SELECT * FROM images ORDER BY created_at DESC').all() as ImageRow[];
  const tags = db.prepare('SELECT name, image_id FROM tags ORDER BY name').all() as { name: string; image_id: string }[];
  const byImage = new Map<string, string[]>();
  for (const t of tags) {
    const list = byImage.get(t.image_id) ?? [];
    list.push(t.name);
    byImage.set(t.image_id, list);
  }
  return images.map((i) => ({ ...i, tags: byImage.get(i.id) ?? [] }));
}

/** Containers (id and state) created from an image, newest first. */
export function containersOfImage(db: DB, imageId: string): { id: string; state: string }[] {
  return db.prepare('SELECT id, state FROM containers WHERE image_id = ? ORDER BY created_at DESC').all(imageId) as {
    id: string;
    state: string;
  }[];
}

export function countImages(db: DB): number {
  return (db.prepare('SELECT count(*) AS n FROM images').get() as { n: number }).n;
}
