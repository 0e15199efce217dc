// images / tag / rmi / image inspect.
import { writeTx, type DB } from '../store/db.js';
import { containersOfImage, deleteImage, deleteTag, listImages, setTag, tagsOf, type ImageRow } from '../store/images.js';
import type { LayerRow } from '../store/layers.js';
import { allRepoDigests, danglingLayerIds, repoDigestsOf } from '../store/transfer.js';
import { ConflictError, NotFoundError, TscError, toTscError } from '../util/errors.js';
import { parseConfig, type ContainerDefaults } from './config.js';
import type { ImageContext } from './context.js';
import { driverByName } from '../graph/select.js';
import { releaseLayerRows, removeLayerDirs } from './layers.js';
import { familiarName, familiarRepository, parseReference, repositoryName } from './reference.js';
import { resolveImage } from './resolve.js';
import { chainBaseFirst, isMiss, lookupImage, parseTagTarget, requireImage, shortId } from './store.js';

// ---------------------------------------------------------------------------------------------
// images

export interface ImageSummary {
  /** "sha256:<64 hex>" */
  id: string;
  /** Familiar repository ("busybox") or "<none>". */
  repository: string;
  tag: string;
  /** The config's `created`, else when the image was stored. */
  created: string;
  size: number;
  /** Every tag of the image, familiar form. */
  tags: string[];
  containers: number;
  /** The registry digest (sha256:...) recorded for this row's repository, or "<none>". */
  digest: string;
}

/**
 * One row per tag (an untagged image gets one `<none>` row), newest first, as `docker images`.
 * `repoFilter` is `REPOSITORY[:TAG]` as docker's positional argument.
 */
export function listImageSummaries(ctx: ImageContext, repoFilter?: string): ImageSummary[] {
  const db = ctx.db();
  let filter: { repo: string; tag: string | undefined } | undefined;
  if (repoFilter !== undefined) {
    const ref = parseReference(repoFilter, { defaultTag: false });
    filter = { repo: repositoryName(ref), tag: ref.tag };
  }
  const out: ImageSummary[] = [];
  const digests = new Map<string, string[]>();
  for (const d of allRepoDigests(db)) digests.set(d.image_id, [...(digests.get(d.image_id) ?? []), d.name]);
  for (const img of listImages(db)) {
    const created = createdOf(img);
    const containers = containersOfImage(db, img.id).length;
    const familiarTags = img.tags.map(familiarName);
    const rows: { repository: string; tag: string; repoFull: string | undefined }[] = [];
    for (const t of img.tags) {
      try {
        const ref = parseReference(t, { defaultTag: false });
        rows.push({ repository: familiarRepository(ref), tag: ref.tag ?? '<none>', repoFull: repositoryName(ref) });
      } catch {
        rows.push({ repository: t, tag: '<none>', repoFull: undefined });
      }
    }
    const own = digests.get(img.id) ?? [];
    if (rows.length === 0) {
      // untagged but known by digest: one row per repository, as docker shows them
      for (const d of own) {
        const ref = parseReference(d, { defaultTag: false });
        rows.push({ repository: familiarRepository(ref), tag: '<none>', repoFull: repositoryName(ref) });
      }
    }
    if (rows.length === 0) rows.push({ repository: '<none>', tag: '<none>', repoFull: undefined });
    for (const r of rows) {
      if (filter && (r.repoFull !== filter.repo || (filter.tag !== undefined && r.tag !== filter.tag))) continue;
      const digest = own.find((d) => r.repoFull !== undefined && d.startsWith(`${r.repoFull}@`))?.split('@')[1] ?? '<none>';
      out.push({
        id: img.id,
        repository: r.repository,
        tag: r.tag,
        created,
        size: img.size,
        tags: familiarTags,
        containers,
        digest,
      });
    }
  }
  return out.sort((a, b) => (a.created < b.created ? 1 : a.created > b.created ? -1 : 0));
}

function createdOf(img: ImageRow): string {
  try {
    const c = parseConfig(img.config);
    if (typeof c.created === 'string' && !Number.isNaN(Date.parse(c.created))) return c.created;
  } catch {
    /* fall back to the row's time */
  }
  return img.created_at;
}

// ---------------------------------------------------------------------------------------------
// tag

/** Points TARGET at the image SOURCE names (providing busybox if needed). Returns the image id. */
export async function tagImage(ctx: ImageContext, source: string, target: string): Promise<string> {
  const name = parseTagTarget(target);
  const img = await resolveImage(ctx, source);
  const db = ctx.db();
  writeTx(db, () => {
    // The image may have been removed since we resolved it.
    if (isMiss(lookupImage(db, img.id))) throw new NotFoundError(`No such image: ${source}`);
    setTag(db, name, img.id);
  });
  return img.id;
}

// ---------------------------------------------------------------------------------------------
// rmi

export interface RmiEvent {
  kind: 'Untagged' | 'Deleted';
  /** A familiar tag for Untagged, an image id or layer chainID for Deleted. */
  value: string;
}

