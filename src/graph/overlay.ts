// The overlay driver, laid out like containers/storage's:
//
//   <home>/<id>/diff     the layer's own content (the overlay upper dir while it is the top)
//   <home>/<id>/work     overlay's work dir (same file system as diff)
//   <home>/<id>/merged   where `mount(id)` puts the full view on the host
//   <home>/<id>/link     the layer's short name, L
//   <home>/<id>/lower    "l/P:l/Q:..." the short links of every layer below, parent first
//                        (absent for a base layer)
//   <home>/<id>/empty    a base layer's stand-in lower dir (overlay needs at least one)
//   <home>/l/L  ->  ../<id>/diff
//
// Mount data uses paths relative to <home> (the MountSpec's cwd), so a deep chain fits in the
// one page mount(2) copies. Short names are 16 base32 characters (80 random bits) rather than
// containers/storage's 26: with 26, each lower costs 29 bytes and 150 layers (4350 bytes) would
// not fit in 4096; with 16 it costs 19, so MAX_DEPTH (200) lowers fit with layer ids of up to
// 109 characters (a 64-hex id plus a suffix is far below that; mountSpec checks the length).
import {
  mkdirSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  statfsSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import type { Readable } from 'node:stream';
import { ConflictError, NotFoundError, SystemError, UnsupportedError } from '../util/errors.js';
import type { ApplyResult, DriverStatus, GraphDriver, MountSpec } from './driver.js';
import {
  checkLayerId,
  exists,
  hostMount,
  hostUnmount,
  isMountPoint,
  randomName,
  removeTreeSync,
  dirSize,
  mtimeMs,
} from './fsutil.js';
import { lazyTar } from './lazy.js';
import { traceEvent, tracing } from '../util/trace.js';

export const LINK_DIR = 'l';
export const LINK_LENGTH = 16;
/** Most layers below a layer (its lower dirs). The kernel allows 500; the page allows ~200. */
export const MAX_DEPTH = 200;
/** mount(2) copies one page of data, NUL included. */
export const PAGE_SIZE = 4096;
/** Options appended to every mount: no inode index, no directory redirects, no metacopy, so
 *  that an upper dir is always a plain, self-contained record of the layer's changes. */
export const EXTRA_OPTIONS = 'index=off,redirect_dir=off,metacopy=off';

const FS_NAMES: Record<number, string> = {
  0xef53: 'extfs',
  0x58465342: 'xfs',
  0x9123683e: 'btrfs',
  0x01021994: 'tmpfs',
  0x794c7630: 'overlayfs',
  0x2fc12fc1: 'zfs',
  0xf2f52010: 'f2fs',
};

export function backingFsName(path: string): string {
  const t = statfsSync(path).type;
  return FS_NAMES[t] ?? `0x${t.toString(16)}`;
}

export class OverlayDriver implements GraphDriver {
  readonly name = 'overlay';

  constructor(readonly home: string) {
    mkdirSync(`${home}/${LINK_DIR}`, { recursive: true, mode: 0o700 });
    if (backingFsName(home) === 'overlayfs') {
      throw new UnsupportedError(`graph driver "overlay" cannot keep its layers in ${home}, which is itself on overlayfs`);
    }
  }

  private dir(id: string): string {
    checkLayerId(this.name, id, [LINK_DIR]);
    return `${this.home}/${id}`;
  }

  private need(id: string): string {
    const d = this.dir(id);
    if (!exists(`${d}/diff`)) throw new NotFoundError(`overlay graph driver: layer ${id} does not exist`);
    return d;
  }

  status(): DriverStatus {
    let layers = 0;
    for (const e of readdirSync(this.home, { withFileTypes: true })) if (e.isDirectory() && e.name !== LINK_DIR) layers++;
    return {
      'Backing Filesystem': backingFsName(this.home),
      'Supports d_type': 'true',
      'Native Overlay Diff': 'false',
      Layers: String(layers),
    };
  }

  exists(id: string): boolean {
    return exists(`${this.dir(id)}/diff`);
  }

  list(): { id: string; modifiedMs: number }[] {
    return readdirSync(this.home, { withFileTypes: true })
      .filter((e) => e.isDirectory() && e.name !== LINK_DIR)
      .map((e) => ({ id: e.name, modifiedMs: mtimeMs(`${this.home}/${e.name}`) }));
  }

  diffSize(id: string): number {
    return dirSize(`${this.dir(id)}/diff`);
  }

  /** The "l/A:l/B" list of the layers below `id` ("" for a base layer). */
  lowers(id: string): string {
    const d = this.need(id);
    try {
      return readFileSync(`${d}/lower`, 'utf8').trim();
    } catch {
      return '';
    }
  }

  async create(id: string, parent: string | null): Promise<void> {
    const d = this.dir(id);
    let lower = '';
    if (parent !== null) {
      const pd = this.need(parent);
      const plink = readFileSync(`${pd}/link`, 'utf8').trim();
      const plower = this.lowers(parent);
      lower = plower ? `${LINK_DIR}/${plink}:${plower}` : `${LINK_DIR}/${plink}`;
      const depth = lower.split(':').length;
      if (depth > MAX_DEPTH) {
        throw new UnsupportedError(
          `overlay graph driver: layer ${id} would have ${depth} layers below it, more than the ${MAX_DEPTH} one mount can take`,
        );
      }
    }
    try {
      mkdirSync(d, { mode: 0o700 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST')
        throw new ConflictError(`overlay graph driver: layer ${id} already exists`);
      throw e;
    }
    try {
      mkdirSync(`${d}/diff`, { mode: 0o755 });
      mkdirSync(`${d}/work`, { mode: 0o700 });
      mkdirSync(`${d}/merged`, { mode: 0o700 });
      if (parent === null) mkdirSync(`${d}/empty`, { mode: 0o755 });
      let link = '';
      for (let attempt = 0; ; attempt++) {
        link = randomName(LINK_LENGTH);
        try {
          symlinkSync(`../${id}/diff`, `${this.home}/${LINK_DIR}/${link}`);
          break;
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 10) throw e;
        }
      }
      writeFileSync(`${d}/link`, link);
      if (lower) writeFileSync(`${d}/lower`, lower);
    } catch (e) {
      await this.remove(id).catch(() => undefined);
      throw e;
    }
  }

  async applyDiff(id: string, tar: Readable): Promise<ApplyResult> {
    const { applyLayerTar } = await import('./tar-apply.js');
    return applyLayerTar(`${this.need(id)}/diff`, tar, { whiteouts: 'overlay' });
  }

  contentDir(id: string): string {
    return `${this.need(id)}/diff`;
  }

  diff(id: string): Readable {
    const upper = `${this.need(id)}/diff`;
    return lazyTar(async () => (await import('./tar-diff.js')).overlayDiffTar(upper));
  }

  async populate(id: string, fn: (dir: string) => void | Promise<void>): Promise<void> {
    await fn(`${this.need(id)}/diff`);
  }

  mountSpec(id: string): { spec: MountSpec; target: string } {
    const d = this.need(id);
    const lower = this.lowers(id) || `${id}/empty`;
    const data = `lowerdir=${lower},upperdir=${id}/diff,workdir=${id}/work,${EXTRA_OPTIONS}`;
    if (data.length >= PAGE_SIZE) {
      throw new UnsupportedError(
        `overlay graph driver: the mount data for layer ${id} is ${data.length} bytes, more than one page`,
      );
    }
    if (tracing()) {
      const n = lower.split(':').length;
      traceEvent(
        'layer chain',
        `overlay ${n} lower layer(s) under ${id}: ${data} (in ${this.home})`,
        0,
        'copy-on-write root: reads fall through to the image layers, writes land in upperdir',
      );
    }
    return { spec: { type: 'overlay', source: 'overlay', data, cwd: this.home }, target: `${d}/merged` };
  }

  async mount(id: string): Promise<string> {
    const { spec, target } = this.mountSpec(id);
    if (isMountPoint(target)) return target;
    await hostMount(spec.type, spec.source, spec.data, target, spec.cwd);
    return target;
  }

  async unmount(id: string): Promise<void> {
    await hostUnmount(`${this.need(id)}/merged`);
  }

  async remove(id: string): Promise<void> {
    const d = this.dir(id);
    if (!exists(d)) return;
    if (isMountPoint(`${d}/merged`)) await hostUnmount(`${d}/merged`);
    let link = '';
    try {
      link = readFileSync(`${d}/link`, 'utf8').trim();
    } catch {
      /* never written */
    }
    if (link) {
      try {
        unlinkSync(`${this.home}/${LINK_DIR}/${link}`);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT')
          throw new SystemError(`overlay graph driver: cannot remove link ${link} of layer ${id}`, { cause: e });
      }
    }
    removeTreeSync(d);
    // A crash between making the short link and writing the link file leaves a short link
    // nobody records: sweep any that still point at this id.
    for (const name of readdirSync(`${this.home}/${LINK_DIR}`)) {
      const path = `${this.home}/${LINK_DIR}/${name}`;
      try {
        if (readlinkSync(path) === `../${id}/diff`) rmSync(path, { force: true });
      } catch {
        /* not a link: not ours */
      }
    }
  }
}
