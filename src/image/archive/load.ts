// `tscontainer load`: docker-archive (classic, and the OCI-flavoured layout docker 25+ writes),
// OCI archive and OCI image layout directory, plain or compressed, from a file, a directory or
// stdin. A tar file is read in place through its index; a compressed archive or stdin is first
// spooled (decompressed) into the state root's tmp directory, which is removed afterwards
// (`system prune` removes what a killed load left there).
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { imageDriver } from '../../graph/select.js';
import { NotFoundError, UsageError } from '../../util/errors.js';
import type { ImageContext } from '../context.js';
import { digestOf } from '../digest.js';
import { familiarName } from '../reference.js';
import { parseTagTarget } from '../store.js';
import { parsePlatform, selectPlatform } from './platform.js';
import { blobPath, DirSource, TarSource, type ArchiveSource } from './source.js';
import { BadBlobError, decompress } from './streams.js';
import {
  INDEX_TYPES,
  MANIFEST_TYPES,
  MAX_JSON_BYTES,
  parseDockerArchiveManifest,
  parseIndex,
  parseJson,
  parseManifest,
  SHA256_RE,
  type Descriptor,
  type Platform,
} from './types.js';
import { interruptible } from './interrupt.js';
import { unpackImage, type LayerInput } from './unpack.js';

export interface LoadOptions {
  /** A file or directory path, or "-" for stdin. */
  input: string;
  stdin?: Readable;
  /** For image indexes: which platform (default: this machine). */
  platform?: string;
}

export interface LoadedImage {
  id: string;
  /** Familiar names. */
  tags: string[];
}

/** Spools a possibly compressed stream into a plain tar file under tmp. */
async function spool(ctx: ImageContext, src: Readable, what: string, signal: AbortSignal): Promise<string> {
  mkdirSync(ctx.layout.tmp, { recursive: true });
  const file = join(ctx.layout.tmp, `load-${randomBytes(8).toString('hex')}.tar`);
  try {
    const plain = await decompress(src, what);
    await pipeline(plain, createWriteStream(file, { flags: 'wx', mode: 0o600 }), { signal });
  } catch (err) {
    rmSync(file, { force: true });
    throw err;
  }
  return file;
}

async function isCompressedFile(path: string): Promise<boolean> {
  const fh = createReadStream(path, { start: 0, end: 3 });
  const chunks: Buffer[] = [];
  for await (const c of fh) chunks.push(c as Buffer);
  const h = Buffer.concat(chunks);
  return (h[0] === 0x1f && h[1] === 0x8b) || (h.length >= 4 && h.readUInt32LE(0) === 0xfd2fb528);
}

async function readJsonMember(
  src: ArchiveSource,
  name: string,
  expected?: Descriptor | string,
): Promise<{ raw: string; doc: unknown }> {
  const raw = await src.readText(name);
  const digest = typeof expected === 'string' ? expected : expected?.digest;
  if (digest !== undefined && digestOf(raw) !== digest) {
    throw new BadBlobError(`${src.what}: "${name}" does not match its digest ${digest}`);
  }
  if (typeof expected === 'object' && Buffer.byteLength(raw) !== expected.size) {
    throw new BadBlobError(`${src.what}: "${name}" is ${Buffer.byteLength(raw)} bytes, its descriptor says ${expected.size}`);
  }
  return { raw, doc: parseJson(raw, `${src.what}: ${name}`) };
}

/** The digest a member's name promises: blobs/sha256/<hex>, <hex>.json, <hex>.tar, <hex>/layer.tar. */
function digestFromName(name: string): string | undefined {
  const m = /^(?:blobs\/sha256\/)?([0-9a-f]{64})(?:\.json)?$/.exec(name);
  return m ? `sha256:${m[1]}` : undefined;
}

function layerInput(src: ArchiveSource, name: string, what: string, desc?: Descriptor): LayerInput {
  const size = src.size(name);
  if (desc !== undefined && desc.size !== size) {
    throw new BadBlobError(`${src.what}: ${what} is ${size} bytes, its descriptor declares ${desc.size}`);
  }
  const blobDigest = desc?.digest ?? (name.startsWith('blobs/sha256/') ? digestFromName(name) : undefined);
  return {
    what: `${src.what}: ${what}`,
    digest: blobDigest,
    size,
    mediaType: desc?.mediaType,
    open: async () => src.open(name),
  };
}

interface PlannedImage {
  rawConfig: string;
  layers: LayerInput[];
  tags: string[];
}

async function planDockerArchive(src: ArchiveSource): Promise<PlannedImage[]> {
  const { doc } = await readJsonMember(src, 'manifest.json');
  const entries = parseDockerArchiveManifest(doc);
  const out: PlannedImage[] = [];
  for (const e of entries) {
    const { raw } = await readJsonMember(src, e.Config, digestFromName(e.Config));
    const tags = (e.RepoTags ?? []).map((t) => {
      try {
        return parseTagTarget(t);
      } catch {
        throw new UsageError(`${src.what}: manifest.json has an invalid tag "${t}"`);
      }
    });
    const layers = e.Layers.map((l, i) => layerInput(src, l, `layer ${i + 1} (${l})`));
    out.push({ rawConfig: raw, layers, tags });
  }
  return out;
}

