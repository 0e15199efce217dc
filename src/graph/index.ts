// Choosing and opening a graph driver.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { release } from 'node:os';
import { UnsupportedError, UsageError } from '../util/errors.js';
import type { GraphDriver } from './driver.js';
import { OverlayDriver, backingFsName } from './overlay.js';
import { VfsDriver } from './vfs.js';
import { BtrfsDriver, onBtrfs } from './btrfs.js';
import { DevmapperDriver } from './devmapper/index.js';
import { deviceMapperMissing } from './devmapper/pool.js';
import type { DB } from '../store/db.js';

export type { ApplyResult, DriverStatus, GraphDriver, MountSpec } from './driver.js';
export { OverlayDriver } from './overlay.js';
export { VfsDriver } from './vfs.js';
export { BtrfsDriver } from './btrfs.js';
export { DevmapperDriver } from './devmapper/index.js';

export type DriverName = 'overlay' | 'btrfs' | 'devicemapper' | 'vfs';
export const DRIVER_NAMES: readonly DriverName[] = ['overlay', 'btrfs', 'devicemapper', 'vfs'];
/** Drivers of the architecture that this build does not implement yet. */
const PLANNED = ['aufs'];

/** What a driver may need besides its home: the state database and --storage-opt values. */
export interface DriverOptions {
  db?: () => DB;
  storageOpts?: readonly string[];
}

/** File systems the running kernel has, from /proc/filesystems. */
function kernelFilesystems(): Set<string> {
  try {
    const text = readFileSync('/proc/filesystems', 'utf8');
    return new Set(
      text
        .split('\n')
        .map((l) => l.split('\t').pop()!.trim())
        .filter(Boolean),
    );
  } catch {
    return new Set();
  }
}

/** Does the kernel have overlayfs, loaded or as a module it will load on the first mount? */
export function overlaySupported(): boolean {
  if (kernelFilesystems().has('overlay')) return true;
  const dir = `/lib/modules/${release()}/kernel/fs/overlayfs`;
  try {
    return existsSync(dir) && readdirSync(dir).some((f) => f.startsWith('overlay.ko'));
  } catch {
    return false;
  }
}

/** The kernel lists btrfs, built in or loaded. */
export function btrfsSupported(): boolean {
  return kernelFilesystems().has('btrfs');
}

/** As the issue asks (and docker since 23.0): overlay when the kernel has it and the state root
 *  is not itself on overlayfs, then btrfs when the state root is on btrfs, then vfs.
 *  (docker 20.10 tried btrfs first.) `stateRoot` omitted: overlay or vfs only. */
export function defaultDriverName(stateRoot?: string): DriverName {
  let onOverlay = false;
  try {
    onOverlay = stateRoot !== undefined && backingFsName(stateRoot) === 'overlayfs';
  } catch {
    /* not there yet */
  }
  if (overlaySupported() && !onOverlay) return 'overlay';
  if (stateRoot !== undefined && btrfsSupported() && onBtrfs(stateRoot)) return 'btrfs';
  return 'vfs';
}

/** Opens (creating its home if needed) the driver `name` rooted at `home`. */
export function openDriver(name: string, home: string, opts: DriverOptions = {}): GraphDriver {
  if (name !== 'devicemapper' && opts.storageOpts !== undefined && opts.storageOpts.length > 0) {
    throw new UsageError(`graph driver "${name}" takes no storage options (given: ${opts.storageOpts.join(' ')})`);
  }
  switch (name) {
    case 'overlay':
      if (!overlaySupported()) {
        throw new UnsupportedError(
          'graph driver "overlay" needs overlayfs, which this kernel does not list in /proc/filesystems nor have as a module',
        );
      }
      return new OverlayDriver(home);
    case 'vfs':
      return new VfsDriver(home);
    case 'btrfs':
      if (!btrfsSupported()) {
        throw new UnsupportedError('graph driver "btrfs" needs btrfs, which this kernel does not list in /proc/filesystems');
      }
      return new BtrfsDriver(home);
    case 'devicemapper': {
      const db = opts.db;
      if (db === undefined) throw new UsageError('graph driver "devicemapper" needs the state database');
      return new DevmapperDriver(home, { db, storageOpts: opts.storageOpts ?? [] });
    }
    default:
      if (PLANNED.includes(name)) {
        throw new UnsupportedError(`graph driver "${name}" is not implemented yet; use "overlay" or "vfs"`);
      }
      throw new UsageError(`unknown graph driver "${name}" (known: ${DRIVER_NAMES.join(', ')})`);
  }
}

/** Per driver, "usable" or the one reason it is not, for `info` (no tool is run). */
export function driverAvailability(stateRoot: string): Record<string, string> {
  let fs = '?';
  try {
    fs = backingFsName(stateRoot);
  } catch {
    /* not made yet */
  }
  const out: Record<string, string> = {};
  out['overlay'] = !overlaySupported()
    ? 'unusable: the kernel has no overlayfs'
    : fs === 'overlayfs'
      ? 'unusable: the state root is on overlayfs'
      : 'usable';
  out['btrfs'] = !btrfsSupported()
    ? 'unusable: the kernel has no btrfs'
    : onBtrfs(stateRoot)
      ? 'usable'
      : `unusable: the state root is on ${fs}, not btrfs`;
  const dm = deviceMapperMissing();
  out['devicemapper'] = dm === null ? 'usable' : 'unusable: the kernel has no device-mapper';
  out['aufs'] = kernelFilesystems().has('aufs')
    ? 'unusable: not implemented in this build'
    : 'unusable: the kernel has no aufs (and this build does not implement it)';
  out['vfs'] = 'usable';
  return out;
}
