// `tscontainer save`: docker-archive (manifest.json, repositories, <config>.json, <layer>.tar,
// the layout podman writes and docker, podman and skopeo read), OCI archive (an OCI layout in a
// tar) and OCI layout directory. Layers are uncompressed tars regenerated from the graph
// driver; a tar entry needs its size first, so each layer is generated twice (once to hash
// and count, once to write), never held in memory or a temporary file.
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tarStream from 'tar-stream';
import { SystemError, UsageError } from '../../util/errors.js';
import type { ImageContext } from '../context.js';
import { digestOf } from '../digest.js';
import { familiarName, familiarRepository, parseReference } from '../reference.js';
import { configWithDiffIds, digestStream, exportImage, type ExportImage, type ExportLayer } from './export.js';
import { VerifyingStream } from './streams.js';
import { MT, type Descriptor, type ImageManifest } from './types.js';

export type SaveFormat = 'docker-archive' | 'oci-archive' | 'oci-dir';
export const SAVE_FORMATS: readonly SaveFormat[] = ['docker-archive', 'oci-archive', 'oci-dir'];

export interface SaveOptions {
  refs: readonly string[];
  format: SaveFormat;
  /** A file (or directory for oci-dir); undefined writes the archive to `stdout`. */
  output: string | undefined;
  stdout?: Writable;
}

interface Blob {
  digest: string;
  size: number;
  mediaType: string;
  /** Either JSON text, or a layer tar to generate. */
  text?: string;
  stream?: () => Readable;
}

interface Planned {
  image: ExportImage;
  config: Blob;
  layers: Blob[];
  manifest: Blob;
}

async function plan(ctx: ImageContext, refs: readonly string[]): Promise<Planned[]> {
  const out: Planned[] = [];
  const layerBlobs = new Map<string, Blob>();
  const byId = new Map<string, Planned>();
  for (const ref of refs) {
    const image = await exportImage(ctx, ref);
    const seen = byId.get(image.id);
    if (seen) {
      for (const t of image.tags) if (!seen.image.tags.includes(t)) seen.image.tags.push(t);
      continue;
    }
    const layers: Blob[] = [];
    for (const l of image.layers) {
      let b = layerBlobs.get(l.row.chain_id);
      if (!b) b = await layerBlob(l);
      layerBlobs.set(l.row.chain_id, b);
      layers.push(b);
    }
    const rawConfig = configWithDiffIds(
      image.rawConfig,
      layers.map((b) => b.digest),
    );
    const config: Blob = {
      digest: digestOf(rawConfig),
      size: Buffer.byteLength(rawConfig),
      mediaType: MT.ociConfig,
      text: rawConfig,
    };
    const desc = (b: Blob): Descriptor => ({ mediaType: b.mediaType, digest: b.digest, size: b.size });
    const manifestDoc: ImageManifest = {
      schemaVersion: 2,
      mediaType: MT.ociManifest,
      config: desc(config),
      layers: layers.map(desc),
    };
    const text = JSON.stringify(manifestDoc);
    const manifest: Blob = { digest: digestOf(text), size: Buffer.byteLength(text), mediaType: MT.ociManifest, text };
    const p = { image, config, layers, manifest };
    byId.set(image.id, p);
    out.push(p);
  }
  return out;
}

/** The original tar when its record replays (its digest is the stored diffID, checked as it is
 *  written), else the regenerated one, hashed and counted first. */
async function layerBlob(l: ExportLayer): Promise<Blob> {
  const probe = l.exact(); // checks the files; nothing is opened until the stream is read
  if (probe && l.exactSize !== undefined) {
    probe.destroy();
    const stream = () => {
      const s = l.exact();
      if (!s) throw new SystemError(`the files of layer ${l.row.chain_id} changed while it was being saved`);
      return s;
    };
    return { digest: l.row.diff_id, size: l.exactSize, mediaType: MT.ociLayer, stream };
  }
  const { digest, size } = await digestStream(l.regenerated());
  return { digest, size, mediaType: MT.ociLayer, stream: () => l.regenerated() };
}

function hexOf(digest: string): string {
  return digest.replace(/^sha256:/, '');
}

/** Writes one blob's bytes into `into`, checking a regenerated layer still hashes the same. */
async function writeBlob(b: Blob, into: Writable): Promise<void> {
  if (b.text !== undefined) {
    await pipeline(async function* () {
      yield Buffer.from(b.text!);
    }, into);
    return;
  }
  const check = new VerifyingStream(`layer ${b.digest}`, b.digest, b.size);
  await pipeline(b.stream!(), check, into).catch((err: unknown) => {
    throw err instanceof UsageError ? new SystemError(`a layer changed while it was being saved: ${err.message}`) : err;
  });
}

function familiarTags(p: Planned): string[] {
  return p.image.tags.map(familiarName);
}

function ociIndex(planned: Planned[]): string {
  const manifests: Descriptor[] = [];
  for (const p of planned) {
    const base = { mediaType: MT.ociManifest, digest: p.manifest.digest, size: p.manifest.size };
    if (p.image.tags.length === 0) manifests.push(base);
    for (const t of p.image.tags) {
      manifests.push({ ...base, annotations: { 'io.containerd.image.name': t, 'org.opencontainers.image.ref.name': t } });
    }
  }
  return JSON.stringify({ schemaVersion: 2, mediaType: MT.ociIndex, manifests });
}

