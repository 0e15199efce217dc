// `create`: a containers row plus its two driver layers (the -init layer holding mount points
// for the files we bind in, and the read-write layer on top). Disk first, row last; a failure
// removes what it made.
import { mkdirSync, rmSync, closeSync, openSync } from 'node:fs';
import { join } from 'node:path';
import type { Context } from './context.js';
import { writeTx } from '../store/db.js';
import { getContainerByName, insertContainer, nameTaken, type ContainerRow, getContainer } from '../store/containers.js';
import { ConflictError } from '../util/errors.js';
import type { ContainerConfig } from './config.js';
import { newCacheId, newContainerId, randomName } from './names.js';
import { openGraph } from './graph.js';
import { log } from '../util/log.js';
import { allocateUsernsRange } from '../store/userns.js';
import { subidSlots, tscontainerSubids } from './subids.js';

export interface CreateRequest {
  imageId: string;
  imageRef: string;
  /** Driver id of the image's top layer (null for an image with no layers). */
  imageTopCacheId: string | null;
  driver: string;
  name: string | undefined;
  id?: string;
  config: ContainerConfig;
  /** Flags accepted without effect here (label=disable...): printed once, at create. */
  warnings?: string[];
}

/** Mount points the runtime binds over; docker keeps them in the -init layer too. */
const INIT_DIRS = ['proc', 'sys', 'dev', 'dev/pts', 'dev/shm', 'etc'];
const INIT_FILES = ['etc/hostname', 'etc/hosts', 'etc/resolv.conf', 'dev/console'];

function populateInit(dir: string): void {
  for (const d of INIT_DIRS) mkdirSync(join(dir, d), { recursive: true, mode: 0o755 });
  for (const f of INIT_FILES) closeSync(openSync(join(dir, f), 'a', 0o644));
}

export async function createContainer(ctx: Context, req: CreateRequest): Promise<ContainerRow> {
  const db = ctx.db();
  const id = req.id ?? newContainerId();
  const config = req.config;
  if (req.name !== undefined) assertNameFree(ctx, req.name);
  for (const w of req.warnings ?? []) ctx.warn(w);

  const driver = openGraph(ctx, req.driver);
  const initLayer = `${newCacheId()}-init`;
  const rwLayer = newCacheId();
  const dir = ctx.layout.container(id);
  const made: (() => Promise<void> | void)[] = [];
  try {
    await driver.create(initLayer, req.imageTopCacheId);
    made.push(() => driver.remove(initLayer));
    await driver.populate(initLayer, populateInit);
    await driver.create(rwLayer, initLayer);
    made.push(() => driver.remove(rwLayer));
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    made.push(() => rmSync(dir, { recursive: true, force: true }));

    const row = writeTx(db, () => {
      let name = req.name;
      if (name !== undefined) {
        if (nameTaken(db, name)) throw nameConflict(ctx, name);
      } else {
        for (let attempt = 0; ; attempt++) {
          name = randomName(attempt);
          if (!nameTaken(db, name)) break;
        }
      }
      insertContainer(db, {
        id,
        name: name!,
        image_id: req.imageId,
        image_ref: req.imageRef,
        config: JSON.stringify(config),
        driver: req.driver,
        init_layer: initLayer,
        rw_layer: rwLayer,
        created_at: new Date().toISOString(),
      });
      // --userns=auto: the lowest free range, under the same lock as the row (the files are
      // read, and extended if need be, under it too)
      if (config.userns === 'auto') {
        const { slots, range } = subidSlots(tscontainerSubids());
        allocateUsernsRange(db, id, slots, range);
      }
      return getContainer(db, id)!;
    });
    log('debug', 'container created', { id, name: row.name });
    return row;
  } catch (err) {
    for (const undo of made.reverse()) {
      try {
        await undo();
      } catch {
        /* keep undoing; the original error is what the user needs */
      }
    }
    throw err;
  }
}

function assertNameFree(ctx: Context, name: string): void {
  if (nameTaken(ctx.db(), name)) throw nameConflict(ctx, name);
}

function nameConflict(ctx: Context, name: string): ConflictError {
  const other = getContainerByName(ctx.db(), name);
  return new ConflictError(
    `the container name "/${name}" is already in use by container "${other?.id ?? '?'}": remove or rename that container to reuse the name`,
  );
}
