// Containers: one row each, the JSON config plus the columns that ps and reconciliation read.
import type { DB } from './db.js';
import { EXIT_MANAGEMENT, NotFoundError, UsageError } from '../util/errors.js';
import { traceEvent, tracing } from '../util/trace.js';

/**
 * The life of a row. Every change of hands is a compare-and-set inside BEGIN IMMEDIATE, so two
 * CLI processes never both act on one container:
 *   created|exited --claimStart--> starting --markRunning--> running <--> paused
 *   running|paused --claimExit--> exiting --markExited--> exited     (cgroup, rules given back)
 *   starting --(start failed)--> created|exited;  created|exited --rm--> (row deleted)
 */
export type ContainerState = 'created' | 'starting' | 'running' | 'paused' | 'exiting' | 'exited' | 'removing';

export interface ContainerRow {
  id: string;
  name: string;
  image_id: string;
  image_ref: string;
  config: string;
  driver: string;
  init_layer: string;
  rw_layer: string;
  state: ContainerState;
  pid: number | null;
  pid_start: number | null;
  monitor_pid: number | null;
  monitor_start: number | null;
  boot_id: string | null;
  exit_code: number | null;
  oom_killed: number;
  error: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
}

export type NewContainer = Pick<
  ContainerRow,
  'id' | 'name' | 'image_id' | 'image_ref' | 'config' | 'driver' | 'init_layer' | 'rw_layer' | 'created_at'
>;

export function insertContainer(db: DB, row: NewContainer): void {
  db.prepare(
    `INSERT INTO containers (id, name, image_id, image_ref, config, driver, init_layer, rw_layer, state, created_at)
     VALUES (@id, @name, @image_id, @image_ref, @config, @driver, @init_layer, @rw_layer, 'created', @created_at)`,
  ).run(row);
  if (tracing())
    traceEvent('sqlite insert', `containers row ${row.id.slice(0, 12)} name=${row.name} state=created rw_layer=${row.rw_layer}`);
}

export function getContainer(db: DB, id: string): ContainerRow | undefined {
  return db.prepare('SELECT * FROM containers WHERE id = ?').get(id) as ContainerRow | undefined;
}

export function getContainerByName(db: DB, name: string): ContainerRow | undefined {
  return db.prepare('SELECT * FROM containers WHERE name = ?').get(name) as ContainerRow | undefined;
}

/** Up to two containers whose id starts with `prefix` (two means ambiguous). */
export function containersByIdPrefix(db: DB, prefix: string): ContainerRow[] {
  return db.prepare('SELECT * FROM containers WHERE id >= ? AND id < ? LIMIT 2').all(prefix, `${prefix}\uffff`) as ContainerRow[];
}

export function nameTaken(db: DB, name: string): boolean {
  return db.prepare('SELECT 1 FROM containers WHERE name = ?').get(name) !== undefined;
}

export function listContainers(db: DB, opts: { all: boolean }): ContainerRow[] {
  const sql = opts.all
    ? 'SELECT * FROM containers ORDER BY created_at DESC'
    : `SELECT * FROM containers WHERE state IN ('starting','running','paused','exiting') ORDER BY created_at DESC`;
  return db.prepare(sql).all() as ContainerRow[];
}

/** created|exited -> starting, for one start only; returns the state it had, or undefined when
 *  another process holds the container (it is starting, running, exiting) or it is gone. */
export function claimStart(db: DB, id: string, now: string): ContainerState | undefined {
  const cur = getContainer(db, id);
  if (!cur || (cur.state !== 'created' && cur.state !== 'exited')) return undefined;
  db.prepare(`UPDATE containers SET state = 'starting', started_at = ?, pid = NULL, pid_start = NULL WHERE id = ?`).run(now, id);
  return cur.state;
}

/** running|paused (with this pid) or exiting -> exiting: the caller may now give back cgroup and
 *  network. False when the row belongs to another start or is already exited. */
export function claimExit(db: DB, id: string, pid: number | null): boolean {
  const cur = getContainer(db, id);
  if (!cur) return false;
  if (cur.state === 'exiting') return true; // a finisher crashed or is at work: the steps are idempotent
  if ((cur.state === 'running' || cur.state === 'paused') && cur.pid === pid) {
    db.prepare(`UPDATE containers SET state = 'exiting' WHERE id = ?`).run(id);
    return true;
  }
  return false;
}

