// Actions of the container management commands (stop, kill, wait, restart, pause, unpause,
// rename, logs, inspect, top, stats, ps, container prune, system prune): call the runtime, print
// what docker prints. For several containers each one is tried; failures are one line each on
// stderr and the command exits 1, as docker does.
import type { Context } from '../../runtime/context.js';
import { findContainer, getContainer, listContainers, type ContainerRow } from '../../store/containers.js';
import {
  containerConfig,
  killOne,
  parseStopTime,
  pauseContainer,
  renameContainerTo,
  restartContainer,
  stopContainer,
  unpauseContainer,
  waitContainer,
} from '../../runtime/lifecycle.js';
import { parseSignal } from '../../runtime/kill.js';
import { reconcile } from '../../runtime/reconcile.js';
import { EXIT_MANAGEMENT, NotFoundError, TscError, toTscError } from '../../util/errors.js';
import { renderTemplate, templateHeader } from '../../image/format.js';
import { decimalSize } from '../../util/units.js';
import { printJson } from '../output.js';

/** Runs `fn` for each name; prints the name on success (when `echo`), collects failures. */
async function eachContainer(
  ctx: Context,
  names: string[],
  fn: (row: ContainerRow, name: string) => Promise<void>,
  echo = true,
): Promise<number> {
  let failed = 0;
  for (const n of names) {
    try {
      const row = findContainer(ctx.db(), n);
      await fn(row, n);
      if (echo) process.stdout.write(`${n}\n`);
    } catch (err) {
      const e = toTscError(err);
      process.stderr.write(`tscontainer: ${e.message}\n`);
      failed = EXIT_MANAGEMENT;
    }
  }
  return failed;
}

export function stopCommand(ctx: Context, names: string[], opts: { time?: string }): Promise<number> {
  return eachContainer(ctx, names, async (row) => {
    await stopContainer(ctx, row, parseStopTime(opts.time, containerConfig(row)));
  });
}

export function killCommand(ctx: Context, names: string[], opts: { signal?: string }): Promise<number> {
  const sig = parseSignal(opts.signal ?? 'KILL');
  return eachContainer(ctx, names, async (row) => {
    await killOne(ctx, row, sig);
  });
}

export function restartCommand(ctx: Context, names: string[], opts: { time?: string }): Promise<number> {
  return eachContainer(ctx, names, async (row) => {
    await restartContainer(ctx, row, parseStopTime(opts.time, containerConfig(row)));
  });
}

export function pauseCommand(ctx: Context, names: string[]): Promise<number> {
  return eachContainer(ctx, names, (row) => pauseContainer(ctx, row));
}

export function unpauseCommand(ctx: Context, names: string[]): Promise<number> {
  return eachContainer(ctx, names, (row) => unpauseContainer(ctx, row));
}

export async function waitCommand(ctx: Context, names: string[]): Promise<number> {
  const abort = new AbortController();
  const onSig = () => abort.abort();
  process.once('SIGINT', onSig);
  process.once('SIGTERM', onSig);
  try {
    return await eachContainer(
      ctx,
      names,
      async (row) => {
        const code = await waitContainer(ctx, row, { signal: abort.signal });
        process.stdout.write(`${code}\n`);
      },
      false,
    );
  } finally {
    process.off('SIGINT', onSig);
    process.off('SIGTERM', onSig);
  }
}

export function renameCommand(ctx: Context, oldName: string, newName: string): void {
  renameContainerTo(ctx, findContainer(ctx.db(), oldName), newName);
}

