// docker's dm.transaction logic over SQLite. Every change of the pool's device set is:
//   1. one immediate SQLite transaction: allocate the device id (for a create), record the
//      open transaction (pool transaction id + 1, the device, create or delete);
//   2. the pool message (create_thin / create_snap / delete);
//   3. `set_transaction_id OLD NEW` on the pool, so the pool itself records that step 2 is done;
//   4. close: the row's transaction id becomes NEW (a delete's device row goes).
// On every open of the driver (holding the pool lock), `recover` compares the two: an open
// transaction whose id the pool already has was finished and only needs closing; one the pool
// does not have is rolled back by deleting its device id in the pool (undoing a create, or
// finishing a delete, as docker's rollbackTransaction does) and dropping the row.
import type { DB } from '../../store/db.js';
import {
  abandonTx,
  closeTx,
  ensurePool as ensurePoolRow,
  getPool,
  openCreateTx,
  openDeleteTx,
  setPoolTx,
} from '../../store/devmapper.js';
import { firstLine } from '../../util/exec.js';
import { SystemError } from '../../util/errors.js';
import { log } from '../../util/log.js';
import { poolMessage, poolStatus } from './pool.js';

/** What recovery found, for tests and the log. */
export type Recovery = 'clean' | 'closed' | 'rolled-back' | 'adopted';

export function recover(db: DB, pool: string): Recovery {
  const row = ensurePoolRow(db, pool);
  const poolTx = poolStatus(pool).transactionId;
  if (row.open_tx_id !== null) {
    if (poolTx >= row.open_tx_id) {
      closeTx(db, pool, poolTx, row.open_tx_op === 'delete');
      log('info', 'devicemapper: closed a finished pool transaction', { pool, tx: poolTx });
      return 'closed';
    }
    if (row.open_tx_device !== null) {
      const r = poolMessage(pool, `delete ${row.open_tx_device}`);
      if (r.code !== 0 && !/No data available|ENODATA|not found/i.test(r.stderr)) {
        // the device may simply never have been made: the kernel says so in its log only
        log('debug', 'devicemapper: rollback delete', { pool, id: row.open_tx_device, err: firstLine(r.stderr) });
      }
    }
    abandonTx(db, pool, poolTx);
    log('info', 'devicemapper: rolled back an unfinished pool transaction', {
      pool,
      tx: row.open_tx_id,
      op: row.open_tx_op,
      hash: row.open_tx_hash,
    });
    return 'rolled-back';
  }
  if (poolTx !== row.transaction_id) {
    setPoolTx(db, pool, poolTx);
    return 'adopted';
  }
  return 'clean';
}

function setTransactionId(pool: string, from: number, to: number): void {
  const r = poolMessage(pool, `set_transaction_id ${from} ${to}`);
  if (r.code !== 0) {
    throw new SystemError(
      `devicemapper graph driver: cannot set the transaction id of ${pool} from ${from} to ${to}: ${firstLine(r.stderr)}`,
    );
  }
}

/** Creates device `hash` in the pool through `make(deviceId)` (which sends create_thin or
 *  create_snap and throws on failure); returns the device id. Caller holds the pool lock. */
export function createDeviceTx(
  db: DB,
  pool: string,
  hash: string,
  parent: string | null,
  size: number,
  initialized: boolean,
  make: (deviceId: number) => void,
): number {
  const { txId, deviceId } = openCreateTx(db, pool, hash, parent, size, initialized);
  try {
    make(deviceId);
  } catch (e) {
    // the pool refused: nothing was made; drop the row and the open transaction
    abandonTx(db, pool, getPool(db, pool)!.transaction_id);
    throw e;
  }
  setTransactionId(pool, txId - 1, txId);
  closeTx(db, pool, txId, false);
  return deviceId;
}

/** Deletes device `hash` from the pool; false when there is no such row. Caller holds the lock. */
export function deleteDeviceTx(db: DB, pool: string, hash: string): boolean {
  const opened = openDeleteTx(db, pool, hash);
  if (!opened) return false;
  const r = poolMessage(pool, `delete ${opened.deviceId}`);
  if (r.code !== 0) {
    // the pool kept it (still open in the kernel): keep the row, close the transaction unchanged
    closeTx(db, pool, opened.txId - 1, false);
    throw new SystemError(
      `devicemapper graph driver: cannot delete thin device ${opened.deviceId} (${hash || 'base'}) from ${pool}: ${firstLine(r.stderr)}`,
    );
  }
  setTransactionId(pool, opened.txId - 1, opened.txId);
  closeTx(db, pool, opened.txId, true);
  return true;
}
