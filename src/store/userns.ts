// User-namespace ranges handed out to containers (--userns=auto). Call allocateUsernsRange
// inside the writeTx that inserts the container: the lowest free slot is read and taken under
// one BEGIN IMMEDIATE lock, so two CLI processes never pick the same one.
import type { DB } from './db.js';
import { ConflictError } from '../util/errors.js';

export interface UsernsRange {
  uidBase: number;
  gidBase: number;
  size: number;
}

/** The host ids a slot stands for: slot k is the k-th run of `size` ids of the subuid/subgid
 *  entries (runtime/subids.ts computes it). */
export type SlotToRange = (slot: number) => UsernsRange;

/** Takes the lowest free slot of `slots` for container `id`; the caller is inside writeTx. */
export function allocateUsernsRange(db: DB, id: string, slots: number, slotRange: SlotToRange): UsernsRange {
  const used = new Set((db.prepare('SELECT uid_base FROM userns_ranges').all() as { uid_base: number }[]).map((r) => r.uid_base));
  for (let k = 0; k < slots; k++) {
    const r = slotRange(k);
    if (used.has(r.uidBase)) continue;
    db.prepare('INSERT INTO userns_ranges (container_id, uid_base, gid_base, size) VALUES (?, ?, ?, ?)').run(
      id,
      r.uidBase,
      r.gidBase,
      r.size,
    );
    return r;
  }
  throw new ConflictError(
    `no free user namespace range: all ${slots} ranges of the tscontainer entries in /etc/subuid and /etc/subgid are in use; remove a --userns=auto container or give tscontainer more ids`,
  );
}

export function getUsernsRange(db: DB, id: string): UsernsRange | undefined {
  const row = db.prepare('SELECT uid_base, gid_base, size FROM userns_ranges WHERE container_id = ?').get(id) as
    { uid_base: number; gid_base: number; size: number } | undefined;
  return row ? { uidBase: row.uid_base, gidBase: row.gid_base, size: row.size } : undefined;
}

/** Every range in use (for tests and `info`). */
export function countUsernsRanges(db: DB): number {
  return (db.prepare('SELECT COUNT(*) AS n FROM userns_ranges').get() as { n: number }).n;
}
