// What an image looks like on its way out (save, push): its layers as tars regenerated from the
// graph driver, and the config that matches them. A layer tar is made again from the layer's
// files, so its bytes (and diffID) may differ from the tar it was made from; when one does, the
// config's rootfs.diff_ids are rewritten to the regenerated tars, which gives the exported
// image another id than the stored one (see docs/images.md).
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { GraphDriver } from '../../graph/driver.js';
import { driverByName } from '../../graph/select.js';
import type { LayerRow } from '../../store/layers.js';
import { SystemError } from '../../util/errors.js';
import type { ImageContext } from '../context.js';
import { resolveImage } from '../resolve.js';
import { chainBaseFirst, isMiss, lookupImage, requireImage } from '../store.js';
import { NotFoundError } from '../../util/errors.js';
import { parseJson } from './types.js';

export interface ExportLayer {
  row: LayerRow;
  driver: GraphDriver;
  /** A fresh stream of the regenerated, uncompressed layer tar. */
  tar(): Readable;
}

export interface ExportImage {
  id: string;
  /** Normalized tags of the image, or the one the user named. */
  tags: string[];
  rawConfig: string;
  layers: ExportLayer[];
}

export async function exportImage(ctx: ImageContext, input: string): Promise<ExportImage> {
  const db = ctx.db();
  const miss = lookupImage(db, input);
  if (isMiss(miss)) {
    try {
      await resolveImage(ctx, input); // provides the built-in busybox on first use
    } catch {
      throw new NotFoundError(`No such image: ${miss.display}`);
    }
  }
  const { image, tag } = requireImage(db, input);
  const layers: ExportLayer[] = [];
  for (const row of chainBaseFirst(db, image.top_layer)) {
    const driver = await driverByName(ctx, row.driver);
    layers.push({ row, driver, tar: () => driver.diff(row.cache_id) });
  }
  return { id: image.id, tags: tag !== undefined ? [tag] : [], rawConfig: image.config, layers };
}

/** Hashes and counts a stream. */
export async function digestStream(s: Readable): Promise<{ digest: string; size: number }> {
  const h = createHash('sha256');
  let size = 0;
  for await (const c of s) {
    h.update(c as Buffer);
    size += (c as Buffer).length;
  }
  return { digest: `sha256:${h.digest('hex')}`, size };
}

/** The config with `diffIds` as its rootfs (the same bytes when they are unchanged). */
export function configWithDiffIds(rawConfig: string, diffIds: readonly string[]): string {
  const doc = parseJson(rawConfig, 'the stored image config') as { rootfs?: { diff_ids?: string[] } };
  const old = doc.rootfs?.diff_ids ?? [];
  if (old.length === diffIds.length && old.every((d, i) => d === diffIds[i])) return rawConfig;
  if (old.length !== diffIds.length) throw new SystemError('the stored image config does not match its layer chain');
  return JSON.stringify({ ...doc, rootfs: { ...doc.rootfs, type: 'layers', diff_ids: [...diffIds] } });
}
