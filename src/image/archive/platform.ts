// Choosing one image of an index (OCI image index, docker manifest list) by platform.
import { UsageError } from '../../util/errors.js';
import { hostArchitecture } from '../config.js';
import type { Descriptor, Platform } from './types.js';

/** "os/arch[/variant]" -> Platform; no argument means this machine. */
export function parsePlatform(spec: string | undefined): Platform {
  if (spec === undefined || spec === '') {
    const arch = hostArchitecture();
    return arch === 'arm64' ? { os: 'linux', architecture: arch, variant: 'v8' } : { os: 'linux', architecture: arch };
  }
  const parts = spec.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => !/^[a-z0-9_.-]+$/.test(p))) {
    throw new UsageError(`invalid --platform "${spec}": expected os/arch[/variant], e.g. linux/arm64`);
  }
  const p: Platform = { os: parts[0]!, architecture: parts[1]! };
  if (parts[2] !== undefined) p.variant = parts[2];
  return p;
}

export function formatPlatform(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
}

/** The descriptor of `manifests` for `want`: os and architecture must match; a variant in
 *  `want` must match unless the entry has none (arm64's v8 is the default variant). */
export function selectPlatform(manifests: readonly Descriptor[], want: Platform, what: string): Descriptor {
  const candidates = manifests.filter(
    (m) => m.platform !== undefined && m.platform.os === want.os && m.platform.architecture === want.architecture,
  );
  const exact = candidates.find((m) => (m.platform!.variant ?? '') === (want.variant ?? ''));
  const loose = candidates.find((m) => m.platform!.variant === undefined || want.variant === undefined);
  const found = exact ?? loose;
  if (!found) {
    const offered = manifests.filter((m) => m.platform).map((m) => formatPlatform(m.platform!));
    throw new UsageError(
      `${what} has no image for ${formatPlatform(want)}${offered.length > 0 ? ` (it has ${offered.join(', ')})` : ''}`,
    );
  }
  return found;
}
