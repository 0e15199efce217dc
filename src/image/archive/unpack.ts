// Committing an image that arrives as a config and a stack of layer blobs (from an archive or
// a registry). Each blob streams through its digest and size check, decompression and the
// diffID hash straight into the graph driver: nothing is buffered or copied to a temporary
// file. Layers whose chainID is already stored are reused (so a pull resumes where it stopped);
// on overlay, layers are extracted in parallel (their directories do not need the parent's
// content) and their rows committed in order as soon as everything below them is in.
// If anything fails, every directory and row this call made is removed again.
import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { GraphDriver } from '../../graph/driver.js';
import { writeTx, type DB } from '../../store/db.js';
import { driversInUse, getLayer, insertLayer, type LayerRow } from '../../store/layers.js';
import { recordLayerBlob, setRepoDigest, setTarSplit } from '../../store/transfer.js';
import { ConflictError, errnoMessage, TscError, UsageError } from '../../util/errors.js';
import { log } from '../../util/log.js';
import { parseConfig } from '../config.js';
import { chainIds, DigestingStream } from '../digest.js';
import { newCacheId, releaseLayerRows, removeLayerDirs } from '../layers.js';
import { commitImage } from '../store.js';
import { InterruptedError } from './interrupt.js';
import { decompress, VerifyingStream } from './streams.js';
import { TarSplitRecorder } from './tarsplit.js';

export interface LayerInput {
  /** "layer 2 (sha256:ab...)" for messages. */
  what: string;
  /** Expected digest and size of the blob as stored (undefined: not declared, e.g. docker-archive). */
  digest: string | undefined;
  size: number | undefined;
  mediaType: string | undefined;
  /** Opens the blob's raw (maybe compressed) bytes. */
  open(): Promise<Readable>;
}

export interface LayerProgress {
  index: number;
  state: 'exists' | 'downloading' | 'done';
  bytes: number;
  total: number | undefined;
}

export interface UnpackOptions {
  rawConfig: string;
  layers: LayerInput[];
  /** Normalized tags to point at the image. */
  tags: readonly string[];
  /** Normalized repository@digest names to record. */
  repoDigests?: readonly string[];
  /** Where the blobs came from (registry repository), to remember for pushes. */
  repository?: string;
  concurrency?: number;
  onProgress?: (p: LayerProgress) => void;
  /** Aborts the unpack (Ctrl-C); layers committed so far are kept for a later pull. */
  signal?: AbortSignal;
}

export interface UnpackResult {
  id: string;
  created: number;
  reused: number;
}

interface Job {
  index: number;
  chainId: string;
  diffId: string;
  parent: string | null;
  cacheId: string;
  created: boolean;
  applied?: { size: number; split: Buffer | undefined };
  committed: boolean;
  source?: Readable;
}

async function extract(
  driver: GraphDriver,
  job: Job,
  input: LayerInput,
  onBytes: (n: number) => void,
  failed: () => unknown,
): Promise<{ size: number; split: Buffer | undefined }> {
  const raw = await input.open();
  job.source = raw;
  const early = failed();
  if (early !== undefined) {
    raw.destroy();
    throw early;
  }
  const verify = new VerifyingStream(input.what, input.digest, input.size, onBytes);
  let upstreamError: Error | undefined;
  const fail = (err: Error) => {
    upstreamError ??= err;
  };
  raw.on('error', (err) => {
    fail(err);
    verify.destroy(err);
  });
  raw.pipe(verify);
  const plain = await decompress(verify, input.what, input.size);
  const digesting = new DigestingStream();
  const recorder = new TarSplitRecorder();
  digesting.on('error', () => {});
  plain.on('error', (err) => {
    fail(err);
    digesting.destroy(err);
  });
  plain.pipe(recorder).pipe(digesting);
  let applied;
  try {
    applied = await driver.applyDiff(job.cacheId, digesting);
    if (!digesting.readableEnded) {
      digesting.resume();
      await finished(digesting);
    }
  } catch (err) {
    throw upstreamError ?? err;
  }
  if (upstreamError) throw upstreamError;
  const diffId = digesting.digest();
  if (diffId !== job.diffId) {
    throw new UsageError(
      `${input.what} does not match the image config: its content is ${diffId}, the config says ${job.diffId}`,
    );
  }
  return { size: applied.size, split: recorder.result() };
}

