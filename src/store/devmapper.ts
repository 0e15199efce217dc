// The devicemapper graph driver's rows (migration 006): thin devices and per-pool transaction
// state. Device ids are allocated inside the same immediate transaction that opens the pool
// transaction, so two CLIs never get the same id.
import type Database from 'better-sqlite3';
import { createRequire } from 'node:module';
import type { DB } from './db.js';
import { writeTx } from './db.js';

export interface DmPoolRow {
  name: string;
  transaction_id: number;
  next_device_id: number;
  open_tx_id: number | null;
  open_tx_op: 'create' | 'delete' | null;
  open_tx_hash: string | null;
  open_tx_device: number | null;
}

export interface DmDeviceRow {
  pool: string;
  hash: string;
  parent: string | null;
  device_id: number;
  size: number;
  transaction_id: number;
  initialized: number;
  deleted: number;
  created_ms: number;
}

/** Thin device ids are 24 bits. */
export const MAX_DEVICE_ID = 0xffffff;

export function ensurePool(db: DB, name: string): DmPoolRow {
  db.prepare('INSERT INTO dm_pools (name) VALUES (?) ON CONFLICT(name) DO NOTHING').run(name);
  return getPool(db, name)!;
}

export function getPool(db: DB, name: string): DmPoolRow | undefined {
  return db.prepare('SELECT * FROM dm_pools WHERE name = ?').get(name) as DmPoolRow | undefined;
}

export function getDevice(db: DB, pool: string, hash: string): DmDeviceRow | undefined {
  return db.prepare('SELECT * FROM dm_devices WHERE pool = ? AND hash = ?').get(pool, hash) as DmDeviceRow | undefined;
}

export function allDevices(db: DB, pool: string): DmDeviceRow[] {
  return db.prepare('SELECT * FROM dm_devices WHERE pool = ? ORDER BY device_id').all(pool) as DmDeviceRow[];
}

export interface OpenedTx {
  txId: number;
  deviceId: number;
}

/**
 * Opens a pool transaction that creates device `hash` (size bytes): allocates a free device id,
 * inserts the device row and records the open transaction, all in one immediate transaction.
 * Throws when a transaction is already open (the caller holds the pool lock, so that is a crash
 * nobody has repaired yet) or every id is taken.
 */
export function openCreateTx(
  db: DB,
  pool: string,
  hash: string,
  parent: string | null,
  size: number,
  initialized: boolean,
): OpenedTx {
  return writeTx(db, () => {
    const p = ensurePool(db, pool);
    if (p.open_tx_id !== null) throw new Error(`pool ${pool} has an open transaction ${p.open_tx_id}`);
    const used = new Set(
      (db.prepare('SELECT device_id FROM dm_devices WHERE pool = ?').all(pool) as { device_id: number }[]).map(
        (r) => r.device_id,
      ),
    );
    let id = p.next_device_id;
    for (let n = 0; used.has(id) || id === 0 || id > MAX_DEVICE_ID; n++) {
      if (n > MAX_DEVICE_ID) throw new Error(`pool ${pool} has no free thin device id`);
      id = id >= MAX_DEVICE_ID ? 1 : id + 1;
    }
    const txId = p.transaction_id + 1;
    db.prepare(
      `INSERT INTO dm_devices (pool, hash, parent, device_id, size, transaction_id, initialized, created_ms)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(pool, hash, parent, id, size, txId, initialized ? 1 : 0, Date.now());
    db.prepare(
      "UPDATE dm_pools SET next_device_id = ?, open_tx_id = ?, open_tx_op = 'create', open_tx_hash = ?, open_tx_device = ? WHERE name = ?",
    ).run(id >= MAX_DEVICE_ID ? 1 : id + 1, txId, hash, id, pool);
    return { txId, deviceId: id };
  });
}

/** Opens a pool transaction that deletes device `hash` (its row stays until the close). */
export function openDeleteTx(db: DB, pool: string, hash: string): OpenedTx | undefined {
  return writeTx(db, () => {
    const p = ensurePool(db, pool);
    if (p.open_tx_id !== null) throw new Error(`pool ${pool} has an open transaction ${p.open_tx_id}`);
    const d = getDevice(db, pool, hash);
    if (!d) return undefined;
    const txId = p.transaction_id + 1;
    db.prepare(
      "UPDATE dm_pools SET open_tx_id = ?, open_tx_op = 'delete', open_tx_hash = ?, open_tx_device = ? WHERE name = ?",
    ).run(txId, hash, d.device_id, pool);
    return { txId, deviceId: d.device_id };
  });
}

/** The pool now has transaction id `txId`: the open transaction is done. `deleted`: the device
 *  it named is gone from the pool, so its row goes too. */
export function closeTx(db: DB, pool: string, txId: number, deleted: boolean): void {
  writeTx(db, () => {
    const p = getPool(db, pool);
    if (deleted && p?.open_tx_hash != null) {
      db.prepare('DELETE FROM dm_devices WHERE pool = ? AND hash = ? AND device_id = ?').run(
        pool,
        p.open_tx_hash,
        p.open_tx_device,
      );
    }
    db.prepare(
      'UPDATE dm_pools SET transaction_id = ?, open_tx_id = NULL, open_tx_op = NULL, open_tx_hash = NULL, open_tx_device = NULL WHERE name = ?',
    ).run(txId, pool);
  });
}

/** Rolling back (or completing a delete): the open transaction's device is gone from the pool;
 *  drop its row and record the pool's own transaction id. */
export function abandonTx(db: DB, pool: string, poolTxId: number): void {
  writeTx(db, () => {
    const p = getPool(db, pool);
    if (p?.open_tx_hash != null) {
      db.prepare('DELETE FROM dm_devices WHERE pool = ? AND hash = ? AND device_id = ?').run(
        pool,
        p.open_tx_hash,
        p.open_tx_device,
      );
    }
    db.prepare(
      'UPDATE dm_pools SET transaction_id = ?, open_tx_id = NULL, open_tx_op = NULL, open_tx_hash = NULL, open_tx_device = NULL WHERE name = ?',
    ).run(poolTxId, pool);
  });
}

export function setInitialized(db: DB, pool: string, hash: string): void {
  db.prepare('UPDATE dm_devices SET initialized = 1 WHERE pool = ? AND hash = ?').run(pool, hash);
}

export function markDeleted(db: DB, pool: string, hash: string): void {
  db.prepare('UPDATE dm_devices SET deleted = 1 WHERE pool = ? AND hash = ?').run(pool, hash);
}

/** Only the pool's own transaction id differs (a crash after the pool moved on, with nothing
 *  open): take the pool's. */
export function setPoolTx(db: DB, pool: string, txId: number): void {
  db.prepare('UPDATE dm_pools SET transaction_id = ? WHERE name = ?').run(txId, pool);
}

/** A cross-process mutex that the kernel releases when its holder dies: an immediate
 *  transaction on a database file of its own (fcntl locks), waited for with the busy timeout. */
export class FileLock {
  private readonly db: DB;
  constructor(path: string, timeoutMs: number) {
    const Sqlite = createRequire(import.meta.url)('better-sqlite3') as typeof Database;
    this.db = new Sqlite(path);
    this.db.pragma(`busy_timeout = ${timeoutMs}`);
  }
  /** Runs fn holding the lock (re-entrant within this process). */
  hold<T>(fn: () => T): T {
    if (this.db.inTransaction) return fn();
    this.db.exec('BEGIN IMMEDIATE');
    try {
      return fn();
    } finally {
      this.db.exec('COMMIT');
    }
  }
  close(): void {
    this.db.close();
  }
}
