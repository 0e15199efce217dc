// Thin devices: made in the pool by message (create_thin for the base device, create_snap for
// every other, with the origin suspended while it is active so the snapshot is consistent),
// activated as `thin` targets under /dev/mapper, given a file system once (the base), and
// deactivated (deferred when still open) and discarded before deletion.
import { execInputSync, firstLine } from '../../util/exec.js';
import { ConflictError, SystemError, UnsupportedError } from '../../util/errors.js';
import { deviceExists, dmsetup, dmsetupOk, openCount, poolMessage, SECTOR } from './pool.js';

export function devPath(name: string): string {
  return `/dev/mapper/${name}`;
}

function poolRefused(pool: string, what: string, stderr: string): never {
  const msg = firstLine(stderr);
  if (/File exists/i.test(msg)) throw new ConflictError(`devicemapper graph driver: ${what}: the device id is in use in ${pool}`);
  if (/No space|ENOSPC/i.test(msg)) {
    throw new SystemError(`devicemapper graph driver: ${what}: the thin pool ${pool} has no metadata space left`);
  }
  throw new SystemError(`devicemapper graph driver: ${what}: ${msg}`);
}

export function createThin(pool: string, deviceId: number): void {
  const r = poolMessage(pool, `create_thin ${deviceId}`);
  if (r.code !== 0) poolRefused(pool, `cannot create thin device ${deviceId}`, r.stderr);
}

/** Snapshot of `originId`; `originName` is suspended around the message when it is active. */
export function createSnap(pool: string, deviceId: number, originId: number, originName: string): void {
  const active = deviceExists(originName);
  if (active) dmsetupOk(['suspend', originName], `cannot suspend ${originName} to snapshot it`);
  try {
    const r = poolMessage(pool, `create_snap ${deviceId} ${originId}`);
    if (r.code !== 0) poolRefused(pool, `cannot snapshot thin device ${originId} as ${deviceId}`, r.stderr);
  } finally {
    if (active) dmsetupOk(['resume', originName], `cannot resume ${originName}`);
  }
}

/** Activates the thin device (idempotent; another CLI may have done it meanwhile). */
export function activate(pool: string, name: string, deviceId: number, size: number): string {
  // one dmsetup call in the common case: "already exists" is fine (another CLI, or ours)
  const table = `0 ${Math.floor(size / SECTOR)} thin /dev/mapper/${pool} ${deviceId}`;
  const r = dmsetup(['create', name, '--table', table]);
  if (r.code !== 0 && !deviceExists(name)) {
    throw new SystemError(
      `devicemapper graph driver: cannot activate thin device ${deviceId} as ${name}: ${firstLine(r.stderr)}`,
    );
  }
  return devPath(name);
}

/** 'removed', 'deferred' (still open: the kernel removes it on the last close), or 'absent'. */
export function deactivate(name: string): 'removed' | 'deferred' | 'absent' {
  const first = dmsetup(['remove', name]);
  if (first.code === 0) return 'removed';
  if (!deviceExists(name)) return 'absent';
  if (openCount(name) > 0) {
    dmsetupOk(['remove', '--deferred', name], `cannot schedule the removal of ${name}`);
    return 'deferred';
  }
  dmsetupOk(['remove', '--retry', name], `cannot remove ${name}`);
  return 'removed';
}

/** Discards every block of the device, so the pool (and a loop file below it) frees them. */
export function discard(name: string): void {
  try {
    execInputSync('blkdiscard', [devPath(name)], '');
  } catch {
    /* blkdiscard missing: the pool frees the blocks on delete anyway */
  }
}

export function mkfs(fs: 'ext4' | 'xfs', dev: string, extra: readonly string[]): void {
  const [cmd, args] =
    fs === 'ext4'
      ? ['mkfs.ext4', ['-q', '-F', '-E', 'nodiscard,lazy_itable_init=0,lazy_journal_init=0', ...extra, dev]]
      : ['mkfs.xfs', ['-q', '-f', '-K', ...extra, dev]];
  let r;
  try {
    r = execInputSync(cmd, args, '');
  } catch (e) {
    throw new UnsupportedError(
      `devicemapper graph driver: cannot run ${cmd} (install ${fs === 'ext4' ? 'e2fsprogs' : 'xfsprogs'}): ${(e as Error).message}`,
    );
  }
  if (r.code !== 0)
    throw new SystemError(`devicemapper graph driver: ${cmd} on ${dev} failed: ${firstLine(r.stderr || r.stdout)}`);
}

/** Sectors the device maps ("0 LEN thin MAPPED HIGHEST"), 0 when it is not active. */
export function mappedBytes(name: string): number {
  const r = dmsetup(['status', name]);
  if (r.code !== 0) return 0;
  const f = r.stdout.trim().split(/\s+/);
  return f[2] === 'thin' ? Number(f[3]) * SECTOR || 0 : 0;
}