export async function unpackImage(db: DB, driver: GraphDriver, opts: UnpackOptions): Promise<UnpackResult> {
  const cfg = parseConfig(opts.rawConfig);
  const diffIds = cfg.rootfs.diff_ids;
  if (diffIds.length !== opts.layers.length) {
    throw new UsageError(`the image config lists ${diffIds.length} layers, but the manifest has ${opts.layers.length}`);
  }
  const other = driversInUse(db).find((d) => d !== driver.name);
  if (other !== undefined) {
    throw new UsageError(
      `the state root already holds layers of the "${other}" storage driver, so it cannot use "${driver.name}"`,
    );
  }
  const chain = chainIds(diffIds);
  let present = 0;
  while (present < chain.length && getLayer(db, chain[present]!) !== undefined) present++;
  for (let i = 0; i < present; i++) {
    opts.onProgress?.({ index: i, state: 'exists', bytes: opts.layers[i]!.size ?? 0, total: opts.layers[i]!.size });
  }
  const jobs: Job[] = [];
  for (let i = present; i < chain.length; i++) {
    jobs.push({
      index: i,
      chainId: chain[i]!,
      diffId: diffIds[i]!,
      parent: i === 0 ? null : chain[i - 1]!,
      cacheId: newCacheId(),
      created: false,
      committed: false,
    });
  }
  const parentCache = (j: Job): string | null => {
    if (j.parent === null) return null;
    const below = jobs.find((x) => x.chainId === j.parent);
    return below ? below.cacheId : getLayer(db, j.parent)!.cache_id;
  };
  const parallel = driver.name === 'overlay' ? Math.max(1, opts.concurrency ?? 3) : 1;
  let failure: unknown;
  let nextCommit = 0;
  const commitReady = () => {
    while (nextCommit < jobs.length && jobs[nextCommit]!.applied !== undefined) {
      const j = jobs[nextCommit]!;
      writeTx(db, () => {
        const existing = getLayer(db, j.chainId);
        if (existing) {
          throw new ConflictError(`another command stored layer ${j.chainId} at the same time; run the command again`);
        }
        const row: LayerRow = {
          chain_id: j.chainId,
          diff_id: j.diffId,
          parent: j.parent,
          cache_id: j.cacheId,
          driver: driver.name,
          size: j.applied!.size,
          created_at: new Date().toISOString(),
        };
        insertLayer(db, row);
        if (j.applied!.split) setTarSplit(db, j.chainId, j.applied!.split);
      });
      j.committed = true;
      nextCommit++;
    }
  };
  try {
    if (parallel > 1) {
      for (const j of jobs) {
        await driver.create(j.cacheId, parentCache(j));
        j.created = true;
      }
    }
    let cursor = 0;
    const worker = async () => {
      while (failure === undefined && cursor < jobs.length) {
        const j = jobs[cursor++]!;
        if (!j.created) {
          await driver.create(j.cacheId, parentCache(j));
          j.created = true;
        }
        const input = opts.layers[j.index]!;
        opts.onProgress?.({ index: j.index, state: 'downloading', bytes: 0, total: input.size });
        const applied = await extract(
          driver,
          j,
          input,
          (n) => opts.onProgress?.({ index: j.index, state: 'downloading', bytes: n, total: input.size }),
          () => failure,
        );
        j.applied = applied;
        opts.onProgress?.({ index: j.index, state: 'done', bytes: input.size ?? 0, total: input.size });
        commitReady();
      }
    };
    const onAbort = () => {
      failure ??= opts.signal?.reason ?? new InterruptedError();
      for (const j of jobs) j.source?.destroy(failure as Error);
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const workers = Array.from({ length: Math.min(parallel, jobs.length) }, () =>
      worker().catch((err: unknown) => {
        failure ??= err;
        for (const j of jobs) j.source?.destroy(new UsageError('cancelled'));
      }),
    );
    await Promise.all(workers);
    opts.signal?.removeEventListener('abort', onAbort);
    if (failure !== undefined) throw failure;
    let id = '';
    writeTx(db, () => {
      const top = chain.length > 0 ? getLayer(db, chain[chain.length - 1]!) : undefined;
      if (chain.length > 0 && top === undefined)
        throw new ConflictError('a layer of the image was removed meanwhile; run the command again');
      id = commitImage(db, opts.rawConfig, top ?? null, opts.tags);
      for (const rd of opts.repoDigests ?? []) setRepoDigest(db, rd, id);
      for (const [i, input] of opts.layers.entries()) {
        if (opts.repository === undefined || input.digest === undefined || input.mediaType === undefined) continue;
        recordLayerBlob(db, {
          diff_id: diffIds[i]!,
          digest: input.digest,
          media_type: input.mediaType,
          size: input.size ?? 0,
          tar_diff_id: diffIds[i]!,
          repository: opts.repository,
        });
      }
    });
    return { id, created: jobs.length, reused: present };
  } catch (err) {
    // undo: rows of this call (top first, only while nothing else uses them), then directories
    const committed = err instanceof InterruptedError ? [] : jobs.filter((j) => j.committed);
    let released: LayerRow[] = [];
    if (committed.length > 0) {
      try {
        released = writeTx(db, () => releaseLayerRows(db, committed[committed.length - 1]!.chainId));
      } catch (e) {
        log('warn', 'could not release layer rows after a failed unpack', { err: errnoMessage(e) });
      }
    }
    await removeLayerDirs(driver, released);
    for (const j of jobs) {
      if (j.created && !j.committed) {
        try {
          await driver.remove(j.cacheId);
        } catch (e) {
          log('warn', 'could not remove layer directory', { cacheId: j.cacheId, err: errnoMessage(e) });
        }
      }
    }
    if (err instanceof TscError) throw err;
    throw new UsageError(`invalid layer: ${errnoMessage(err)}`);
  }
}