async function writeTar(planned: Planned[], format: 'docker-archive' | 'oci-archive', out: Writable): Promise<void> {
  const pack = tarStream.pack();
  const done = pipeline(pack, out);
  const entry = async (name: string, size: number, write: (w: Writable) => Promise<void>) => {
    const pt = new PassThrough();
    const e = pack.entry({ name, size, mode: 0o644, mtime: new Date(0), uid: 0, gid: 0, type: 'file' });
    await Promise.all([write(pt), pipeline(pt, e)]);
  };
  const dir = async (name: string) => {
    await new Promise<void>((res, rej) =>
      pack.entry({ name, type: 'directory', mode: 0o755, mtime: new Date(0) }, (err) => (err ? rej(err) : res())),
    );
  };
  const written = new Set<string>();
  const blobName = (b: Blob, kind: 'layer' | 'config' | 'manifest') =>
    format === 'oci-archive'
      ? `blobs/sha256/${hexOf(b.digest)}`
      : kind === 'config'
        ? `${hexOf(b.digest)}.json`
        : `${hexOf(b.digest)}.tar`;
  const text = async (name: string, s: string) =>
    entry(name, Buffer.byteLength(s), (w) => writeBlob({ digest: '', size: 0, mediaType: '', text: s }, w));
  try {
    if (format === 'oci-archive') {
      await text('oci-layout', '{"imageLayoutVersion":"1.0.0"}');
      await dir('blobs');
      await dir('blobs/sha256');
    }
    for (const p of planned) {
      const blobs: [Blob, 'layer' | 'config' | 'manifest'][] = [
        ...p.layers.map((l) => [l, 'layer'] as [Blob, 'layer']),
        [p.config, 'config'],
      ];
      if (format === 'oci-archive') blobs.push([p.manifest, 'manifest']);
      for (const [b, kind] of blobs) {
        const name = blobName(b, kind);
        if (written.has(name)) continue;
        written.add(name);
        await entry(name, b.size, (w) => writeBlob(b, w));
      }
    }
    if (format === 'docker-archive') {
      const manifest = planned.map((p) => ({
        Config: blobName(p.config, 'config'),
        RepoTags: familiarTags(p).length > 0 ? familiarTags(p) : null,
        Layers: p.layers.map((l) => blobName(l, 'layer')),
      }));
      const repositories: Record<string, Record<string, string>> = {};
      for (const p of planned) {
        const top = p.layers[p.layers.length - 1];
        if (!top) continue;
        for (const t of p.image.tags) {
          const ref = parseReference(t);
          const repo = familiarRepository(ref);
          repositories[repo] = { ...(repositories[repo] ?? {}), [ref.tag ?? 'latest']: hexOf(top.digest) };
        }
      }
      await text('manifest.json', JSON.stringify(manifest));
      await text('repositories', JSON.stringify(repositories));
    } else {
      await text('index.json', ociIndex(planned));
    }
    pack.finalize();
    await done;
  } catch (err) {
    pack.destroy(err as Error);
    await done.catch(() => {});
    throw err;
  }
}

async function writeDir(planned: Planned[], dir: string): Promise<void> {
  if (existsSync(dir) && readdirSync(dir).length > 0) {
    throw new UsageError(`cannot save to "${dir}": the directory exists and is not empty`);
  }
  const made = !existsSync(dir);
  try {
    mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
    for (const p of planned) {
      for (const b of [...p.layers, p.config, p.manifest]) {
        const final = join(dir, 'blobs', 'sha256', hexOf(b.digest));
        if (existsSync(final)) continue;
        const tmp = `${final}.tmp-${randomBytes(4).toString('hex')}`;
        await writeBlob(b, createWriteStream(tmp, { mode: 0o644 }));
        renameSync(tmp, final);
      }
    }
    writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    writeFileSync(join(dir, 'index.json'), ociIndex(planned));
  } catch (err) {
    if (made) rmSync(dir, { recursive: true, force: true });
    else for (const e of readdirSync(dir)) rmSync(join(dir, e), { recursive: true, force: true });
    throw err;
  }
}

export async function saveImages(ctx: ImageContext, opts: SaveOptions): Promise<void> {
  if (opts.refs.length === 0) throw new UsageError('save needs at least one image');
  if (opts.format === 'oci-dir' && opts.output === undefined) throw new UsageError('--format oci-dir needs -o DIR');
  const planned = await plan(ctx, opts.refs);
  if (opts.format === 'oci-dir') return writeDir(planned, opts.output!);
  if (opts.output === undefined) {
    const out = opts.stdout ?? process.stdout;
    if ('isTTY' in out && (out as { isTTY?: boolean }).isTTY) {
      throw new UsageError('refusing to write an archive to a terminal: use -o FILE or redirect stdout');
    }
    return writeTar(planned, opts.format, out);
  }
  // write next to the target and rename, so a failed save leaves no partial archive
  const tmp = join(dirname(opts.output), `.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await writeTar(planned, opts.format, createWriteStream(tmp, { mode: 0o644 }));
    renameSync(tmp, opts.output);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}