function refNameOf(desc: Descriptor): string | undefined {
  const a = desc.annotations ?? {};
  for (const key of ['io.containerd.image.name', 'org.opencontainers.image.ref.name']) {
    const v = a[key];
    if (v === undefined || !(v.includes('/') || v.includes(':'))) continue;
    try {
      return parseTagTarget(v);
    } catch {
      /* a bare tag or something else: no usable name */
    }
  }
  return undefined;
}

async function planOci(src: ArchiveSource, platform: Platform, explicitPlatform: boolean): Promise<PlannedImage[]> {
  const layout = await readJsonMember(src, 'oci-layout').catch(() => undefined);
  if (layout === undefined) throw new UsageError(`${src.what} is not an OCI image layout (no oci-layout file)`);
  const { doc } = await readJsonMember(src, 'index.json');
  const index = parseIndex(doc, `${src.what}: index.json`);
  const out: PlannedImage[] = [];
  const byName = new Map<string, PlannedImage>();
  for (const top of index.manifests) {
    let desc = top;
    const name = refNameOf(top);
    for (let depth = 0; INDEX_TYPES.has(desc.mediaType); depth++) {
      if (depth > 4) throw new UsageError(`${src.what}: image indexes nest too deeply`);
      const nested = await readJsonMember(src, blobPath(desc.digest), desc);
      desc = selectPlatform(parseIndex(nested.doc, `${src.what}: index ${desc.digest}`).manifests, platform, `${src.what}`);
    }
    if (!MANIFEST_TYPES.has(desc.mediaType)) {
      throw new UsageError(`${src.what}: index.json lists ${desc.digest} with the unknown media type ${desc.mediaType}`);
    }
    const m = await readJsonMember(src, blobPath(desc.digest), desc);
    const manifest = parseManifest(m.doc, `${src.what}: manifest ${desc.digest}`, desc.mediaType);
    const cfg = await readJsonMember(src, blobPath(manifest.config.digest), manifest.config);
    if (explicitPlatform && !INDEX_TYPES.has(top.mediaType)) {
      const c = cfg.doc as { os?: string; architecture?: string };
      if (c.os !== platform.os || c.architecture !== platform.architecture) continue;
    }
    const layers = manifest.layers.map((l, i) => layerInput(src, blobPath(l.digest), `layer ${i + 1} (${l.digest})`, l));
    const planned = byName.get(cfg.raw) ?? { rawConfig: cfg.raw, layers, tags: [] };
    if (name !== undefined && !planned.tags.includes(name)) planned.tags.push(name);
    if (!byName.has(cfg.raw)) {
      byName.set(cfg.raw, planned);
      out.push(planned);
    }
  }
  if (out.length === 0) throw new UsageError(`${src.what} holds no image${explicitPlatform ? ' for that platform' : ''}`);
  return out;
}

export async function loadImages(ctx: ImageContext, opts: LoadOptions): Promise<LoadedImage[]> {
  return interruptible((signal) => load(ctx, opts, signal));
}

async function load(ctx: ImageContext, opts: LoadOptions, signal: AbortSignal): Promise<LoadedImage[]> {
  const platform = parsePlatform(opts.platform);
  let src: ArchiveSource;
  let spooled: string | undefined;
  try {
    if (opts.input === '-') {
      spooled = await spool(ctx, opts.stdin ?? process.stdin, 'the archive on stdin', signal);
      src = await TarSource.open(spooled, 'the archive on stdin');
    } else {
      let st;
      try {
        st = statSync(opts.input);
      } catch {
        throw new NotFoundError(`cannot load "${opts.input}": no such file or directory`);
      }
      if (st.isDirectory()) src = new DirSource(opts.input);
      else if (!st.isFile()) throw new UsageError(`cannot load "${opts.input}": not a regular file or directory`);
      else if (await isCompressedFile(opts.input)) {
        spooled = await spool(ctx, createReadStream(opts.input), `the archive ${opts.input}`, signal);
        src = await TarSource.open(spooled, `the archive ${opts.input}`);
      } else src = await TarSource.open(opts.input, `the archive ${opts.input}`);
    }
    let plan: PlannedImage[];
    if (src.has('manifest.json')) plan = await planDockerArchive(src);
    else if (src.has('index.json')) plan = await planOci(src, platform, opts.platform !== undefined);
    else throw new UsageError(`${src.what} is neither a docker archive (manifest.json) nor an OCI layout (index.json)`);
    const db = ctx.db();
    const driver = await imageDriver(ctx);
    const out: LoadedImage[] = [];
    for (const p of plan) {
      for (const l of p.layers)
        if (l.digest !== undefined && !SHA256_RE.test(l.digest)) throw new UsageError(`bad digest in ${l.what}`);
      if (Buffer.byteLength(p.rawConfig) > MAX_JSON_BYTES) throw new UsageError('the image config is too large');
      const r = await unpackImage(db, driver, { rawConfig: p.rawConfig, layers: p.layers, tags: p.tags, signal });
      out.push({ id: r.id, tags: p.tags.map(familiarName) });
    }
    return out;
  } finally {
    if (spooled !== undefined) rmSync(spooled, { force: true });
  }
}
