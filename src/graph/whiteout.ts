// Whiteouts: how a layer says "this name from the layers below is gone".
//
// In a layer tar (docker/aufs encoding, what registries and `docker save` carry):
//   dir/.wh.NAME        NAME is deleted from dir
//   dir/.wh..wh..opq    dir is opaque: nothing of the lower layers' dir shows through
//   .wh..wh.*           other aufs bookkeeping (.wh..wh.plnk, .wh..wh.aufs): ignored
// On an overlayfs upper directory:
//   NAME as a character device 0/0            (a whiteout)
//   dir with xattr trusted.overlay.opaque=y   (an opaque directory)
// The vfs driver has no on-disk form: it applies a whiteout by deleting.

export const WH_PREFIX = '.wh.';
export const WH_META_PREFIX = '.wh..wh.';
export const WH_OPAQUE = '.wh..wh..opq';

export const OVERLAY_OPAQUE_XATTR = 'trusted.overlay.opaque';
export const OVERLAY_OPAQUE_VALUE = 'y';

/** How a driver stores whiteouts: overlay's devices and xattr, or by deleting (vfs). */
export type WhiteoutFormat = 'overlay' | 'delete';

export type WhiteoutKind = { kind: 'none' } | { kind: 'opaque' } | { kind: 'meta' } | { kind: 'whiteout'; name: string };

/** Classifies one path component (a base name) of a tar entry. */
export function classifyName(base: string): WhiteoutKind {
  if (!base.startsWith(WH_PREFIX)) return { kind: 'none' };
  if (base === WH_OPAQUE) return { kind: 'opaque' };
  if (base.startsWith(WH_META_PREFIX)) return { kind: 'meta' };
  return { kind: 'whiteout', name: base.slice(WH_PREFIX.length) };
}

/** The tar base name that deletes `name`. */
export function whiteoutNameFor(name: string): string {
  return WH_PREFIX + name;
}

/** Is a whiteout's target name acceptable (one real path component)? */
export function isValidWhiteoutTarget(name: string): boolean {
  return name !== '' && name !== '.' && name !== '..' && !name.includes('/') && !name.includes('\0');
}

/** Is a stat result an overlay whiteout (character device 0/0)? */
export function isOverlayWhiteout(st: { isCharacterDevice(): boolean; rdev: number | bigint }): boolean {
  return st.isCharacterDevice() && Number(st.rdev) === 0;
}

/** Overlay's own bookkeeping xattrs (opaque, origin, impure, redirect, metacopy, ...), which a
 *  layer tar must neither carry out of an upper dir nor bring into one. */
export function isOverlayPrivateXattr(name: string): boolean {
  return name.startsWith('trusted.overlay.') || name.startsWith('user.overlay.');
}
