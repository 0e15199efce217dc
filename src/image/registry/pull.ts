// `tscontainer pull`: resolve the reference to a manifest (choosing a platform from an index or
// manifest list), fetch and check the config, then stream every missing layer from the
// registry into the graph driver (archive/unpack.ts: digests checked while streaming, layers
// already stored skipped, up to 3 in parallel). RepoDigests record repository@manifest-digest.
import { Readable } from 'node:stream';
import { imageDriver } from '../../graph/select.js';
import { getImage, setTag } from '../../store/images.js';
import { writeTx } from '../../store/db.js';
import { setRepoDigest } from '../../store/transfer.js';
import { UsageError } from '../../util/errors.js';
import { mark } from '../../util/trace.js';
import { imageIdOf } from '../config.js';
import type { ImageContext } from '../context.js';
import { digestOf } from '../digest.js';
import { familiarString, formatReference, parseReference, repositoryName, type Reference } from '../reference.js';
import { parsePlatform, selectPlatform } from '../archive/platform.js';
import { BadBlobError } from '../archive/streams.js';
import {
  documentType,
  INDEX_TYPES,
  MANIFEST_TYPES,
  MAX_JSON_BYTES,
  MT,
  parseIndex,
  parseJson,
  parseManifest,
  type ImageManifest,
  type Platform,
} from '../archive/types.js';
import { interruptible } from '../archive/interrupt.js';
import { unpackImage, type LayerProgress } from '../archive/unpack.js';
import { readLimited, RegistryClient } from './client.js';
import { findCredentials } from './credentials.js';

export interface PullOptions {
  platform?: string;
  tlsVerify?: boolean;
  concurrency?: number;
  onProgress?: (p: LayerProgress & { digest: string }) => void;
  onStatus?: (line: string) => void;
}

export interface PullResult {
  id: string;
  /** repository@sha256:... of the manifest the reference named. */
  digest: string;
  /** Familiar name of what was pulled. */
  name: string;
  upToDate: boolean;
}

const ACCEPT = [MT.ociIndex, MT.dockerList, MT.ociManifest, MT.dockerManifest].join(', ');

export function clientFor(ref: Reference, opts: { tlsVerify?: boolean; actions?: string }): RegistryClient {
  return new RegistryClient(ref.domain, ref.path, {
    tlsVerify: opts.tlsVerify,
    credentials: findCredentials(ref.domain),
    actions: opts.actions,
  });
}

async function fetchManifest(
  client: RegistryClient,
  reference: string,
  expectDigest: string | undefined,
): Promise<{ raw: Buffer; digest: string; type: string | undefined; doc: unknown }> {
  const res = await client.request(`manifests/${reference}`, { headers: { accept: ACCEPT } });
  const raw = await readLimited(res, MAX_JSON_BYTES, `the manifest ${reference}`);
  const digest = digestOf(raw);
  if (expectDigest !== undefined && digest !== expectDigest) {
    throw new BadBlobError(`the registry sent a manifest that does not match ${expectDigest} (got ${digest})`);
  }
  const doc = parseJson(raw.toString('utf8'), `the manifest ${reference}`);
  return { raw, digest, type: documentType(doc, res.headers.get('content-type') ?? undefined), doc };
}

/** Resolves a reference to one image manifest; the digest is the one the reference names (an index's for an index). */
export async function resolveManifest(
  client: RegistryClient,
  ref: Reference,
  platform: Platform,
): Promise<{ manifest: ImageManifest; digest: string }> {
  const top = await fetchManifest(client, ref.digest ?? ref.tag ?? 'latest', ref.digest);
  let cur = top;
  for (let depth = 0; cur.type !== undefined && INDEX_TYPES.has(cur.type); depth++) {
    if (depth > 3) throw new UsageError(`${familiarString(ref)}: image indexes nest too deeply`);
    const index = parseIndex(cur.doc, `the index of ${familiarString(ref)}`, cur.type);
    const chosen = selectPlatform(index.manifests, platform, familiarString(ref));
    cur = await fetchManifest(client, chosen.digest, chosen.digest);
  }
  if (cur.type === undefined || !MANIFEST_TYPES.has(cur.type)) {
    throw new UsageError(`${familiarString(ref)} has the unsupported manifest media type ${cur.type ?? '(none)'}`);
  }
  return { manifest: parseManifest(cur.doc, `the manifest of ${familiarString(ref)}`, cur.type), digest: top.digest };
}

export async function pullImage(ctx: ImageContext, input: string, opts: PullOptions = {}): Promise<PullResult> {
  const ref = parseReference(input);
  const platform = parsePlatform(opts.platform);
  const client = clientFor(ref, { tlsVerify: opts.tlsVerify });
  mark('pull: start');
  const { manifest, digest } = await resolveManifest(client, ref, platform);
  mark('pull: manifest');
  const cfgRes = await client.request(`blobs/${manifest.config.digest}`);
  const cfgRaw = await readLimited(cfgRes, Math.min(MAX_JSON_BYTES, manifest.config.size), 'the image config');
  if (digestOf(cfgRaw) !== manifest.config.digest) {
    throw new BadBlobError(`the image config does not match its digest ${manifest.config.digest}`);
  }
  const rawConfig = cfgRaw.toString('utf8');
  mark('pull: config');
  const repo = repositoryName(ref);
  const tags = ref.tag !== undefined && ref.digest === undefined ? [formatReference({ ...ref, digest: undefined })] : [];
  const repoDigest = `${repo}@${digest}`;
  const db = ctx.db();
  const id = imageIdOf(rawConfig);
  const name = familiarString(ref);
  if (getImage(db, id)) {
    writeTx(db, () => {
      if (!getImage(db, id)) return;
      for (const t of tags) setTag(db, t, id);
      setRepoDigest(db, repoDigest, id);
    });
    if (getImage(db, id)) return { id, digest: repoDigest, name, upToDate: true };
  }
  const driver = await imageDriver(ctx);
  mark('pull: driver');
  const r = await interruptible((signal) =>
    unpackImage(db, driver, {
      signal,
      rawConfig,
      tags,
      repoDigests: [repoDigest],
      repository: repo,
      concurrency: opts.concurrency ?? 3,
      onProgress: (p) => opts.onProgress?.({ ...p, digest: manifest.layers[p.index]!.digest }),
      layers: manifest.layers.map((l, i) => ({
        what: `layer ${i + 1} (${l.digest})`,
        digest: l.digest,
        size: l.size,
        mediaType: l.mediaType,
        open: async () => {
          const res = await client.request(`blobs/${l.digest}`);
          if (!res.body) throw new BadBlobError(`the registry sent no body for ${l.digest}`);
          return Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>, {
            highWaterMark: 256 * 1024,
          });
        },
      })),
    }),
  );
  mark('pull: layers');
  return { id: r.id, digest: repoDigest, name, upToDate: false };
}
