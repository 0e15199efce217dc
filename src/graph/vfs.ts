// The vfs driver: every layer is a full copy of the tree, so it works on any file system.
//
//   <home>/dir/<id>          the layer's full tree (a copy of its parent's plus its changes)
//   <home>/meta/<id>.json    {"parent": "<id>" | null}, to diff against
//
// A copy is made with `cp -a` (GNU coreutils): it keeps modes, owners, times to the
// nanosecond, symlinks, hard links, device nodes, fifos and xattrs, and reflinks where the file
// system can. The rootfs "mount" is a bind of the directory onto itself.
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { execInput, firstLine } from '../util/exec.js';
import { ConflictError, SystemError } from '../util/errors.js';
import type { ApplyResult, DriverStatus, GraphDriver, MountSpec } from './driver.js';
import { exists, removeTreeSync, dirSize, mtimeMs } from './fsutil.js';
import { backingFsName } from './overlay.js';
import { lazyTar } from './lazy.js';
import { TreeLayers } from './tree-layers.js';

export class VfsDriver implements GraphDriver {
  readonly name = 'vfs';
  private readonly layers: TreeLayers;

  constructor(readonly home: string) {
    this.layers = new TreeLayers(this.name, home, 'dir');
  }

  /** The layer's tree. */
  dir(id: string): string {
    return this.layers.dir(id);
  }

  /** The parent recorded for `id` (null: a base layer). */
  parent(id: string): string | null {
    return this.layers.parent(id);
  }

  status(): DriverStatus {
    return {
      'Backing Filesystem': backingFsName(this.home),
      Layers: String(readdirSync(`${this.home}/dir`).length),
    };
  }

  exists(id: string): boolean {
    return exists(this.dir(id));
  }

  list(): { id: string; modifiedMs: number }[] {
    const ids = new Set(readdirSync(`${this.home}/dir`));
    for (const m of readdirSync(`${this.home}/meta`)) if (m.endsWith('.json')) ids.add(m.slice(0, -5));
    return [...ids].map((id) => ({ id, modifiedMs: Math.max(mtimeMs(this.dir(id)), mtimeMs(this.layers.metaPath(id))) }));
  }

  diffSize(id: string): number {
    return dirSize(this.dir(id));
  }

  async create(id: string, parent: string | null): Promise<void> {
    const d = this.dir(id);
    if (exists(d)) throw new ConflictError(`vfs graph driver: layer ${id} already exists`);
    try {
      if (parent === null) {
        mkdirSync(d, { mode: 0o755 });
      } else {
        const pd = this.layers.need(parent);
        const r = await execInput('cp', ['-a', '--reflink=auto', '--', pd, d], '');
        if (r.code !== 0) {
          throw new SystemError(`vfs graph driver: cannot copy layer ${parent} to ${id}: ${firstLine(r.stderr || r.stdout)}`);
        }
      }
      this.layers.writeParent(id, parent);
    } catch (e) {
      rmSync(d, { recursive: true, force: true });
      this.layers.removeMeta(id);
      throw e;
    }
  }

  async applyDiff(id: string, tar: Readable): Promise<ApplyResult> {
    const { applyLayerTar } = await import('./tar-apply.js');
    return applyLayerTar(this.layers.need(id), tar, { whiteouts: 'delete' });
  }

  contentDir(id: string): string {
    return this.layers.need(id);
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

  /** The tree is already a directory on the host: nothing to mount. */
  async mount(id: string): Promise<string> {
    return this.layers.need(id);
  }

  async unmount(id: string): Promise<void> {
    this.layers.need(id);
  }

  async remove(id: string): Promise<void> {
    const d = this.dir(id);
    removeTreeSync(d);
    this.layers.removeMeta(id);
  }
}