export async function logsCommand(
  ctx: Context,
  name: string,
  opts: { follow?: boolean; tail?: string; timestamps?: boolean; since?: string; until?: string },
): Promise<void> {
  const { containerLogs, parseSinceNs, parseTail } = await import('../../runtime/logs.js');
  const row = findContainer(ctx.db(), name);
  const abort = new AbortController();
  const onSig = () => abort.abort();
  process.once('SIGINT', onSig);
  try {
    await containerLogs(ctx, row, {
      follow: Boolean(opts.follow),
      timestamps: Boolean(opts.timestamps),
      tail: parseTail(opts.tail),
      ...(opts.since !== undefined ? { sinceNs: parseSinceNs(opts.since) } : {}),
      ...(opts.until !== undefined ? { untilNs: parseSinceNs(opts.until) } : {}),
      write: (stream, text) => (stream === 'stderr' ? process.stderr : process.stdout).write(text),
      signal: abort.signal,
    });
  } finally {
    process.off('SIGINT', onSig);
  }
}

export async function inspectCommand(ctx: Context, names: string[], opts: { format?: string; type?: string }): Promise<number> {
  const { inspectContainer } = await import('../../runtime/inspect.js');
  const docs: unknown[] = [];
  const errors: TscError[] = [];
  for (const n of names) {
    let row: ContainerRow | undefined;
    if (opts.type !== 'image') {
      try {
        row = findContainer(ctx.db(), n);
      } catch (err) {
        if (!(err instanceof NotFoundError) || opts.type === 'container') {
          errors.push(toTscError(err));
          continue;
        }
      }
    }
    if (row) {
      docs.push(inspectContainer(ctx, await reconcile(ctx, row)));
      continue;
    }
    // docker inspect falls back to images
    const { inspectImages } = await import('../../image/service.js');
    const r = await inspectImages(ctx, [n]);
    if (r.images.length > 0) docs.push(...r.images);
    else errors.push(new NotFoundError(`No such object: ${n}`, EXIT_MANAGEMENT));
  }
  if (opts.format !== undefined) for (const d of docs) process.stdout.write(renderTemplate(opts.format, d) + '\n');
  else printJson(docs);
  for (const e of errors) process.stderr.write(`tscontainer: ${e.message}\n`);
  return errors.length > 0 ? EXIT_MANAGEMENT : 0;
}

export async function topCommand(ctx: Context, name: string, psArgs: string[]): Promise<void> {
  const { topContainer } = await import('../../runtime/stats.js');
  const r = await topContainer(ctx, findContainer(ctx.db(), name), psArgs);
  process.stdout.write(r.lines.join('\n') + '\n');
}

