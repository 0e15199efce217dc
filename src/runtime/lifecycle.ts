// stop, kill, restart, pause, unpause and wait: the state changes of a container that already
// exists, each checked against the kernel first (reconcile) so that a command never acts on a
// row that only claims to run.
import type { Context } from './context.js';
import { getContainer, getContainerByName, renameContainer, setContainerState, type ContainerRow } from '../store/containers.js';
import { endpointsOfContainer } from '../store/networks.js';
import { refreshHosts } from '../network/names.js';
import { writeTx } from '../store/db.js';
import { ConflictError, EXIT_MANAGEMENT, NotFoundError, TscError, UsageError, toTscError } from '../util/errors.js';
import { validateName } from './options.js';
import { containerConfig, type ContainerConfig } from './config.js';
import { killContainer, parseSignal, waitForExit } from './kill.js';
import { reconcile } from './reconcile.js';
import { containerCgroup } from './cgroup.js';
import { changeOrTimeout } from '../util/watch.js';

export function isLive(row: ContainerRow): boolean {
  return row.state === 'running' || row.state === 'paused';
}

export { containerConfig };

/** `--time`/`-t`: whole seconds, docker accepts negative as "wait forever" — we cap it. */
export function parseStopTime(v: string | undefined, config: ContainerConfig): number {
  if (v === undefined) return config.stopTimeout ?? 10;
  if (!/^-?\d+$/.test(v)) throw new UsageError(`invalid stop timeout "${v}": expected whole seconds`);
  const n = Number(v);
  return n < 0 ? 24 * 3600 : n;
}

/** A frozen (v1 freezer) task receives signals only once thawed: thaw, and record running. */
function thawIfPaused(ctx: Context, row: ContainerRow): void {
  if (row.state !== 'paused') return;
  const cg = containerCgroup(row);
  if (cg.exists()) cg.thaw();
  const db = ctx.db();
  writeTx(db, () => {
    const cur = getContainer(db, row.id);
    if (cur && cur.state === 'paused' && cur.pid === row.pid) setContainerState(db, row.id, 'running');
  });
}

export interface StopResult {
  row: ContainerRow;
  /** True when the stop signal was not enough and SIGKILL was sent. */
  killed: boolean;
}

/**
 * docker stop: the container's stop signal (the image's StopSignal or --stop-signal, else
 * SIGTERM), then SIGKILL after `timeoutSec`; returns once the exit is recorded. Stopping a
 * container that is not running is not an error (as docker).
 */
export async function stopContainer(ctx: Context, row: ContainerRow, timeoutSec: number): Promise<StopResult> {
  const cur = await reconcile(ctx, row);
  if (!isLive(cur)) return { row: cur, killed: false };
  const config = containerConfig(cur);
  const sig = parseSignal(config.stopSignal || 'SIGTERM');
  sendSignal(cur, sig);
  thawIfPaused(ctx, cur);
  let after = await waitForExit(ctx, cur, timeoutSec * 1000);
  if (!isLive(after)) return { row: after, killed: false };
  sendSignal(after, 'SIGKILL');
  after = await waitForExit(ctx, after, 30_000);
  if (isLive(after)) throw new ConflictError(`container ${cur.name} did not exit after SIGKILL`, EXIT_MANAGEMENT);
  return { row: after, killed: true };
}

/**
 * kill's signal (pid reuse checked there); for stop, an init that is already gone is not an
 * error: it exited meanwhile, and the wait that follows records it.
 */
function sendSignal(row: ContainerRow, sig: NodeJS.Signals): void {
  try {
    killContainer(row, sig);
  } catch (err) {
    if (!(err instanceof ConflictError)) throw err;
  }
}

/** docker kill: one signal (default KILL) to a running container; does not wait. */
export async function killOne(ctx: Context, row: ContainerRow, signal: NodeJS.Signals): Promise<ContainerRow> {
  const cur = await reconcile(ctx, row);
  if (!isLive(cur)) throw new ConflictError(`cannot kill container ${cur.name}: it is not running`, EXIT_MANAGEMENT);
  killContainer(cur, signal);
  // A paused container dies only once thawed; other signals stay pending until unpause, as in docker.
  if (signal === 'SIGKILL') thawIfPaused(ctx, cur);
  return cur;
}