export interface RmiResult {
  events: RmiEvent[];
  /** One error per reference that could not be removed, in argument order. */
  errors: TscError[];
}

/**
 * Removes images as `docker rmi`:
 * - a tag of an image with other tags: only untagged;
 * - the last tag, or an id: the image is deleted with every layer no other image needs
 *   (rows first in one transaction, then the driver directories);
 * - an id with tags from several repositories needs -f (then every tag goes);
 * - an image a container was created from is refused; with -f a stopped container's image is
 *   untagged but kept (the container still needs its layers; it shows as <none> until the
 *   container is removed), and a running or paused container's image is refused even with -f.
 */
export async function removeImages(
  ctx: ImageContext,
  refs: readonly string[],
  opts: { force?: boolean } = {},
): Promise<RmiResult> {
  const db = ctx.db();
  const force = opts.force ?? false;
  const result: RmiResult = { events: [], errors: [] };
  for (const ref of refs) {
    try {
      const { events, released } = writeTx(db, () => removeOne(ctx, ref, force));
      result.events.push(...events);
      const byDriver = new Map<string, LayerRow[]>();
      for (const l of released) byDriver.set(l.driver, [...(byDriver.get(l.driver) ?? []), l]);
      for (const [name, rows] of byDriver) await removeLayerDirs(await driverByName(ctx, name), rows);
    } catch (err) {
      result.errors.push(toTscError(err));
    }
  }
  return result;
}

function removeOne(ctx: ImageContext, input: string, force: boolean): { events: RmiEvent[]; released: LayerRow[] } {
  const db = ctx.db();
  const { image, tag } = requireImage(db, input);
  const tags = tagsOf(db, image.id);
  const users = containersOfImage(db, image.id);
  const running = users.find((c) => c.state === 'running' || c.state === 'paused');
  const events: RmiEvent[] = [];

  if (tag !== undefined && tags.length > 1) {
    deleteTag(db, tag);
    return { events: [{ kind: 'Untagged', value: familiarName(tag) }], released: [] };
  }
  if (tag === undefined) {
    const repos = new Set(
      tags.map((t) => {
        try {
          return repositoryName(parseReference(t, { defaultTag: false }));
        } catch {
          return t;
        }
      }),
    );
    if (repos.size > 1 && !force) {
      throw new ConflictError(
        `conflict: unable to delete ${shortId(image.id)} (must be forced) - image is referenced in multiple repositories`,
      );
    }
  }
  if (users.length > 0) {
    if (running) {
      throw new ConflictError(
        `conflict: unable to ${tag !== undefined ? `remove repository reference "${input}"` : `delete ${shortId(image.id)}`} (cannot be forced) - image is being used by running container ${shortId(running.id)}`,
      );
    }
    if (!force) {
      throw new ConflictError(
        tag !== undefined
          ? `conflict: unable to remove repository reference "${input}" (must force) - container ${shortId(users[0]!.id)} is using its referenced image ${shortId(image.id)}`
          : `conflict: unable to delete ${shortId(image.id)} (must be forced) - image is being used by stopped container ${shortId(users[0]!.id)}`,
      );
    }
    // Forced with stopped containers: untag, keep the image for them.
    for (const t of tag !== undefined ? [tag] : tags) {
      deleteTag(db, t);
      events.push({ kind: 'Untagged', value: familiarName(t) });
    }
    return { events, released: [] };
  }
  const released = deleteImageRows(db, image, tags, events);
  return { events, released };
}

/** Untags and deletes an image's rows and the layer rows no other image needs (in the
 *  caller's transaction), recording docker's Untagged/Deleted lines; returns the layers whose
 *  driver directories the caller removes after the commit. */
function deleteImageRows(
  db: DB,
  image: { id: string; top_layer: string | null },
  tags: string[],
  events: RmiEvent[],
): LayerRow[] {
  for (const t of tags) {
    deleteTag(db, t);
    events.push({ kind: 'Untagged', value: familiarName(t) });
  }
  deleteImage(db, image.id);
  events.push({ kind: 'Deleted', value: image.id });
  const released = releaseLayerRows(db, image.top_layer);
  for (const l of released) events.push({ kind: 'Deleted', value: l.chain_id });
  return released;
}

// ---------------------------------------------------------------------------------------------
// inspect

export interface ImageInspect {
  Id: string;
  RepoTags: string[];
  RepoDigests: string[];
  Parent: string;
  Comment: string;
  Created: string;
  Author: string;
  Config: ContainerDefaults;
  Architecture: string;
  Os: string;
  Size: number;
  VirtualSize: number;
  GraphDriver: { Name: string; Data: Record<string, string> | null };
  RootFS: { Type: string; Layers: string[] };
  Metadata: { LastTagTime: string };
}

export interface InspectResult {
  images: ImageInspect[];
  errors: TscError[];
}

