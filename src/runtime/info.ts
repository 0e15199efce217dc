// `version` and `info`: what tscontainer is and what it found on this machine.
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { release, arch } from 'node:os';
import type { Context } from './context.js';
import { detectCgroups } from '../cgroups/index.js';
import { imageDriver } from '../graph/select.js';
import { driverAvailability } from '../graph/index.js';
import { packageRoot } from '../util/paths.js';
import { helperPath } from './helper.js';
import { countContainersByState } from '../store/containers.js';
import { countImages } from '../store/images.js';
import { countUsernsRanges } from '../store/userns.js';
import { idmappedLayersSupported } from './subids.js';

export function versionInfo(): Record<string, string> {
  const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string };
  let helper = 'not built (run npm run build)';
  try {
    helper = existsSync(helperPath()) ? helperPath() : helper;
  } catch {
    /* keep the message */
  }
  return {
    Version: pkg.version,
    'Node.js': process.version,
    OS: `linux/${arch() === 'x64' ? 'amd64' : arch()}`,
    Kernel: release(),
    Helper: helper,
  };
}

export async function systemInfo(ctx: Context): Promise<Record<string, unknown>> {
  const db = ctx.db();
  const c = countContainersByState(db);
  const driver = await imageDriver(ctx);
  const cg = detectCgroups();
  return {
    Containers: c.created + c.running + c.paused + c.exited + c.removing,
    Running: c.running,
    Paused: c.paused,
    Stopped: c.created + c.exited,
    Images: countImages(db),
    'Storage Driver': driver.name,
    'Storage Status': driver.status(),
    'Storage Drivers': driverAvailability(ctx.roots.state),
    'Cgroup Version': String(cg.version),
    'User Namespaces': usernsSupport(),
    'User Namespace Ranges In Use': countUsernsRanges(db),
    'State Root': ctx.roots.state,
    'Run Root': ctx.roots.run,
    'Kernel Version': release(),
    ...versionInfo(),
  };
}

/** How --userns=auto makes the rootfs usable: idmapped layers where the kernel can idmap the
 *  overlay's lower dirs (5.19), else nothing yet (the chown'd-copy fallback is not built). */
function usernsSupport(): string {
  return idmappedLayersSupported()
    ? 'auto: idmapped overlay layers (no copy); host: the default'
    : "host only: this kernel cannot idmap overlay layers and the chown'd-copy fallback is not built";
}
