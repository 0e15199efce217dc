// The devicemapper graph driver's metadata (docker's devmapper/metadata/* files, as rows): one
// row per thin device (layer, container layer, and the base device under the hash ''), and one
// row per pool with the transaction id last committed and an open transaction, if any. A
// pool operation opens a transaction (allocating the device id in the same SQLite transaction),
// changes the pool, sets the pool's own transaction id to the open one, and closes it; a crash
// in between is found on the next open by comparing the two ids and rolled back.
export const m006 = `
CREATE TABLE dm_pools (
  name            TEXT PRIMARY KEY,            -- the thin-pool's device-mapper name
  transaction_id  INTEGER NOT NULL DEFAULT 0,  -- last one both the pool and this row agree on
  next_device_id  INTEGER NOT NULL DEFAULT 1,  -- where the search for a free 24-bit id starts
  open_tx_id      INTEGER,                     -- the open transaction: its id,
  open_tx_op      TEXT,                        --   'create' or 'delete',
  open_tx_hash    TEXT,                        --   the device it creates or deletes,
  open_tx_device  INTEGER                      --   and that device's id in the pool
);

CREATE TABLE dm_devices (
  pool            TEXT NOT NULL REFERENCES dm_pools(name),
  hash            TEXT NOT NULL,               -- the layer id ('' for the base device)
  parent          TEXT,                        -- the device it is a snapshot of ('' base, NULL: none)
  device_id       INTEGER NOT NULL,
  size            INTEGER NOT NULL,            -- bytes
  transaction_id  INTEGER NOT NULL,            -- the pool transaction that created it
  initialized     INTEGER NOT NULL DEFAULT 0,  -- base device: mkfs done
  deleted         INTEGER NOT NULL DEFAULT 0,  -- removal deferred: still open when deleted
  created_ms      INTEGER NOT NULL,
  PRIMARY KEY (pool, hash),
  UNIQUE (pool, device_id)
);
`;
