// `tscontainer push`: every layer the registry lacks is uploaded, the rest skipped:
//  * a layer that came from a registry blob (layer_blobs) is looked up with HEAD in the target
//    repository, then cross-mounted from another repository of the same registry;
//  * otherwise its tar is regenerated from the graph driver, gzip-compressed and streamed up
//    (POST, PATCH, PUT ?digest=) while both digests are computed; the config lists the
//    regenerated diffIDs (see archive/export.ts).
// Then the config blob and the manifest (OCI) go up; the manifest digest becomes a RepoDigest.
import { createHash } from 'node:crypto';
import { PassThrough, Readable, Transform, type TransformCallback } from 'node:stream';
import { writeTx } from '../../store/db.js';
import { layerBlobsOf, recordLayerBlob, setRepoDigest, type LayerBlobRow } from '../../store/transfer.js';
import { UsageError } from '../../util/errors.js';
import { streamed } from '../../util/memory.js';
import type { ImageContext } from '../context.js';
import { digestOf } from '../digest.js';
import { familiarString, parseReference, repositoryName } from '../reference.js';
import { configWithDiffIds, exportImage } from '../archive/export.js';
import { MT, type Descriptor, type ImageManifest } from '../archive/types.js';
import { RegistryClient } from './client.js';
import { ParallelGzip } from './pgzip.js';
import { clientFor } from './pull.js';

export interface PushOptions {
  tlsVerify?: boolean;
  onStatus?: (line: string) => void;
}

export interface PushResult {
  digest: string;
  size: number;
  tag: string;
}

class Hasher extends Transform {
  readonly hash = createHash('sha256');
  bytes = 0;
  override _transform(chunk: Buffer, _e: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    streamed(chunk.length);
    cb(null, chunk);
  }
}

async function blobExists(client: RegistryClient, digest: string): Promise<boolean> {
  const res = await client.request(`blobs/${digest}`, { method: 'HEAD', ok: (s) => s === 200 || s === 404 });
  return res.status === 200;
}

/** Starts an upload, or mounts `digest` from `from` (true when mounted). */
async function startUpload(client: RegistryClient, mount?: { digest: string; from: string }): Promise<string | true> {
  const q = mount ? `?mount=${encodeURIComponent(mount.digest)}&from=${encodeURIComponent(mount.from)}` : '';
  const res = await client.request(`blobs/uploads/${q}`, { method: 'POST', ok: (s) => s === 201 || s === 202 });
  await res.body?.cancel();
  if (res.status === 201 && mount) return true;
  const loc = res.headers.get('location');
  if (!loc) throw new UsageError(`${client.host}: the registry started an upload without a Location`);
  return loc;
}

function withDigest(location: string, digest: string): string {
  return `${location}${location.includes('?') ? '&' : '?'}digest=${encodeURIComponent(digest)}`;
}

async function uploadBytes(client: RegistryClient, data: Buffer, digest: string): Promise<void> {
  const loc = await startUpload(client);
  const base = await absolute(client, loc as string);
  const res = await client.request(withDigest(base, digest), {
    method: 'PUT',
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(data.length) },
    body: data,
    ok: (s) => s === 201,
  });
  await res.body?.cancel();
}

async function absolute(client: RegistryClient, loc: string): Promise<string> {
  if (/^https?:/.test(loc)) return loc;
  const probe = await client.request('/v2/', { ok: () => true });
  await probe.body?.cancel();
  return new URL(loc, probe.url).toString();
}

/** Streams a regenerated layer up; returns its blob digest/size and the tar's diffID. */
async function uploadLayer(
  client: RegistryClient,
  tar: () => Readable,
): Promise<{ digest: string; size: number; diffId: string }> {
  for (let attempt = 0; ; attempt++) {
    const loc = await absolute(client, (await startUpload(client)) as string);
    const tarHash = new Hasher();
    const blobHash = new Hasher();
    const out = new PassThrough();
    const src = tar();
    src.on('error', (e) => out.destroy(e));
    src.pipe(tarHash).pipe(new ParallelGzip()).pipe(blobHash).pipe(out);
    try {
      const patch = await client.upload(
        loc,
        'PATCH',
        { 'content-type': 'application/octet-stream' },
        out,
        (s) => s === 202 || s === 204,
      );
      await patch.body?.cancel();
      const next = await absolute(client, patch.headers.get('location') ?? loc);
      const digest = `sha256:${blobHash.hash.digest('hex')}`;
      const put = await client.request(withDigest(next, digest), {
        method: 'PUT',
        headers: { 'content-length': '0' },
        ok: (s) => s === 201,
      });
      await put.body?.cancel();
      return { digest, size: blobHash.bytes, diffId: `sha256:${tarHash.hash.digest('hex')}` };
    } catch (err) {
      src.destroy();
      if (attempt >= 2) throw err;
    }
  }
}

