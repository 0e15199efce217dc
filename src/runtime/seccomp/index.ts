// The container's seccomp filter: which profile (default, unconfined, a user's file) and its
// `linux.seccomp` for the container's capabilities. See docs/security.md.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { defaultProfile } from './default.js';
import { toOciSeccomp, type OciSeccomp, type SeccompProfile } from './profile.js';
import { traceEvent, tracing } from '../../util/trace.js';

export { parseProfile, toOciSeccomp, type OciSeccomp, type SeccompProfile } from './profile.js';
export { defaultProfile } from './default.js';

/** What `--security-opt seccomp=` chose; stored in the container's config. */
export type SeccompChoice =
  | { mode: 'default' }
  | { mode: 'unconfined' }
  /** a user's profile, read and checked at create (as docker stores it), kept as parsed */
  | { mode: 'profile'; source: string; profile: SeccompProfile };

/** `linux.seccomp` for the spec, or undefined for no filter at all. A container created
 *  before seccomp existed (no choice stored) gets the default, as docker's would. */
export function specSeccomp(choice: SeccompChoice | undefined, capabilities: readonly string[]): OciSeccomp | undefined {
  const c = choice ?? { mode: 'default' };
  if (c.mode === 'unconfined') {
    if (tracing()) traceEvent('seccomp profile', 'unconfined: no filter', 0, 'every system call reaches the kernel');
    return undefined;
  }
  const t0 = performance.now();
  const profile = c.mode === 'default' ? defaultProfile() : c.profile;
  const oci = toOciSeccomp(profile, capabilities);
  if (tracing()) {
    const names = oci.syscalls.reduce((n, r) => n + r.names.length, 0);
    traceEvent(
      'seccomp profile',
      `${c.mode === 'default' ? 'default' : c.source} profile: default ${oci.defaultAction}, ` +
        `${oci.syscalls.length} of ${profile.syscalls.length} rules apply (${names} syscall names), ` +
        `architectures ${oci.architectures.join(',') || 'native'}`,
      performance.now() - t0,
      "only the rules for this container's capabilities and architecture go to the helper",
    );
  }
  return oci;
}

/** Where the helper keeps compiled filters (`--seccomp-cache`): root's alone, as the state. */
export function seccompCacheDir(stateRoot: string): string {
  const dir = join(stateRoot, 'seccomp-cache');
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}
