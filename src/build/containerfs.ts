// A container's file system from the host: `diff`, `commit`, `export`, `cp` in both directions,
// for running and stopped containers alike, never leaving a mount behind:
//  * reading (diff, export, cp out): a read-only view of the read-write layer with everything
//    below it (graph/view.ts), mounted on a private directory and unmounted in a finally; the
//    container's own mount is in its own namespace and is not touched;
//  * writing into a running container goes through /proc/PID/root (the container's own mount,
//    so overlay copies up as it should), paths resolved inside that root by us, so that no
//    symlink in the container can send a write to the host; into a stopped container through
//    the driver's mount of its layer, unmounted in a finally.
import {
  cpSync,
  createReadStream,
  existsSync,
  lchownSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readlinkSync,
  statSync,
} from 'node:fs';
import { basename, dirname, resolve as hostResolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tarStream from 'tar-stream';
import type { Context } from '../runtime/context.js';
import { reconcile } from '../runtime/reconcile.js';
import { isSameProcess } from '../runtime/proc.js';
import type { ContainerConfig } from '../runtime/config.js';
import { findContainer, type ContainerRow } from '../store/containers.js';
import { getImage } from '../store/images.js';
import { applyChange, parseConfig, serializeConfig, type ContainerDefaults } from '../image/config.js';
import { registerLayer } from '../image/layers.js';
import { chainBaseFirst, commitImage, parseTagTarget } from '../image/store.js';
import { driverByName } from '../graph/select.js';
import { withReadOnlyView } from '../graph/view.js';
import { ConflictError, EXIT_MANAGEMENT, NotFoundError, UsageError } from '../util/errors.js';
import { components, relativeTo, resolveScoped } from './scoped.js';
import { entry, streamEntry } from './tar-write.js';
import { shiftTarIds } from './idshift.js';
import { getUsernsRange } from '../store/userns.js';

async function container(ctx: Context, ref: string): Promise<ContainerRow> {
  return reconcile(ctx, findContainer(ctx.db(), ref));
}

function isRunning(row: ContainerRow): boolean {
  return (row.state === 'running' || row.state === 'paused') && isSameProcess(row.pid, row.pid_start);
}

/** Runs fn on a read-only view of the container's whole file system. */
function withContainerView<T>(ctx: Context, row: ContainerRow, fn: (root: string) => Promise<T>): Promise<T> {
  return withReadOnlyView(driverByName(ctx, row.driver), row.rw_layer, ctx.layout.tmp, fn);
}

// ---------------------------------------------------------------------------------------------
// diff

export interface Change {
  kind: 'A' | 'C' | 'D';
  path: string;
}

/** The changes of the container's read-write layer, as `docker diff` lists them. */
export async function containerDiff(ctx: Context, ref: string): Promise<Change[]> {
  const row = await container(ctx, ref);
  const driver = driverByName(ctx, row.driver);
  // What was there before: the image with the -init layer on top.
  return withReadOnlyView(driver, row.init_layer, ctx.layout.tmp, async (below) => {
    const changes = new Map<string, Change['kind']>();
    const extract = tarStream.extract();
    const src = driver.diff(row.rw_layer);
    src.on('error', (err) => extract.destroy(err));
    src.pipe(extract);
    for await (const e of extract) {
      e.resume();
      const name = components(e.header.name).join('/');
      if (name === '') continue;
      const base = basename(name);
      const dir = dirname(name) === '.' ? '' : dirname(name);
      if (base === '.wh..wh..opq') continue;
      if (base.startsWith('.wh.')) {
        changes.set(`/${dir ? dir + '/' : ''}${base.slice(4)}`, 'D');
        continue;
      }
      let existed = false;
      try {
        lstatSync(`${below}/${name}`);
        existed = true;
      } catch {
        /* new */
      }
      changes.set(`/${name}`, existed ? 'C' : 'A');
    }
    return [...changes.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([path, kind]) => ({ kind, path }));
  });
}

// ---------------------------------------------------------------------------------------------
// commit

export interface CommitOptions {
  changes: readonly string[];
  message: string | undefined;
  author: string | undefined;
}

/** A new image: the container's image plus its read-write layer, with the container's command
 *  and environment as defaults (as docker commit), `-c` changes applied on top. */
export async function commitContainer(ctx: Context, ref: string, tag: string | undefined, o: CommitOptions): Promise<string> {
  const name = tag !== undefined ? parseTagTarget(tag) : undefined;
  const row = await container(ctx, ref);
  const db = ctx.db();
  const image = getImage(db, row.image_id);
  if (!image) throw new NotFoundError(`the image of container ${row.name} is gone`);
  const base = parseConfig(image.config);
  const cc = JSON.parse(row.config) as ContainerConfig;
  let defaults: ContainerDefaults = { ...(base.config ?? {}), Env: cc.env, Cmd: cc.cmd, Entrypoint: cc.entrypoint };
  for (const c of o.changes) defaults = applyChange(defaults, c);
  const driver = driverByName(ctx, row.driver);
  const parent = chainBaseFirst(db, image.top_layer).pop() ?? null;
  const created = new Date().toISOString();
  let id = '';
  // --userns=auto: the layer's files are owned by host ids; the image gets the container's own
  const range = getUsernsRange(db, row.id);
  await registerLayer(db, driver, {
    parent,
    source: range ? shiftTarIds(driver.diff(row.rw_layer) as Readable, range) : driver.diff(row.rw_layer),
    inTx: (layer) => {
      const cfg = {
        ...base,
        created,
        ...(o.author !== undefined ? { author: o.author } : {}),
        config: defaults,
        rootfs: { type: 'layers' as const, diff_ids: [...base.rootfs.diff_ids, layer.diff_id] },
        history: [
          ...(base.history ?? []),
          {
            created,
            created_by: cc.args.join(' '),
            ...(o.author !== undefined ? { author: o.author } : {}),
            ...(o.message !== undefined ? { comment: o.message } : {}),
          },
        ],
      };
      id = commitImage(db, serializeConfig(cfg), layer, name !== undefined ? [name] : []);
    },
  });
  return id;
}

// ---------------------------------------------------------------------------------------------
// export

/** Writes a tar of the container's whole file system to `out`. */
export async function exportContainer(ctx: Context, ref: string, out: NodeJS.WritableStream): Promise<void> {
  const row = await container(ctx, ref);
  const { compareDiffTar } = await import('../graph/tar-diff.js');
  const range = getUsernsRange(ctx.db(), row.id); // --userns=auto: host ids back to the container's
  await withContainerView(ctx, row, async (root) => {
    const tar = compareDiffTar(root, null) as Readable;
    await pipeline(range ? shiftTarIds(tar, range) : tar, out);
  });
}

// ---------------------------------------------------------------------------------------------
// cp

export interface CopyEnd {
  container: string | undefined;
  path: string;
}

/** Splits `name:path` (container side) from a host path, as docker cp does. */
export function parseCopyArg(arg: string): CopyEnd {
  if (arg.startsWith('/') || arg.startsWith('.') || arg === '-') return { container: undefined, path: arg };
  const i = arg.indexOf(':');
  if (i <= 0) return { container: undefined, path: arg };
  return { container: arg.slice(0, i), path: arg.slice(i + 1) || '/' };
}

/** A tar holding `abs` under `name` (a file, or a directory with everything below it), files
 *  streamed; sockets, devices and fifos are left out. */
function tarOfPath(abs: string, name: string): Readable {
  const pack = tarStream.pack();
  const add = async (path: string, as: string): Promise<void> => {
    const st = lstatSync(path);
    const base = { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: st.mtime };
    if (st.isSymbolicLink()) await entry(pack, { ...base, name: as, type: 'symlink', linkname: readlinkSync(path) });
    else if (st.isFile()) await streamEntry(pack, { ...base, name: as, type: 'file', size: st.size }, createReadStream(path));
    else if (st.isDirectory()) {
      await entry(pack, { ...base, name: as + '/', type: 'directory' });
      for (const n of readdirSync(path).sort()) await add(`${path}/${n}`, `${as}/${n}`);
    }
  };
  add(abs, name).then(
    () => pack.finalize(),
    (err: unknown) => pack.destroy(err instanceof Error ? err : new Error(String(err))),
  );
  return Readable.from(pack as AsyncIterable<Buffer>, { objectMode: false });
}

/**
 * --userns=auto: what `cp` just wrote into the container is owned by host ids below the range
 * (root's 0 here), which the container sees as nobody. Give each copied entry the container's
 * own owner instead (host BASE+N for N), as docker cp does under --userns-remap; an entry that
 * already shows a mapped owner (a directory that was there) is left alone.
 */
function ownInRange(host: string, to: string, r: { uidBase: number; gidBase: number; size: number }): void {
  const st = lstatSync(to);
  if (st.uid < r.size && st.gid < r.size) lchownSync(to, r.uidBase + st.uid, r.gidBase + st.gid);
  if (lstatSync(host).isDirectory()) for (const n of readdirSync(host)) ownInRange(`${host}/${n}`, `${to}/${n}`, r);
}

/** docker cp's rules for where SRC lands when copied to DEST. */
function destinationFor(srcIsDir: boolean, srcPath: string, destExists: boolean, destIsDir: boolean, dest: string): string {
  const contentsOnly = srcPath.endsWith('/.');
  if (srcIsDir) {
    if (!destExists) return dest;
    if (!destIsDir) throw new UsageError(`cannot copy a directory to a file: ${dest}`);
    return contentsOnly ? dest : `${dest}/${basename(srcPath.replace(/\/+$/, ''))}`;
  }
  if (destExists && destIsDir) return `${dest}/${basename(srcPath)}`;
  if (!destExists && dest.endsWith('/')) throw new NotFoundError(`no such directory: ${dest}`);
  return dest;
}

function statOrUndefined(p: string) {
  try {
    return statSync(p);
  } catch {
    return undefined;
  }
}

export async function copyCommand(ctx: Context, srcArg: string, destArg: string): Promise<void> {
  const src = parseCopyArg(srcArg);
  const dest = parseCopyArg(destArg);
  if ((src.container === undefined) === (dest.container === undefined)) {
    throw new UsageError(
      'copying between containers, or between two host paths, is not supported: one side must be CONTAINER:PATH',
    );
  }
  if (src.container !== undefined) {
    const row = await container(ctx, src.container);
    const read = async (root: string) => {
      const abs = resolveScoped(root, src.path, src.path.endsWith('/'));
      const st = lstatSync(abs, { throwIfNoEntry: false });
      if (!st) throw new NotFoundError(`Could not find the file ${src.path} in container ${src.container}`, EXIT_MANAGEMENT);
      if (dest.path === '-') {
        const tar = tarOfPath(abs, basename(src.path.replace(/\/+$/, '')) || '.');
        const range = getUsernsRange(ctx.db(), row.id); // --userns=auto: the container's own ids
        await pipeline(range ? shiftTarIds(tar, range) : tar, process.stdout);
        return;
      }
      const target = hostResolve(dest.path);
      const dst = statOrUndefined(target);
      const to = destinationFor(
        st.isDirectory(),
        src.path,
        dst !== undefined,
        dst?.isDirectory() ?? false,
        dest.path.endsWith('/') ? target + '/' : target,
      );
      if (!existsSync(dirname(to))) throw new NotFoundError(`no such directory: ${dirname(to)}`);
      cpSync(abs, to, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true, force: true });
    };
    // a running container through its own root (with its /etc/hostname and volumes), a stopped
    // one through a read-only view of its layers
    if (isRunning(row)) await read(`/proc/${row.pid}/root`);
    else await withContainerView(ctx, row, read);
    return;
  }
  // host -> container
  const host = hostResolve(src.path);
  const hst = lstatSync(host, { throwIfNoEntry: false });
  if (!hst) throw new NotFoundError(`no such file or directory: ${src.path}`);
  const row = await container(ctx, dest.container!);
  const range = getUsernsRange(ctx.db(), row.id);
  const write = (root: string) => {
    const parentAbs = resolveScoped(root, dirname(dest.path));
    const last = basename(dest.path);
    const full = components(dest.path).length === 0 ? root : resolveScoped(root, dest.path);
    const st = statOrUndefined(full);
    const toRel = destinationFor(
      hst.isDirectory(),
      src.path,
      st !== undefined,
      st?.isDirectory() ?? false,
      relativeTo(root, st ? full : `${parentAbs}/${last}`) + (dest.path.endsWith('/') ? '/' : ''),
    );
    const to = resolveScoped(root, toRel, false);
    if (!existsSync(dirname(to))) throw new NotFoundError(`no such directory: ${dirname(dest.path)} in container ${row.name}`);
    cpSync(host, to, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true, force: true });
    if (range) ownInRange(host, to, range);
  };
  if (isRunning(row)) {
    if (row.state === 'paused') throw new ConflictError(`container ${row.name} is paused: unpause it first`, EXIT_MANAGEMENT);
    write(`/proc/${row.pid}/root`);
    return;
  }
  const driver = driverByName(ctx, row.driver);
  const root = await driver.mount(row.rw_layer);
  try {
    mkdirSync(root, { recursive: true });
    write(root);
  } finally {
    await driver.unmount(row.rw_layer);
  }
}
