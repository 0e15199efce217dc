// The vfs driver: every layer is a full copy of the tree, so it works on any file system.
//
//   <home>/dir/<id>          the layer's full tree (a copy of its parent's plus its changes)
//   <home>/meta/<id>.json    {"parent": "<id>" | null}, to diff against
//
// A copy is made with `cp -a` (GNU coreutils): it keeps modes, owners, times to the
// nanosecond, symlinks, hard links, device nodes, fifos and xattrs, and reflinks where the file
// system can. The rootfs "mount" is a bind of the directory onto itself.
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { execInput, firstLine } from '../util/exec.js';
import { ConflictError, NotFoundError, SystemError } from '../util/errors.js';
import type { ApplyResult, DriverStatus, GraphDriver, MountSpec } from './driver.js';
import { checkLayerId, exists, removeTreeSync, dirSize, mtimeMs } from './fsutil.js';
import { backingFsName } from './overlay.js';
import { lazyTar } from './lazy.js';

interface VfsMeta {
  parent: string | null;
}

export class VfsDriver implements GraphDriver {
  readonly name = 'vfs';

  constructor(readonly home: string) {
    mkdirSync(`${home}/dir`, { recursive: true, mode: 0o700 });
    mkdirSync(`${home}/meta`, { recursive: true, mode: 0o700 });
  }

  /** The layer's directory (its full tree). */
  dir(id: string): string {
    checkLayerId(this.name, id);
    return `${this.home}/dir/${id}`;
  }

  private metaPath(id: string): string {
    return `${this.home}/meta/${id}.json`;
  }

  private need(id: string): string {
    const d = this.dir(id);
    if (!exists(d)) throw new NotFoundError(`vfs graph driver: layer ${id} does not exist`);
    return d;
  }

  /** The parent recorded for `id` (null: a base layer). */
  parent(id: string): string | null {
    this.need(id);
    try {
      return (JSON.parse(readFileSync(this.metaPath(id), 'utf8')) as VfsMeta).parent;
    } catch {
      return null;
    }
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
    return [...ids].map((id) => ({ id, modifiedMs: Math.max(mtimeMs(this.dir(id)), mtimeMs(this.metaPath(id))) }));
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
        const pd = this.need(parent);
        const r = await execInput('cp', ['-a', '--reflink=auto', '--', pd, d], '');
        if (r.code !== 0) {
          throw new SystemError(`vfs graph driver: cannot copy layer ${parent} to ${id}: ${firstLine(r.stderr || r.stdout)}`);
        }
      }
      const meta: VfsMeta = { parent };
      writeFileSync(this.metaPath(id), JSON.stringify(meta));
    } catch (e) {
      rmSync(d, { recursive: true, force: true });
      rmSync(this.metaPath(id), { force: true });
      throw e;
    }
  }

  async applyDiff(id: string, tar: Readable): Promise<ApplyResult> {
    const { applyLayerTar } = await import('./tar-apply.js');
    return applyLayerTar(this.need(id), tar, { whiteouts: 'delete' });
  }

  contentDir(id: string): string {
    return this.need(id);
  }

  diff(id: string): Readable {
    const d = this.need(id);
    const parent = this.parent(id);
    const base = parent === null ? null : this.need(parent);
    return lazyTar(async () => (await import('./tar-diff.js')).compareDiffTar(d, base));
  }

  async populate(id: string, fn: (dir: string) => void | Promise<void>): Promise<void> {
    await fn(this.need(id));
  }

  mountSpec(id: string): { spec: MountSpec; target: string } {
    const d = this.need(id);
    return { spec: { type: 'bind', source: d, data: 'rbind' }, target: d };
  }

  /** The tree is already a directory on the host: nothing to mount. */
  async mount(id: string): Promise<string> {
    return this.need(id);
  }

  async unmount(id: string): Promise<void> {
    this.need(id);
  }

  async remove(id: string): Promise<void> {
    const d = this.dir(id);
    removeTreeSync(d);
    rmSync(this.metaPath(id), { force: true });
  }
}
