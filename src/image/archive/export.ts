// What an image looks like on its way out (save, push): its layers as tars, and the config that
// matches them. A layer recorded when it was unpacked (tarsplit.ts) comes back as its original
// bytes; one without a record (or whose files changed) is regenerated from the graph driver,
// and its bytes (and diffID) may then differ from the tar it was made from: the config's
// rootfs.diff_ids are rewritten to match, which gives the exported image another id than the
// stored one (see docs/images.md).
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
import { getTarSplit } from '../../store/transfer.js';
import { log } from '../../util/log.js';
import { recordedSize, replayTar } from './tarsplit.js';
import { parseJson } from './types.js';

export interface ExportLayer {
  row: LayerRow;
  driver: GraphDriver;
  /** A fresh stream of the layer tar: the original bytes when they can be replayed, else regenerated. */
  tar(): Readable;
  /** The original tar replayed from its tar-split record, when there is one and the files are there. */
  exact(): Readable | undefined;
  /** The tar made again from the layer's files (graph driver diff). */
  regenerated(): Readable;
  /** The byte length of the exact tar, when there is a record. */
  exactSize: number | undefined;
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
    const split = getTarSplit(db, row.chain_id);
    const regenerated = () => driver.diff(row.cache_id);
    const exact = (): Readable | undefined => {
      if (split === undefined || driver.contentDir === undefined) return undefined;
      try {
        return replayTar(split, driver.contentDir(row.cache_id));
      } catch (err) {
        log('debug', 'layer tar-split replay refused, regenerating', { chainId: row.chain_id, err: String(err) });
        return undefined;
      }
    };
    const exactSize = split !== undefined && driver.contentDir !== undefined ? recordedSize(split) : undefined;
    layers.push({ row, driver, exact, regenerated, exactSize, tar: () => exact() ?? regenerated() });
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
