// The btrfs driver, laid out like docker's:
//
//   <home>/subvolumes/<id>   the layer: a subvolume (base layer) or a snapshot of its parent's
//   <home>/meta/<id>.json    {"parent": "<id>" | null}, to diff against
//
// A child is `btrfs subvolume snapshot` of its parent, so it starts as a copy-on-write full tree
// at no cost; the changes of a layer are found by comparing its tree with its parent's, as vfs
// does. Quotas are never enabled (docker's default, and qgroups slow every snapshot). The state
// root must be on btrfs. Subvolumes are made and removed with the `btrfs` command of
// btrfs-progs (Node has no ioctl); the rootfs "mount" is a bind of the subvolume.
import { lstatSync, readdirSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { execInput, execInputSync, firstLine } from '../util/exec.js';
import { ConflictError, SystemError, UnsupportedError } from '../util/errors.js';
import type { ApplyResult, DriverStatus, GraphDriver, MountSpec } from './driver.js';
import { exists, removeTreeSync, dirSize, mtimeMs, mountsUnder } from './fsutil.js';
import { backingFsName } from './overlay.js';
import { lazyTar } from './lazy.js';
import { TreeLayers } from './tree-layers.js';

/** The inode number of every subvolume's root directory (BTRFS_FIRST_FREE_OBJECTID). */
const SUBVOLUME_ROOT_INO = 256;

/** Is `path` on btrfs? The nearest existing ancestor is asked when `path` does not exist yet. */
export function onBtrfs(path: string): boolean {
  let p = path;
  for (;;) {
    try {
      return backingFsName(p) === 'btrfs';
    } catch {
      const up = p.replace(/\/[^/]*\/?$/, '');
      if (up === p || up === '') return backingFsName('/') === 'btrfs';
      p = up;
    }
  }
}

/** Runs `btrfs ARGS`; a missing btrfs-progs is one clear error. */
async function btrfs(args: string[]): Promise<{ code: number; out: string }> {
  try {
    const r = await execInput('btrfs', args, '');
    return { code: r.code, out: firstLine(r.stderr || r.stdout) };
  } catch (e) {
    throw new UnsupportedError(`btrfs graph driver: cannot run the btrfs command (install btrfs-progs): ${(e as Error).message}`);
  }
}

export class BtrfsDriver implements GraphDriver {
  readonly name = 'btrfs';
  private readonly layers: TreeLayers;

  constructor(readonly home: string) {
    if (!onBtrfs(home)) {
      let fs = '?';
      try {
        fs = backingFsName(exists(home) ? home : home.replace(/\/[^/]*\/?$/, '') || '/');
      } catch {
        /* unknown */
      }
      throw new UnsupportedError(`graph driver "btrfs" needs the state root on a btrfs file system, and ${home} is on ${fs}`);
    }
    this.layers = new TreeLayers(this.name, home, 'subvolumes');
  }

  /** The layer's tree. */
  dir(id: string): string {
    return this.layers.dir(id);
  }

  /** The parent recorded for `id` (null: a base layer). */
  parent(id: string): string | null {
    return this.layers.parent(id);
  }

  /** Subvolumes under the driver's home (layers, and any a container made inside its root). */
  subvolumeCount(): number {
    let n = 0;
    for (const name of readdirSync(`${this.home}/subvolumes`)) {
      if (isSubvolume(`${this.home}/subvolumes/${name}`)) n++;
    }
    return n;
  }

  status(): DriverStatus {
    let version = '';
    try {
      version = firstLine(execInputSync('btrfs', ['--version'], '').stdout).replace(/^btrfs-progs\s*/, '');
    } catch {
      version = 'btrfs command not found';
    }
    return {
      'Backing Filesystem': backingFsName(this.home),
      'Build Version': version,
      Subvolumes: String(this.subvolumeCount()),
      Quota: 'disabled',
    };
  }

  exists(id: string): boolean {
    return exists(this.dir(id));
  }

  list(): { id: string; modifiedMs: number }[] {
    const ids = new Set(readdirSync(`${this.home}/subvolumes`));
    for (const m of readdirSync(`${this.home}/meta`)) if (m.endsWith('.json')) ids.add(m.slice(0, -5));
    return [...ids].map((id) => ({ id, modifiedMs: Math.max(mtimeMs(this.dir(id)), mtimeMs(this.layers.metaPath(id))) }));
  }

  diffSize(id: string): number {
    return dirSize(this.dir(id));
  }

  async create(id: string, parent: string | null): Promise<void> {
    const d = this.dir(id);
    if (exists(d)) throw new ConflictError(`btrfs graph driver: layer ${id} already exists`);
    const pd = parent === null ? null : this.layers.need(parent);
    try {
      // the meta file first: a crash after it leaves a name list() reports and prune removes
      this.layers.writeParent(id, parent);
      const r = pd === null ? await btrfs(['subvolume', 'create', d]) : await btrfs(['subvolume', 'snapshot', pd, d]);
      if (r.code !== 0) {
        throw new SystemError(
          pd === null
            ? `btrfs graph driver: cannot create subvolume for layer ${id}: ${r.out}`
            : `btrfs graph driver: cannot snapshot layer ${parent} as ${id}: ${r.out}`,
        );
      }
    } catch (e) {
      await this.remove(id).catch(() => undefined);
      throw e;
    }
  }

  async applyDiff(id: string, tar: Readable): Promise<ApplyResult> {
    const { applyLayerTar } = await import('./tar-apply.js');
    return applyLayerTar(this.layers.need(id), tar, { whiteouts: 'delete' });
  }

  diff(id: string): Readable {
    const d = this.layers.need(id);
    const parent = this.parent(id);
    const base = parent === null ? null : this.layers.need(parent);
    return lazyTar(async () => (await import('./tar-diff.js')).compareDiffTar(d, base));
  }

  async populate(id: string, fn: (dir: string) => void | Promise<void>): Promise<void> {
    await fn(this.layers.need(id));
  }

  mountSpec(id: string): { spec: MountSpec; target: string } {
    const d = this.layers.need(id);
    return { spec: { type: 'bind', source: d, data: 'rbind' }, target: d };
  }

  /** The subvolume is already a directory on the host: nothing to mount. */
  async mount(id: string): Promise<string> {
    return this.layers.need(id);
  }

  async unmount(id: string): Promise<void> {
    this.layers.need(id);
  }

  async remove(id: string): Promise<void> {
    const d = this.dir(id);
    if (exists(d)) {
      const mounted = mountsUnder(d);
      if (mounted.length > 0) throw new SystemError(`btrfs graph driver: cannot remove layer ${id}: ${mounted[0]} is mounted`);
      if (isSubvolume(d)) await deleteSubvolume(d);
      else removeTreeSync(d); // never a subvolume (a failed create): a plain directory
    }
    this.layers.removeMeta(id);
  }
}

function isSubvolume(path: string): boolean {
  try {
    const st = lstatSync(path);
    return st.isDirectory() && st.ino === SUBVOLUME_ROOT_INO;
  } catch {
    return false;
  }
}

/** Subvolumes strictly below `root` (a container may make its own), deepest first. */
function nestedSubvolumes(root: string): string[] {
  const found: string[] = [];
  const rootDev = lstatSync(root).dev;
  const walk = (dir: string, dev: number): void => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      const p = `${dir}/${e.name}`;
      const st = lstatSync(p);
      if (st.ino === SUBVOLUME_ROOT_INO && st.dev !== dev) {
        walk(p, st.dev);
        found.push(p);
      } else walk(p, dev);
    }
  };
  walk(root, rootDev);
  return found;
}

async function deleteSubvolume(path: string): Promise<void> {
  let r = await btrfs(['subvolume', 'delete', path]);
  if (r.code === 0) return;
  // a subvolume holding subvolumes cannot go first: remove the nested ones, deepest first
  for (const sub of nestedSubvolumes(path)) {
    const s = await btrfs(['subvolume', 'delete', sub]);
    if (s.code !== 0) throw new SystemError(`btrfs graph driver: cannot delete subvolume ${sub}: ${s.out}`);
  }
  r = await btrfs(['subvolume', 'delete', path]);
  if (r.code !== 0) throw new SystemError(`btrfs graph driver: cannot delete subvolume ${path}: ${r.out}`);
}
