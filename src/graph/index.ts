// Choosing and opening a graph driver.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { release } from 'node:os';
import { UnsupportedError, UsageError } from '../util/errors.js';
import type { GraphDriver } from './driver.js';
import { OverlayDriver } from './overlay.js';
import { VfsDriver } from './vfs.js';

export type { ApplyResult, DriverStatus, GraphDriver, MountSpec } from './driver.js';
export { OverlayDriver } from './overlay.js';
export { VfsDriver } from './vfs.js';

export type DriverName = 'overlay' | 'vfs';
export const DRIVER_NAMES: readonly DriverName[] = ['overlay', 'vfs'];
/** Drivers of the architecture that this build does not implement yet. */
const PLANNED = ['aufs', 'devmapper', 'devicemapper'];

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

/** overlay when the kernel has it, else vfs. */
export function defaultDriverName(): DriverName {
  return overlaySupported() ? 'overlay' : 'vfs';
}

/** Opens (creating its home if needed) the driver `name` rooted at `home`. */
export function openDriver(name: string, home: string): GraphDriver {
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
    default:
      if (PLANNED.includes(name)) {
        throw new UnsupportedError(`graph driver "${name}" is not implemented yet; use "overlay" or "vfs"`);
      }
      throw new UsageError(`unknown graph driver "${name}" (known: ${DRIVER_NAMES.join(', ')})`);
  }
}
