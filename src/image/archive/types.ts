// The JSON documents images travel in: OCI and docker v2 schema 2 manifests, OCI indexes and
// docker manifest lists, descriptors, and docker-archive's manifest.json. Every document read
// from an archive or a registry is untrusted: the parsers here check the fields we use and
// refuse anything else with a UsageError that names the document.
import { UsageError } from '../../util/errors.js';

export const MT = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  ociLayerNdGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  ociLayerNd: 'application/vnd.oci.image.layer.nondistributable.v1.tar',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerForeignLayer: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
} as const;

export const LAYER_TYPES: ReadonlySet<string> = new Set([
  MT.ociLayer,
  MT.ociLayerGzip,
  MT.ociLayerZstd,
  MT.ociLayerNd,
  MT.ociLayerNdGzip,
  MT.dockerLayer,
  MT.dockerForeignLayer,
  'application/vnd.docker.image.rootfs.diff.tar',
]);
export const CONFIG_TYPES: ReadonlySet<string> = new Set([MT.ociConfig, MT.dockerConfig]);
export const MANIFEST_TYPES: ReadonlySet<string> = new Set([MT.ociManifest, MT.dockerManifest]);
export const INDEX_TYPES: ReadonlySet<string> = new Set([MT.ociIndex, MT.dockerList]);

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform;
  annotations?: Record<string, string>;
  urls?: string[];
}

export interface ImageManifest {
  schemaVersion: 2;
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

export interface ImageIndex {
  schemaVersion: 2;
  mediaType: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}

/** One entry of docker-archive's manifest.json. */
export interface DockerArchiveEntry {
  Config: string;
  RepoTags: string[] | null;
  Layers: string[];
}

export const SHA256_RE = /^sha256:[0-9a-f]{64}$/;
/** The largest JSON document (manifest, index, config) we read into memory. */
export const MAX_JSON_BYTES = 8 * 1024 * 1024;

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

export function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${what} is not valid JSON: ${(err as Error).message}`);
  }
}

export function checkDigest(d: unknown, what: string): string {
  if (typeof d !== 'string' || !SHA256_RE.test(d)) {
    throw new UsageError(`${what} has an unsupported or malformed digest ${JSON.stringify(d)} (only sha256 is supported)`);
  }
  return d;
}

export function parseDescriptor(v: unknown, what: string): Descriptor {
  if (!isObject(v)) throw new UsageError(`${what} is not a descriptor object`);
  const mediaType = v['mediaType'];
  const size = v['size'];
  if (typeof mediaType !== 'string') throw new UsageError(`${what} has no mediaType`);
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw new UsageError(`${what} has an invalid size`);
  const d: Descriptor = { mediaType, digest: checkDigest(v['digest'], what), size };
  const p = v['platform'];
  if (isObject(p) && typeof p['architecture'] === 'string' && typeof p['os'] === 'string') {
    d.platform = { architecture: p['architecture'], os: p['os'] };
    if (typeof p['variant'] === 'string') d.platform.variant = p['variant'];
  }
  const a = v['annotations'];
  if (isObject(a))
    d.annotations = Object.fromEntries(Object.entries(a).filter(([, x]) => typeof x === 'string')) as Record<string, string>;
  if (Array.isArray(v['urls'])) d.urls = (v['urls'] as unknown[]).filter((u): u is string => typeof u === 'string');
  return d;
}

/** The media type of a manifest/index document: its own field, else the one it was served as. */
export function documentType(doc: unknown, fallback: string | undefined): string | undefined {
  if (isObject(doc) && typeof doc['mediaType'] === 'string') return doc['mediaType'];
  if (fallback !== undefined && fallback !== '') return fallback.split(';')[0]!.trim();
  if (isObject(doc) && Array.isArray(doc['manifests'])) return MT.ociIndex;
  if (isObject(doc) && isObject(doc['config'])) return MT.ociManifest;
  return undefined;
}

export function parseManifest(doc: unknown, what: string, servedAs?: string): ImageManifest {
  if (!isObject(doc)) throw new UsageError(`${what} is not a JSON object`);
  const mediaType = documentType(doc, servedAs) ?? MT.ociManifest;
  if (doc['schemaVersion'] !== 2)
    throw new UsageError(`${what} has schemaVersion ${JSON.stringify(doc['schemaVersion'])}, not 2`);
  if (!MANIFEST_TYPES.has(mediaType)) throw new UsageError(`${what} has the unsupported media type ${mediaType}`);
  const config = parseDescriptor(doc['config'], `${what}: config`);
  if (!CONFIG_TYPES.has(config.mediaType)) {
    throw new UsageError(`${what}: the config has the unknown media type ${config.mediaType} (not a container image)`);
  }
  if (!Array.isArray(doc['layers'])) throw new UsageError(`${what} has no layers list`);
  const layers = (doc['layers'] as unknown[]).map((l, i) => parseDescriptor(l, `${what}: layer ${i + 1}`));
  for (const [i, l] of layers.entries()) {
    if (!LAYER_TYPES.has(l.mediaType)) throw new UsageError(`${what}: layer ${i + 1} has the unknown media type ${l.mediaType}`);
  }
  return { schemaVersion: 2, mediaType, config, layers };
}

export function parseIndex(doc: unknown, what: string, servedAs?: string): ImageIndex {
  if (!isObject(doc)) throw new UsageError(`${what} is not a JSON object`);
  const mediaType = documentType(doc, servedAs) ?? MT.ociIndex;
  if (doc['schemaVersion'] !== 2)
    throw new UsageError(`${what} has schemaVersion ${JSON.stringify(doc['schemaVersion'])}, not 2`);
  if (!Array.isArray(doc['manifests'])) throw new UsageError(`${what} has no manifests list`);
  const manifests = (doc['manifests'] as unknown[]).map((m, i) => parseDescriptor(m, `${what}: manifest ${i + 1}`));
  const out: ImageIndex = { schemaVersion: 2, mediaType, manifests };
  if (isObject(doc['annotations'])) out.annotations = doc['annotations'] as Record<string, string>;
  return out;
}

export function parseDockerArchiveManifest(doc: unknown): DockerArchiveEntry[] {
  const what = 'manifest.json';
  if (!Array.isArray(doc) || doc.length === 0) throw new UsageError(`${what} is not a non-empty list of images`);
  return doc.map((e: unknown, i) => {
    if (!isObject(e)) throw new UsageError(`${what}: entry ${i + 1} is not an object`);
    const cfg = e['Config'];
    const layers = e['Layers'];
    const tags = e['RepoTags'];
    if (typeof cfg !== 'string') throw new UsageError(`${what}: entry ${i + 1} has no Config`);
    if (!Array.isArray(layers) || !layers.every((l) => typeof l === 'string'))
      throw new UsageError(`${what}: entry ${i + 1} has no Layers list`);
    if (tags !== null && tags !== undefined && !(Array.isArray(tags) && tags.every((t) => typeof t === 'string')))
      throw new UsageError(`${what}: entry ${i + 1} has a malformed RepoTags`);
    return { Config: cfg, Layers: layers as string[], RepoTags: (tags as string[] | null | undefined) ?? null };
  });
}
