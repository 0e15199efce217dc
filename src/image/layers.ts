// Registering and releasing layers. The order keeps SQLite the single source of truth:
//   register: driver.create + applyDiff into a fresh random cache dir -> commit the row;
//             if the chainID already has a row (another process won), drop the new dir and reuse.
//   release:  delete the rows in one transaction -> then remove the driver dirs.
// A crash therefore leaves at most an orphan directory, never a row without its directory.
import { randomHex } from '../util/random.js';
import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { GraphDriver } from '../graph/driver.js';
import type { DB } from '../store/db.js';
import { writeTx } from '../store/db.js';
import { deleteLayer, driversInUse, getLayer, insertLayer, layerReferenced, type LayerRow } from '../store/layers.js';
import { errnoMessage, TscError, UsageError } from '../util/errors.js';
import { log } from '../util/log.js';
import { chainId as chainIdOf, DigestingStream, maybeGunzip } from './digest.js';
import { TarSplitRecorder } from './archive/tarsplit.js';
import { setTarSplit } from '../store/transfer.js';

export interface RegisteredLayer {
  layer: LayerRow;
  /** False when a layer with the same chainID already existed and was reused. */
  created: boolean;
}

export interface RegisterLayerOptions {
  /** The layer below, or null for a base layer. */
  parent: LayerRow | null;
  /** The layer tar, plain or gzip-compressed. Consumed completely. */
  source: Readable;
  /** Runs inside the transaction that commits (or reuses) the layer row, e.g. to insert the
   *  image that references it, so no other process can release the layer in between. */
  inTx?: (layer: LayerRow) => void;
}

export function newCacheId(): string {
  return randomHex(16);
}

/**
 * Applies a layer tar on top of `parent` and records it. The diffID is the sha256 of the
 * uncompressed bytes as they stream into the driver's extractor.
 */
export async function registerLayer(db: DB, driver: GraphDriver, opts: RegisterLayerOptions): Promise<RegisteredLayer> {
  const { parent, source } = opts;
  const cacheId = newCacheId();
  let diffId: string;
  let size: number;
  // what the tar held besides file contents, so save/push can give back its exact bytes
  const recorder = new TarSplitRecorder();
  try {
    await driver.create(cacheId, parent?.cache_id ?? null);
    const digesting = new DigestingStream();
    // Errors reach us through applyDiff's rejection or upstreamError; never leave them unhandled.
    digesting.on('error', () => {});
    let upstreamError: Error | undefined;
    const plain = await maybeGunzip(source);
    plain.on('error', (err) => {
      upstreamError ??= err;
      digesting.destroy(err);
    });
    plain.pipe(recorder).pipe(digesting);
    const applied = await driver.applyDiff(cacheId, digesting);
    // The extractor may stop at the end-of-archive blocks; the rest still belongs to the diffID.
    if (!digesting.readableEnded) {
      digesting.resume();
      await finished(digesting);
    }
    if (upstreamError) throw upstreamError;
    if (digesting.bytes === 0) throw new UsageError('the layer archive is empty');
    diffId = digesting.digest();
    size = applied.size;
  } catch (err) {
    source.destroy();
    await removeQuietly(driver, cacheId);
    if (err instanceof TscError) throw err;
    throw new UsageError(`invalid layer archive: ${errnoMessage(err)}`);
  }

  const chainId = chainIdOf(parent?.chain_id ?? null, diffId);
  let result: RegisteredLayer;
  try {
    result = writeTx(db, () => {
      const other = driversInUse(db).find((d) => d !== driver.name);
      if (other !== undefined) {
        throw new UsageError(
          `the state root already holds layers of the "${other}" storage driver, so it cannot use "${driver.name}"`,
        );
      }
      const existing = getLayer(db, chainId);
      if (existing) {
        opts.inTx?.(existing);
        return { layer: existing, created: false };
      }
      const row: LayerRow = {
        chain_id: chainId,
        diff_id: diffId,
        parent: parent?.chain_id ?? null,
        cache_id: cacheId,
        driver: driver.name,
        size,
        created_at: new Date().toISOString(),
      };
      insertLayer(db, row);
      const split = recorder.result();
      if (split) setTarSplit(db, chainId, split);
      opts.inTx?.(row);
      return { layer: row, created: true };
    });
  } catch (err) {
    await removeQuietly(driver, cacheId);
    throw err;
  }
  if (!result.created) await removeQuietly(driver, cacheId);
  log('debug', result.created ? 'layer registered' : 'layer reused', { chainId, diffId, cacheId: result.layer.cache_id });
  return result;
}

async function removeQuietly(driver: GraphDriver, cacheId: string): Promise<void> {
  try {
    await driver.remove(cacheId);
  } catch (err) {
    log('warn', 'could not remove layer directory', { cacheId, err: errnoMessage(err) });
  }
}

/**
 * Inside a write transaction: deletes the layer rows from `topChainId` downwards for as long as
 * nothing references them (no image top, no child layer). Returns the deleted rows, top first;
 * the caller removes their driver dirs after the transaction commits (see `removeLayerDirs`).
 */
export function releaseLayerRows(db: DB, topChainId: string | null): LayerRow[] {
  const deleted: LayerRow[] = [];
  let id = topChainId;
  while (id !== null) {
    const row = getLayer(db, id);
    if (!row || layerReferenced(db, id)) break;
    deleteLayer(db, id);
    deleted.push(row);
    id = row.parent;
  }
  return deleted;
}

/** Removes the driver dirs of layers whose rows are gone, top first. Failures are logged: a
 *  left-over directory is garbage for `system prune`, not an error of the command. */
export async function removeLayerDirs(driver: GraphDriver, rows: readonly LayerRow[]): Promise<void> {
  for (const r of rows) {
    if (r.driver !== driver.name) continue;
    await removeQuietly(driver, r.cache_id);
  }
}
