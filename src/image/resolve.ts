// What the runtime calls to turn `run IMAGE` into an image: id, parsed config and layer chain.
// busybox:latest (and debian:bookworm once built) come from the built-in images on first use;
// nothing is pulled here (run/create pull through registry/ensure.ts).
import type { LayerRow } from '../store/layers.js';
import { NotFoundError } from '../util/errors.js';
import { builtinFor, ensureBuiltinImage } from './builtin.js';
import { parseConfig, type ImageConfig } from './config.js';
import type { ImageContext } from './context.js';
import { storageDriverName } from '../graph/select.js';
import { formatReference } from './reference.js';
import { chainBaseFirst, isMiss, lookupImage } from './store.js';

export interface ResolvedImage {
  /** "sha256:<64 hex>" */
  id: string;
  config: ImageConfig;
  /** The top layer (undefined for an image without layers). */
  topLayer: LayerRow | undefined;
  /** Every layer, base first (the order of config.rootfs.diff_ids). */
  chain: LayerRow[];
  /** The normalized tag the reference named, if it named one. */
  tag: string | undefined;
  /** The storage driver of this state root (the layers' driver); use it for the container too. */
  driver: string;
}

/**
 * Resolves a reference, id or id prefix to an image in this state root. Provides the built-in
 * busybox for `busybox` / `busybox:latest`. Throws UsageError for a bad reference or an
 * ambiguous prefix, NotFoundError (exit 125) when the image is not here.
 */
export async function resolveImage(ctx: ImageContext, input: string): Promise<ResolvedImage> {
  const db = ctx.db();
  let r = lookupImage(db, input);
  const builtin = isMiss(r) && r.ref !== undefined ? builtinFor(formatReference(r.ref)) : undefined;
  if (builtin !== undefined) {
    await ensureBuiltinImage(ctx, builtin);
    r = lookupImage(db, input);
  }
  if (isMiss(r)) {
    throw new NotFoundError(`Unable to find image '${r.display}' locally`);
  }
  const chain = chainBaseFirst(db, r.image.top_layer);
  const top = chain[chain.length - 1];
  return {
    id: r.image.id,
    config: parseConfig(r.image.config),
    topLayer: top,
    chain,
    tag: r.tag,
    driver: await storageDriverName(ctx),
  };
}