/** `docker image inspect`: one entry per found reference, an error per missing one. */
export async function inspectImages(ctx: ImageContext, refs: readonly string[]): Promise<InspectResult> {
  const out: InspectResult = { images: [], errors: [] };
  for (const ref of refs) {
    try {
      out.images.push(await inspectImage(ctx, ref));
    } catch (err) {
      out.errors.push(toTscError(err));
    }
  }
  return out;
}

export async function inspectImage(ctx: ImageContext, ref: string): Promise<ImageInspect> {
  const db = ctx.db();
  let r = lookupImage(db, ref);
  if (isMiss(r)) {
    // resolveImage provides busybox; anything else stays "No such image".
    try {
      await resolveImage(ctx, ref);
    } catch {
      throw new NotFoundError(`No such image: ${r.display}`);
    }
    r = lookupImage(db, ref);
    if (isMiss(r)) throw new NotFoundError(`No such image: ${r.display}`);
  }
  const img = r.image;
  const cfg = parseConfig(img.config);
  const chain = chainBaseFirst(db, img.top_layer);
  const top = chain[chain.length - 1];
  let graph: ImageInspect['GraphDriver'] = { Name: top?.driver ?? '', Data: null };
  if (top) {
    try {
      const driver = await driverByName(ctx, top.driver);
      graph = { Name: driver.name, Data: graphData(driver.mountSpec(top.cache_id).spec) };
    } catch {
      /* the driver is unavailable here: keep the name only */
    }
  }
  const hist = cfg.history ?? [];
  return {
    Id: img.id,
    RepoTags: tagsOf(db, img.id).map(familiarName),
    RepoDigests: repoDigestsOf(db, img.id).map(familiarName),
    Parent: '',
    Comment: hist.length > 0 ? (hist[hist.length - 1]!.comment ?? '') : '',
    Created: cfg.created ?? img.created_at,
    Author: cfg.author ?? '',
    Config: cfg.config ?? {},
    Architecture: cfg.architecture,
    Os: cfg.os,
    Size: img.size,
    VirtualSize: img.size,
    GraphDriver: graph,
    RootFS: { Type: cfg.rootfs.type, Layers: cfg.rootfs.diff_ids },
    Metadata: { LastTagTime: '0001-01-01T00:00:00Z' },
  };
}

/** Docker's GraphDriver.Data from a mount spec: overlay's LowerDir/UpperDir/WorkDir, else the dir. */
function graphData(spec: { type: string; source: string; data: string; cwd?: string }): Record<string, string> {
  const abs = (p: string) => (p.startsWith('/') || spec.cwd === undefined ? p : `${spec.cwd.replace(/\/$/, '')}/${p}`);
  if (spec.type !== 'overlay') return { Dir: spec.source };
  const data: Record<string, string> = {};
  for (const opt of spec.data.split(',')) {
    const [k, v] = opt.split('=', 2) as [string, string | undefined];
    if (v === undefined) continue;
    if (k === 'lowerdir') data['LowerDir'] = v.split(':').map(abs).join(':');
    if (k === 'upperdir') data['UpperDir'] = abs(v);
    if (k === 'workdir') data['WorkDir'] = abs(v);
  }
  return data;
}

// ---------------------------------------------------------------------------------------------
// image prune

/** Layer rows without an image are left by an interrupted pull for the next one to reuse;
 *  prune removes them once they are an hour old. */
export const DANGLING_LAYER_GRACE_MS = 60 * 60_000;

export interface PruneResult {
  events: RmiEvent[];
  /** Bytes of layers whose directories were removed. */
  reclaimed: number;
}

/**
 * `docker image prune`: removes dangling (untagged) images no container uses, with the layers
 * no other image needs; with `all`, every image no container uses.
 */
export async function pruneImages(ctx: ImageContext, opts: { all?: boolean } = {}): Promise<PruneResult> {
  const db = ctx.db();
  const out: PruneResult = { events: [], reclaimed: 0 };
  const { events, released } = writeTx(db, () => {
    const ev: RmiEvent[] = [];
    const rel: LayerRow[] = [];
    for (const img of listImages(db)) {
      if (containersOfImage(db, img.id).length > 0) continue;
      if (img.tags.length > 0 && !opts.all) continue;
      rel.push(...deleteImageRows(db, img, img.tags, ev));
    }
    // layers an interrupted pull or load committed and nothing used within the hour
    const cutoff = new Date(Date.now() - DANGLING_LAYER_GRACE_MS).toISOString();
    for (const id of danglingLayerIds(db, cutoff)) {
      for (const l of releaseLayerRows(db, id)) {
        rel.push(l);
        ev.push({ kind: 'Deleted', value: l.chain_id });
      }
    }
    return { events: ev, released: rel };
  });
  out.events = events;
  const byDriver = new Map<string, LayerRow[]>();
  for (const l of released) byDriver.set(l.driver, [...(byDriver.get(l.driver) ?? []), l]);
  for (const [name, rows] of byDriver) await removeLayerDirs(await driverByName(ctx, name), rows);
  out.reclaimed = released.reduce((n, l) => n + l.size, 0);
  return out;
}