export async function pushImage(ctx: ImageContext, input: string, opts: PushOptions = {}): Promise<PushResult> {
  const ref = parseReference(input);
  if (ref.digest !== undefined) throw new UsageError(`cannot push "${input}": push a tag, not a digest`);
  const image = await exportImage(ctx, input);
  const client = clientFor(ref, { tlsVerify: opts.tlsVerify, actions: 'pull,push' });
  const repo = repositoryName(ref);
  const db = ctx.db();
  type Done = { desc: Descriptor; diffId: string; seen: LayerBlobRow };
  const pushOne = async (l: (typeof image.layers)[number]): Promise<Done> => {
    const short = l.row.diff_id.slice(7, 19);
    const known = layerBlobsOf(db, l.row.diff_id, repo).filter((b) => b.repository.startsWith(`${ref.domain}/`));
    for (const b of known) {
      let done = false;
      if (await blobExists(client, b.digest)) {
        opts.onStatus?.(`${short}: Layer already exists`);
        done = true;
      } else if (b.repository !== repo) {
        const from = b.repository.slice(ref.domain.length + 1);
        if ((await startUpload(client, { digest: b.digest, from })) === true) {
          opts.onStatus?.(`${short}: Mounted from ${from}`);
          done = true;
        }
      }
      if (done) return { desc: { mediaType: b.media_type, digest: b.digest, size: b.size }, diffId: b.tar_diff_id, seen: b };
    }
    opts.onStatus?.(`${short}: Pushing`);
    const up = await uploadLayer(client, l.tar);
    opts.onStatus?.(`${short}: Pushed`);
    return {
      desc: { mediaType: MT.ociLayerGzip, digest: up.digest, size: up.size },
      diffId: up.diffId,
      seen: {
        diff_id: l.row.diff_id,
        digest: up.digest,
        media_type: MT.ociLayerGzip,
        size: up.size,
        tar_diff_id: up.diffId,
        repository: repo,
      },
    };
  };
  // up to 3 layers at a time, as pulls: a registry verifies and stores uploads in parallel
  const results: Done[] = new Array(image.layers.length);
  let next = 0;
  const worker = async () => {
    while (next < image.layers.length) {
      const i = next++;
      results[i] = await pushOne(image.layers[i]!);
    }
  };
  const jobs = Math.max(1, Number(process.env['TSCONTAINER_PUSH_JOBS'] ?? '') || 3);
  await Promise.all(Array.from({ length: Math.min(jobs, image.layers.length) }, worker));
  const descs = results.map((r) => r.desc);
  const diffIds = results.map((r) => r.diffId);
  const seen = results.map((r) => r.seen);
  const rawConfig = configWithDiffIds(image.rawConfig, diffIds);
  const configDigest = digestOf(rawConfig);
  if (!(await blobExists(client, configDigest))) await uploadBytes(client, Buffer.from(rawConfig), configDigest);
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MT.ociManifest,
    config: { mediaType: MT.ociConfig, digest: configDigest, size: Buffer.byteLength(rawConfig) },
    layers: descs,
  };
  const text = JSON.stringify(manifest);
  const tag = ref.tag ?? 'latest';
  const res = await client.request(`manifests/${tag}`, {
    method: 'PUT',
    headers: { 'content-type': MT.ociManifest },
    body: text,
    ok: (s) => s === 201,
  });
  await res.body?.cancel();
  const digest = digestOf(text);
  writeTx(db, () => {
    setRepoDigest(db, `${repo}@${digest}`, image.id);
    for (const s of seen) recordLayerBlob(db, { ...s, repository: repo });
  });
  return { digest, size: Buffer.byteLength(text), tag: familiarString(ref) };
}
