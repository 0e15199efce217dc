// `tscontainer import`: a plain or gzip tar of a root filesystem becomes a one-layer image.
// As `docker import`: the config has the default PATH and no Cmd unless --change gives one.
import type { Readable } from 'node:stream';
import { createReadStream, statSync } from 'node:fs';
import { NotFoundError, UsageError } from '../util/errors.js';
import { applyChange, newImageConfig, serializeConfig, type ContainerDefaults } from './config.js';
import type { ImageContext } from './context.js';
import { imageDriver } from '../graph/select.js';
import { registerLayer } from './layers.js';
import { commitImage, parseTagTarget } from './store.js';

export interface ImportOptions {
  /** Where the tar comes from: a path, or "-" for `stdin`. */
  file: string;
  /** The stream to read for "-" (default process.stdin). */
  stdin?: Readable;
  /** Repository[:tag] to tag the new image with. */
  ref?: string;
  /** Dockerfile-style instructions: `CMD ["sh"]`, `ENV A=b`, ... */
  changes?: readonly string[];
  /** Commit message, recorded in the history. */
  message?: string;
}

/** Imports a rootfs tar and returns the new image id ("sha256:..."). */
export async function importImage(ctx: ImageContext, opts: ImportOptions): Promise<string> {
  // Everything that can be refused is checked before any byte is written.
  const tag = opts.ref !== undefined ? parseTagTarget(opts.ref) : undefined;
  let defaults: ContainerDefaults = {};
  for (const c of opts.changes ?? []) defaults = applyChange(defaults, c);
  let source: Readable;
  if (opts.file === '-') {
    source = opts.stdin ?? process.stdin;
  } else {
    let st;
    try {
      st = statSync(opts.file);
    } catch {
      throw new NotFoundError(`cannot import "${opts.file}": no such file`);
    }
    if (!st.isFile()) throw new UsageError(`cannot import "${opts.file}": not a regular file`);
    source = createReadStream(opts.file);
  }
  const db = ctx.db();
  const driver = await imageDriver(ctx);
  const created = new Date().toISOString();
  let id = '';
  await registerLayer(db, driver, {
    parent: null,
    source,
    inTx: (layer) => {
      const cfg = newImageConfig({
        diffIds: [layer.diff_id],
        created,
        defaults,
        history: [
          {
            created,
            created_by: 'tscontainer import',
            comment: opts.message ?? `Imported from ${opts.file}`,
          },
        ],
      });
      id = commitImage(db, serializeConfig(cfg), layer, tag !== undefined ? [tag] : []);
    },
  });
  return id;
}