/** A start that never finished (its CLI was killed): starting -> exiting, if still so. */
export function claimStaleStart(db: DB, id: string, startedAt: string | null): boolean {
  return (
    db
      .prepare(`UPDATE containers SET state = 'exiting' WHERE id = ? AND state = 'starting' AND started_at IS ?`)
      .run(id, startedAt).changes === 1
  );
}

export function markRunning(
  db: DB,
  id: string,
  v: { pid: number; pid_start: number; monitor_pid: number; monitor_start: number; boot_id: string; started_at: string },
): boolean {
  return (
    db
      .prepare(
        `UPDATE containers SET state = 'running', pid = @pid, pid_start = @pid_start, monitor_pid = @monitor_pid,
       monitor_start = @monitor_start, boot_id = @boot_id, started_at = @started_at, exit_code = NULL, oom_killed = 0, error = NULL,
       finished_at = NULL
     WHERE id = @id AND state = 'starting'`,
      )
      .run({ id, ...v }).changes === 1 &&
    (!tracing() ||
      (traceEvent('sqlite update', `containers row ${id.slice(0, 12)} state=running pid=${v.pid} monitor_pid=${v.monitor_pid}`),
      true))
  );
}

export function markExited(
  db: DB,
  id: string,
  v: { exit_code: number; oom_killed: boolean; finished_at: string; error?: string | null },
): void {
  db.prepare(
    `UPDATE containers SET state = 'exited', pid = NULL, pid_start = NULL, monitor_pid = NULL, monitor_start = NULL,
       exit_code = @exit_code, oom_killed = @oom_killed, finished_at = @finished_at, error = @error
     WHERE id = @id`,
  ).run({ id, exit_code: v.exit_code, oom_killed: v.oom_killed ? 1 : 0, finished_at: v.finished_at, error: v.error ?? null });
  if (tracing())
    traceEvent(
      'sqlite update',
      `containers row ${id.slice(0, 12)} state=exited exit_code=${v.exit_code}${v.oom_killed ? ' oom_killed' : ''}`,
    );
}

export function setContainerState(db: DB, id: string, state: ContainerState): void {
  db.prepare('UPDATE containers SET state = ? WHERE id = ?').run(state, id);
}

export function renameContainer(db: DB, id: string, name: string): void {
  db.prepare('UPDATE containers SET name = ? WHERE id = ?').run(name, id);
}

export function deleteContainer(db: DB, id: string): void {
  db.prepare('DELETE FROM containers WHERE id = ?').run(id);
  if (tracing()) traceEvent('sqlite delete', `containers row ${id.slice(0, 12)}`);
}

export function countContainersByState(db: DB): Record<ContainerState, number> {
  const out: Record<ContainerState, number> = {
    created: 0,
    starting: 0,
    running: 0,
    paused: 0,
    exiting: 0,
    exited: 0,
    removing: 0,
  };
  for (const r of db.prepare('SELECT state, count(*) AS n FROM containers GROUP BY state').all() as {
    state: ContainerState;
    n: number;
  }[]) {
    out[r.state] = r.n;
  }
  return out;
}

/** A container by full id, name (with or without docker's leading "/"), or unambiguous id prefix. */
export function findContainer(db: DB, ref: string, exitCode = EXIT_MANAGEMENT): ContainerRow {
  const key = ref.startsWith('/') ? ref.slice(1) : ref;
  if (!key) throw new UsageError('a container name or id is required');
  const byId = /^[0-9a-f]{64}$/.test(key) ? getContainer(db, key) : undefined;
  if (byId) return byId;
  const byName = getContainerByName(db, key);
  if (byName) return byName;
  if (/^[0-9a-f]+$/.test(key)) {
    const matches = containersByIdPrefix(db, key);
    if (matches.length === 1) return matches[0]!;
    if (matches.length > 1) throw new NotFoundError(`multiple containers match "${ref}": give more of the id`, exitCode);
  }
  throw new NotFoundError(`No such container: ${ref}`, exitCode);
}

export function allContainerIds(db: DB): Set<string> {
  return new Set((db.prepare('SELECT id FROM containers').all() as { id: string }[]).map((r) => r.id));
}
