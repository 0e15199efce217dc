// Hand-made image archives for tests: layer tars from a file list, OCI layouts and
// docker-archives written byte by byte, so each test controls exactly what an archive holds
// (including what a hostile one would).
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync, zstdCompressSync } from 'node:zlib';
import tar, { type Header } from 'tar-stream';

export type TarSpec = { header: Partial<Header> & Pick<Header, 'name'>; body?: string | Buffer }[];

export async function tarOf(entries: TarSpec): Promise<Buffer> {
  const p = tar.pack();
  for (const e of entries) p.entry({ mode: 0o644, mtime: new Date(0), ...e.header }, e.body ?? '');
  p.finalize();
  const chunks: Buffer[] = [];
  for await (const c of p) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export function sha(b: Buffer | string): string {
  return `sha256:${createHash('sha256').update(b).digest('hex')}`;
}

export type Compression = 'none' | 'gzip' | 'zstd';

const LAYER_TYPE: Record<Compression, string> = {
  none: 'application/vnd.oci.image.layer.v1.tar',
  gzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  zstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
};

export function compress(b: Buffer, c: Compression): Buffer {
  return c === 'gzip' ? gzipSync(b) : c === 'zstd' ? zstdCompressSync(b) : b;
}

export interface ImageSpec {
  layers: { tar: Buffer; compression: Compression }[];
  architecture?: string;
  cmd?: string[];
}

export interface BuiltImage {
  config: string;
  configDigest: string;
  manifest: string;
  manifestDigest: string;
  /** blob digest -> bytes */
  blobs: Map<string, Buffer>;
}

export function buildImage(spec: ImageSpec): BuiltImage {
  const blobs = new Map<string, Buffer>();
  const diffIds = spec.layers.map((l) => sha(l.tar));
  const config = JSON.stringify({
    created: '2026-01-01T00:00:00Z',
    architecture: spec.architecture ?? 'amd64',
    os: 'linux',
    config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: spec.cmd ?? ['sh'] },
    rootfs: { type: 'layers', diff_ids: diffIds },
    history: spec.layers.map(() => ({ created: '2026-01-01T00:00:00Z', created_by: 'test' })),
  });
  const configDigest = sha(config);
  blobs.set(configDigest, Buffer.from(config));
  const layers = spec.layers.map((l) => {
    const b = compress(l.tar, l.compression);
    const d = sha(b);
    blobs.set(d, b);
    return { mediaType: LAYER_TYPE[l.compression], digest: d, size: b.length };
  });
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: Buffer.byteLength(config) },
    layers,
  });
  const manifestDigest = sha(manifest);
  blobs.set(manifestDigest, Buffer.from(manifest));
  return { config, configDigest, manifest, manifestDigest, blobs };
}

/** An OCI layout directory; `index` entries are written as given (tests may lie in them). */
export function writeOciDir(dir: string, blobs: Map<string, Buffer>, index: unknown): void {
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  for (const [d, b] of blobs) writeFileSync(join(dir, 'blobs', 'sha256', d.slice(7)), b);
  writeFileSync(join(dir, 'index.json'), JSON.stringify(index));
}

export function manifestDescriptor(img: BuiltImage, name?: string, platform?: { os: string; architecture: string }): unknown {
  return {
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    digest: img.manifestDigest,
    size: Buffer.byteLength(img.manifest),
    ...(platform ? { platform } : {}),
    ...(name ? { annotations: { 'org.opencontainers.image.ref.name': name } } : {}),
  };
}

/** A docker-archive (classic layout) as a tar buffer; `manifest` may be given raw to lie. */
export async function dockerArchive(img: BuiltImage, tags: string[], manifest?: unknown): Promise<Buffer> {
  const cfg = JSON.parse(img.config) as { rootfs: { diff_ids: string[] } };
  const m = JSON.parse(img.manifest) as { layers: { digest: string }[] };
  const entries: TarSpec = [];
  const layerNames: string[] = [];
  for (const [i, l] of m.layers.entries()) {
    const name = `${cfg.rootfs.diff_ids[i]!.slice(7)}/layer.tar`;
    entries.push({ header: { name, type: 'file' }, body: img.blobs.get(l.digest)! });
    layerNames.push(name);
  }
  entries.push({ header: { name: `${img.configDigest.slice(7)}.json` }, body: img.config });
  entries.push({
    header: { name: 'manifest.json' },
    body: JSON.stringify(manifest ?? [{ Config: `${img.configDigest.slice(7)}.json`, RepoTags: tags, Layers: layerNames }]),
  });
  return tarOf(entries);
}