export async function statsCommand(
  ctx: Context,
  names: string[],
  opts: { stream: boolean; format?: string; all?: boolean },
): Promise<void> {
  const { liveRows, sample, statsLine, statsStrings } = await import('../../runtime/stats.js');
  type Sample = NonNullable<ReturnType<typeof sample>>;
  const db = ctx.db();
  const explicit = names.map((n) => findContainer(db, n));
  const rowsNow = async (): Promise<ContainerRow[]> => {
    if (explicit.length > 0) {
      const cur = explicit.map((r) => getContainer(db, r.id)).filter((r): r is ContainerRow => r !== undefined);
      return opts.all ? cur : liveRows(ctx, cur);
    }
    return liveRows(ctx, listContainers(db, { all: false }));
  };
  if (explicit.length > 0) {
    const live = await liveRows(ctx, explicit);
    const dead = explicit.filter((r) => !live.some((l) => l.id === r.id));
    if (dead.length > 0 && !opts.stream) {
      for (const d of dead.slice(0, -1)) process.stderr.write(`tscontainer: container ${d.name} is not running\n`);
      throw new TscError(`container ${dead[dead.length - 1]!.name} is not running`, EXIT_MANAGEMENT);
    }
  }
  const render = (lines: Record<string, string>[]): string => {
    if (opts.format === 'json' || opts.format === '{{json .}}') return lines.map((l) => JSON.stringify(l) + '\n').join('');
    if (opts.format !== undefined) {
      const table = opts.format.startsWith('table ');
      const tpl = table ? opts.format.slice(6) : opts.format;
      const body = lines.map((l) => renderTemplate(tpl, l) + '\n').join('');
      return table ? templateHeader(tpl) + '\n' + body : body;
    }
    const headers = ['CONTAINER ID', 'NAME', 'CPU %', 'MEM USAGE / LIMIT', 'MEM %', 'NET I/O', 'BLOCK I/O', 'PIDS'];
    const rows = lines.map((l) => [
      l['ID']!,
      l['Name']!,
      l['CPUPerc']!,
      l['MemUsage']!,
      l['MemPerc']!,
      l['NetIO']!,
      l['BlockIO']!,
      l['PIDs']!,
    ]);
    const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    const line = (cells: string[]) =>
      cells
        .map((c, i) => c.padEnd(widths[i]! + 3))
        .join('')
        .trimEnd();
    return [line(headers), ...rows.map(line)].join('\n') + '\n';
  };

  let prev = new Map<string, Sample>();
  const take = async (): Promise<Map<string, Sample>> => {
    const m = new Map<string, Sample>();
    for (const r of await rowsNow()) {
      const s = sample(r);
      if (s) m.set(r.id, s);
    }
    return m;
  };
  prev = await take();
  if (!opts.stream) {
    await new Promise((r) => setTimeout(r, 1000));
    const now = await take();
    process.stdout.write(render([...now.values()].map((s) => statsStrings(statsLine(prev.get(s.row.id), s)))));
    return;
  }
  let stop = false;
  const onSig = () => {
    stop = true;
  };
  process.once('SIGINT', onSig);
  process.once('SIGTERM', onSig);
  const tty = process.stdout.isTTY === true;
  while (!stop) {
    await new Promise((r) => setTimeout(r, 1000));
    if (stop) break;
    const now = await take();
    const text = render([...now.values()].map((s) => statsStrings(statsLine(prev.get(s.row.id), s))));
    process.stdout.write(tty ? `\x1b[2J\x1b[H${text}` : text);
    prev = now;
    if (explicit.length > 0 && now.size === 0 && !opts.all) break;
  }
  process.off('SIGINT', onSig);
  process.off('SIGTERM', onSig);
}

// ------------------------------------------------------------------------------------- prune

export async function containerPruneCommand(ctx: Context): Promise<void> {
  const { pruneContainers } = await import('../../runtime/prune.js');
  const r = await pruneContainers(ctx);
  if (r.deleted.length > 0) process.stdout.write(`Deleted Containers:\n${r.deleted.map((i) => i + '\n').join('')}\n`);
  process.stdout.write(`Total reclaimed space: ${decimalSize(r.reclaimed)}\n`);
}

export async function systemPruneCommand(ctx: Context, opts: { all?: boolean }): Promise<void> {
  const { pruneSystem } = await import('../../runtime/prune.js');
  const { pruneImages } = await import('../../image/service.js');
  const r = await pruneSystem(ctx, () => pruneImages(ctx, { all: opts.all ?? false }));
  const out: string[] = [];
  if (r.containers.deleted.length > 0) out.push(`Deleted Containers:\n${r.containers.deleted.join('\n')}\n`);
  if (r.networks.length > 0) out.push(`Deleted Networks:\n${r.networks.join('\n')}\n`);
  if (r.images.events.length > 0) {
    out.push(
      `Deleted Images:\n${r.images.events.map((e) => `${e.kind === 'Untagged' ? 'untagged' : 'deleted'}: ${e.value}`).join('\n')}\n`,
    );
  }
  const g = r.garbage;
  const garbage = [...g.containerDirs, ...g.runDirs, ...g.tmp, ...g.layers.map((l) => `${l.driver} layer ${l.id}`)];
  if (garbage.length > 0) out.push(`Removed files no record names:\n${garbage.join('\n')}\n`);
  for (const o of out) process.stdout.write(o + '\n');
  process.stdout.write(`Total reclaimed space: ${decimalSize(r.reclaimed)}\n`);
}
