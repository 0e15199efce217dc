// Finding images by what the user typed, and committing new ones. Shared by every image command
// and by the runtime (resolveImage in resolve.ts).
import type { DB } from '../store/db.js';
import { getImage, imageIdForTag, imagesByIdPrefix, insertImage, setTag, tagsOf, type ImageRow } from '../store/images.js';
import { layerChain, type LayerRow } from '../store/layers.js';
import { imageIdForRepoDigest } from '../store/transfer.js';
import { NotFoundError, UsageError } from '../util/errors.js';
import { imageIdOf } from './config.js';
import {
  familiarString,
  formatReference,
  hexPrefix,
  idPrefixOf,
  parseReference,
  repositoryName,
  type Reference,
} from './reference.js';

export interface Lookup {
  image: ImageRow;
  /** The normalized tag the input named, when it named one (not an id). */
  tag: string | undefined;
}

export interface LookupMiss {
  /** What to call the missing image in messages: "foo:latest", "sha256:ab..." */
  display: string;
  /** The parsed reference, when the input was a name. */
  ref: Reference | undefined;
}

function byPrefix(db: DB, hex: string, input: string): ImageRow | undefined {
  const rows = imagesByIdPrefix(db, hex);
  if (rows.length > 1)
    throw new UsageError(`image id prefix "${input}" is ambiguous: it matches more than one image, give more characters`);
  return rows[0];
}

/**
 * Looks an image up by reference, full id or unique id prefix, without providing anything.
 * Names win over id prefixes (as docker: `cafe` is first a repository, then an id prefix).
 * Throws UsageError for a bad reference or an ambiguous prefix.
 */
export function lookupImage(db: DB, input: string): Lookup | LookupMiss {
  const idHex = idPrefixOf(input);
  if (idHex !== undefined) {
    const image = byPrefix(db, idHex, input);
    return image ? { image, tag: undefined } : { display: input, ref: undefined };
  }
  const ref = parseReference(input);
  const name = formatReference(ref);
  const id = imageIdForTag(db, name);
  if (id !== undefined) {
    const image = getImage(db, id);
    if (image) return { image, tag: name };
  }
  if (ref.digest !== undefined) {
    const byDigest = imageIdForRepoDigest(db, `${repositoryName(ref)}@${ref.digest}`);
    const pulled = byDigest !== undefined ? getImage(db, byDigest) : undefined;
    if (pulled) return { image: pulled, tag: undefined };
    // Without registry digests, `repo@<image id>` names the image if it is tagged in that repository.
    const image = getImage(db, ref.digest);
    const repo = repositoryName(ref);
    if (image && tagsOf(db, image.id).some((t) => t.startsWith(`${repo}:`) || t.startsWith(`${repo}@`))) {
      return { image, tag: undefined };
    }
  }
  const hex = hexPrefix(input);
  if (hex !== undefined) {
    const image = byPrefix(db, hex, input);
    if (image) return { image, tag: undefined };
  }
  return { display: familiarString(ref), ref };
}

export function isMiss(r: Lookup | LookupMiss): r is LookupMiss {
  return !('image' in r);
}

/** Like lookupImage, but a miss is NotFoundError `No such image: x`. */
export function requireImage(db: DB, input: string): Lookup {
  const r = lookupImage(db, input);
  if (isMiss(r)) throw new NotFoundError(`No such image: ${r.display}`);
  return r;
}

/** The chain under `top`, base layer first. */
export function chainBaseFirst(db: DB, top: string | null): LayerRow[] {
  return top === null ? [] : layerChain(db, top).reverse();
}

/**
 * Inside a write transaction: records an image whose config is `rawConfig` (exact bytes) on top
 * of `topLayer`, and points `tags` (normalized names) at it. Returns the image id.
 */
export function commitImage(db: DB, rawConfig: string, topLayer: LayerRow | null, tags: readonly string[] = []): string {
  const id = imageIdOf(rawConfig);
  const size = chainBaseFirst(db, topLayer?.chain_id ?? null).reduce((n, l) => n + l.size, 0);
  insertImage(db, { id, config: rawConfig, top_layer: topLayer?.chain_id ?? null, size, created_at: new Date().toISOString() });
  for (const t of tags) setTag(db, t, id);
  return id;
}

/** Parses a reference that names a new tag: a digest is refused, `:latest` filled in. */
export function parseTagTarget(input: string): string {
  const ref = parseReference(input);
  if (ref.digest !== undefined) throw new UsageError(`refusing to create a tag with a digest reference: "${input}"`);
  return formatReference(ref);
}

/** "sha256:abcdef..." -> "abcdef012345" */
export function shortId(id: string): string {
  return id.replace(/^sha256:/, '').slice(0, 12);
}
