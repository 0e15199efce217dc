// Opens state.db: WAL so readers never wait for a writer, a busy timeout so concurrent CLI
// processes queue instead of failing with "database is locked", foreign keys on, and the
// numbered migrations applied inside one immediate transaction.
import type Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { SystemError } from '../util/errors.js';
import { MIGRATIONS } from './migrations/index.js';

export type DB = Database.Database;

const BUSY_TIMEOUT_MS = 30_000;

export function openDb(path: string): DB {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  // Loaded on first use (~3 ms with its addon): `version`, `--help` and the like never open it.
  const Sqlite = createRequire(import.meta.url)('better-sqlite3') as typeof Database;
  let db: DB;
  try {
    db = new Sqlite(path, { timeout: BUSY_TIMEOUT_MS });
  } catch (err) {
    throw new SystemError(`cannot open the state database ${path}: ${(err as Error).message}`, { cause: err });
  }
  db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  // journal_mode=WAL is persistent; only switch when needed, since it takes a write lock.
  if (db.pragma('journal_mode', { simple: true }) !== 'wal') db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  migrate(db);
  return db;
}

/** Applies every migration newer than PRAGMA user_version, each in its own immediate transaction. */
export function migrate(db: DB): void {
  const latest = MIGRATIONS.length;
  if ((db.pragma('user_version', { simple: true }) as number) >= latest) return;
  for (let i = 0; i < MIGRATIONS.length; i++) {
    const step = db.transaction(() => {
      // Re-read inside the lock: another process may have migrated meanwhile.
      const current = db.pragma('user_version', { simple: true }) as number;
      if (current > i) return;
      db.exec(MIGRATIONS[i]!);
      db.pragma(`user_version = ${i + 1}`);
    });
    step.immediate();
  }
}

/** Runs fn in a BEGIN IMMEDIATE transaction: the write lock is taken up front, so two
 *  processes never both read-then-write the same allocation. */
export function writeTx<T>(db: DB, fn: () => T): T {
  return db.transaction(fn).immediate();
}
