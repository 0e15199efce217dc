// `run` = create + start (+ wait, for an attached container). The CLI forwards the signals it
// receives to the monitor, which forwards them to the container, and exits with its code.
import type { Context } from './context.js';
import type { ContainerRow } from '../store/containers.js';
import { getContainer } from '../store/containers.js';
import { readExitFile, type ExitRecord } from './exitfile.js';
import { finishContainer } from './finish.js';
import { removeStopped } from './delete.js';
import { startContainer, type Started } from './start.js';
import type { HelperProcess } from './helper.js';
import { mark } from '../util/trace.js';

const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'];

export interface AttachOptions {
  stdin: boolean;
  autoRemove: boolean;
}

/**
 * Forwards the signals the CLI receives to the helper (which passes them on to the
 * container; SIGWINCH makes it copy our terminal's size to the container's). Returns the undo.
 */
export function forwardSignals(helper: HelperProcess): () => void {
  const forward = (sig: NodeJS.Signals) => () => {
    try {
      helper.child.kill(sig);
    } catch {
      /* the monitor is gone; its exit is on its way */
    }
  };
  const handlers = FORWARDED.map((sig) => [sig, forward(sig)] as const);
  for (const [sig, h] of handlers) process.on(sig, h);
  return () => {
    for (const [sig, h] of handlers) process.off(sig, h);
  };
}

/** Starts `row` attached and waits for it; returns the exit code to exit with. */
export async function startAttached(ctx: Context, row: ContainerRow, opts: AttachOptions): Promise<number> {
  let started: Started;
  try {
    started = await startContainer(ctx, row, { attached: true, stdin: opts.stdin });
  } catch (err) {
    if (opts.autoRemove) await removeStopped(ctx, getContainer(ctx.db(), row.id) ?? row).catch(() => undefined);
    throw err;
  }
  const { helper } = started;
  const stopForwarding = forwardSignals(helper);
  const code = await helper.exited;
  mark('monitor exited');
  stopForwarding();

  const rec: ExitRecord = readExitFile(ctx.layout.runContainer(row.id)) ?? {
    exitCode: code,
    signal: null,
    oomKilled: false,
    finishedAt: new Date().toISOString(),
  };
  const cur = getContainer(ctx.db(), row.id) ?? row;
  await finishContainer(ctx, cur, rec); // removes a --rm container too
  mark('exit recorded, cgroup and network given back');
  return rec.exitCode;
}

/** Starts `row` detached: the monitor keeps running in its own session after we exit. */
export async function startDetached(ctx: Context, row: ContainerRow): Promise<void> {
  const { helper } = await startContainer(ctx, row, { attached: false, stdin: false });
  helper.leave();
}
