// `ps`: every row that claims to run is checked against the kernel first, then the list is
// printed as docker prints it. Kept apart from the other lifecycle actions so that `ps` loads
// only the store, the reconciler and the formatters.
import type { Context } from '../../runtime/context.js';
import { containerConfig } from '../../runtime/config.js';
import { listContainers, type ContainerRow } from '../../store/containers.js';
import { reconcileAll } from '../../runtime/reconcile.js';
import { allPortMappings } from '../../store/networks.js';
import { UsageError } from '../../util/errors.js';
import { renderTemplate, templateHeader } from '../../image/format.js';
import { ago, printTable } from '../output.js';

function statusText(r: ContainerRow, now: number): string {
  switch (r.state) {
    case 'running':
      return `Up ${ago(r.started_at, now).replace(/ ago$/, '')}`;
    case 'paused':
      return `Up ${ago(r.started_at, now).replace(/ ago$/, '')} (Paused)`;
    case 'exited':
      return `Exited (${r.exit_code ?? 0}) ${ago(r.finished_at, now)}`;
    case 'created':
      return 'Created';
    case 'removing':
      return 'Removal In Progress';
    default:
      return r.state;
  }
}

/** docker's CreatedAt: "2026-11-21 23:59:01 +0000 UTC". */
export function dockerTime(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return `${d.toISOString().slice(0, 19).replace('T', ' ')} +0000 UTC`;
}

export interface PsFilter {
  status: Set<string>;
  /** name=PATTERN: a regular expression, as docker's (compiled once, here). */
  name: RegExp[];
  id: string[];
  label: [string, string | undefined][];
  exited: number[];
}

export function parsePsFilters(values: string[]): PsFilter {
  const f: PsFilter = { status: new Set(), name: [], id: [], label: [], exited: [] };
  const STATUSES = ['created', 'restarting', 'running', 'removing', 'paused', 'exited', 'dead'];
  for (const v of values) {
    const eq = v.indexOf('=');
    if (eq <= 0) throw new UsageError(`bad format of filter "${v}": expected name=value`);
    const key = v.slice(0, eq).toLowerCase();
    const val = v.slice(eq + 1);
    switch (key) {
      case 'status':
        if (!STATUSES.includes(val)) throw new UsageError(`invalid filter 'status=${val}': one of ${STATUSES.join(', ')}`);
        f.status.add(val);
        break;
      case 'name':
        try {
          f.name.push(new RegExp(val));
        } catch (err) {
          // "Invalid regular expression: /(/: Unterminated group" -> the part after the pattern
          const why = (err instanceof Error ? err.message : String(err)).replace(
            /^Invalid regular expression: \/.*\/[a-z]*: /s,
            '',
          );
          throw new UsageError(`invalid filter 'name=${val}': ${why.split('\n')[0]}`);
        }
        break;
      case 'id':
        f.id.push(val);
        break;
      case 'label': {
        const i = val.indexOf('=');
        f.label.push(i < 0 ? [val, undefined] : [val.slice(0, i), val.slice(i + 1)]);
        break;
      }
      case 'exited':
        if (!/^\d+$/.test(val)) throw new UsageError(`invalid filter 'exited=${val}': expected an exit code`);
        f.exited.push(Number(val));
        break;
      default:
        throw new UsageError(`invalid filter '${key}': supported are status, name, id, label, exited`);
    }
  }
  return f;
}

function matches(r: ContainerRow, f: PsFilter): boolean {
  if (f.status.size > 0 && !f.status.has(r.state)) return false;
  if (f.name.length > 0 && !f.name.some((re) => re.test(r.name))) return false;
  if (f.id.length > 0 && !f.id.some((p) => r.id.startsWith(p))) return false;
  if (f.exited.length > 0 && !(r.state === 'exited' && f.exited.includes(r.exit_code ?? -1))) return false;
  if (f.label.length > 0) {
    const labels = containerConfig(r).labels ?? {};
    if (!f.label.every(([k, v]) => k in labels && (v === undefined || labels[k] === v))) return false;
  }
  return true;
}

export interface PsOptions {
  all?: boolean;
  quiet?: boolean;
  trunc: boolean;
  format?: string;
  last?: string;
  latest?: boolean;
  filter: string[];
}

export async function psCommand(ctx: Context, opts: PsOptions): Promise<void> {
  const db = ctx.db();
  const filter = parsePsFilters(opts.filter);
  let last: number | undefined;
  if (opts.last !== undefined) {
    if (!/^-?\d+$/.test(opts.last)) throw new UsageError(`invalid -n/--last "${opts.last}": expected a number`);
    last = Number(opts.last) < 0 ? undefined : Number(opts.last);
  }
  if (opts.latest) last = 1;
  // Reconcile every row that claims to run, then list what the caller asked for.
  await reconcileAll(ctx, listContainers(db, { all: false }));
  // -n/-l and a status filter other than running/paused imply -a, as in docker.
  const all =
    Boolean(opts.all) ||
    last !== undefined ||
    [...filter.status].some((s) => s !== 'running' && s !== 'paused') ||
    filter.exited.length > 0;
  let rows = listContainers(db, { all }).filter((r) => matches(r, filter));
  if (last !== undefined) rows = rows.slice(0, last);
  const id = (r: ContainerRow) => (opts.trunc ? r.id.slice(0, 12) : r.id);
  if (opts.quiet) {
    process.stdout.write(rows.map((r) => id(r) + '\n').join(''));
    return;
  }
  const ports = new Map<string, string[]>();
  for (const m of allPortMappings(db)) {
    const list = ports.get(m.container_id) ?? [];
    list.push(`${m.host_ip || '0.0.0.0'}:${m.host_port}->${m.container_port}/${m.proto}`);
    ports.set(m.container_id, list);
  }
  const now = Date.now();
  const shaped = rows.map((r) => {
    const cfg = containerConfig(r);
    const cmd = cfg.args.join(' ');
    const command = opts.trunc && cmd.length > 20 ? `${cmd.slice(0, 19)}…` : cmd;
    return {
      row: r,
      doc: {
        Command: `"${command}"`,
        CreatedAt: dockerTime(r.created_at),
        ID: id(r),
        Image: r.image_ref,
        Labels: Object.entries(cfg.labels ?? {})
          .map(([k, v]) => `${k}=${v}`)
          .join(','),
        Names: r.name,
        Networks: cfg.network.mode,
        Ports: (ports.get(r.id) ?? []).join(', '),
        RunningFor: ago(r.created_at, now),
        State: r.state,
        Status: statusText(r, now),
        ExitCode: r.exit_code,
        OOMKilled: r.oom_killed === 1,
      },
    };
  });
  if (opts.format === 'json' || opts.format === '{{json .}}') {
    process.stdout.write(shaped.map((s) => JSON.stringify(s.doc) + '\n').join(''));
    return;
  }
  if (opts.format !== undefined && opts.format !== 'table') {
    const table = opts.format.startsWith('table ');
    const tpl = table ? opts.format.slice(6) : opts.format;
    if (table) process.stdout.write(templateHeader(tpl) + '\n');
    process.stdout.write(shaped.map((s) => renderTemplate(tpl, s.doc) + '\n').join(''));
    return;
  }
  printTable(
    ['CONTAINER ID', 'IMAGE', 'COMMAND', 'CREATED', 'STATUS', 'PORTS', 'NAMES'],
    shaped.map((s) => [s.doc.ID, s.doc.Image, s.doc.Command, s.doc.RunningFor, s.doc.Status, s.doc.Ports, s.doc.Names]),
  );
}