/** docker restart: stop (a stopped one is fine), then start detached on the same rw layer. */
export async function restartContainer(ctx: Context, row: ContainerRow, timeoutSec: number | undefined): Promise<void> {
  const t = timeoutSec ?? containerConfig(row).stopTimeout ?? 10;
  const { row: stopped } = await stopContainer(ctx, row, t);
  const cur = getContainer(ctx.db(), stopped.id);
  if (!cur) throw new NotFoundError(`No such container: ${row.name}`, EXIT_MANAGEMENT);
  // the start path (helper, cgroups, network) loads only for a restart, not for every command here
  const { startDetached } = await import('./run.js');
  await startDetached(ctx, cur);
}

export async function pauseContainer(ctx: Context, row: ContainerRow): Promise<void> {
  const cur = await reconcile(ctx, row);
  if (cur.state === 'paused') throw new ConflictError(`container ${cur.name} is already paused`, EXIT_MANAGEMENT);
  if (cur.state !== 'running') throw new ConflictError(`container ${cur.name} is not running`, EXIT_MANAGEMENT);
  const cg = containerCgroup(cur);
  await cg.freeze();
  const db = ctx.db();
  const ok = writeTx(db, () => {
    const now = getContainer(db, cur.id);
    if (!now || now.state !== 'running' || now.pid !== cur.pid) return false;
    setContainerState(db, cur.id, 'paused');
    return true;
  });
  if (!ok) {
    // It exited (or was stopped) while we froze it: leave nothing frozen behind.
    if (cg.exists()) cg.thaw();
    throw new ConflictError(`container ${cur.name} is not running`, EXIT_MANAGEMENT);
  }
}

export async function unpauseContainer(ctx: Context, row: ContainerRow): Promise<void> {
  const cur = await reconcile(ctx, row);
  if (cur.state !== 'paused') throw new ConflictError(`container ${cur.name} is not paused`, EXIT_MANAGEMENT);
  const cg = containerCgroup(cur);
  cg.thaw();
  const db = ctx.db();
  writeTx(db, () => {
    const now = getContainer(db, cur.id);
    if (now && now.state === 'paused' && now.pid === cur.pid) setContainerState(db, cur.id, 'running');
  });
}

/**
 * docker wait: blocks until the container has exited and returns its exit code. Works from any
 * CLI process: it watches the run directory for the monitor's exit.json (inotify) and checks the
 * pid (with its start time) once a second in case no monitor is left to write one; a container
 * that was created but not started yet is waited for too.
 */
export async function waitContainer(ctx: Context, row: ContainerRow, opts: { signal?: AbortSignal } = {}): Promise<number> {
  const db = ctx.db();
  for (;;) {
    const now = getContainer(db, row.id);
    if (!now) throw new NotFoundError(`No such container: ${row.name}`, EXIT_MANAGEMENT);
    const cur = await reconcile(ctx, now);
    if (cur.state === 'exited') return cur.exit_code ?? 0;
    if (opts.signal?.aborted) throw new ConflictError(`stopped waiting for container ${row.name}`, EXIT_MANAGEMENT);
    await changeOrTimeout(ctx.layout.runContainer(row.id), isLive(cur) ? 1000 : 250, opts.signal);
  }
}

/** docker rename: the name rules of create, unique among all containers, checked and written in
 *  one immediate transaction; peers on user networks see the new name in their /etc/hosts. */
export function renameContainerTo(ctx: Context, row: ContainerRow, newName: string): void {
  let name: string;
  try {
    name = validateName(newName);
  } catch (err) {
    throw new TscError(toTscError(err).message, EXIT_MANAGEMENT);
  }
  const db = ctx.db();
  writeTx(db, () => {
    const cur = getContainer(db, row.id);
    if (!cur) throw new NotFoundError(`No such container: ${row.name}`, EXIT_MANAGEMENT);
    if (cur.name === name)
      throw new ConflictError(`renaming container ${cur.name}: the new name is the same as the old one`, EXIT_MANAGEMENT);
    const other = getContainerByName(db, name);
    if (other) {
      throw new ConflictError(
        `the container name "/${name}" is already in use by container "${other.id}": remove or rename that container to reuse the name`,
        EXIT_MANAGEMENT,
      );
    }
    renameContainer(db, cur.id, name);
  });
  try {
    refreshHosts(
      db,
      endpointsOfContainer(db, row.id).map((e) => e.network_id),
    );
  } catch {
    /* the hosts files are rewritten again at the next start of each peer */
  }
}
