// Two kinds of tracing, both free when off:
//
// - TSCONTAINER_TRACE=1: phase marks of the run path, printed at exit as milliseconds after
//   process start (for performance work, docs/performance.md).
// - --trace / --trace=json (run, create, start, exec, rm, build): one stream of events, each a
//   step the container's setup took, from the TypeScript side (layers, cgroup files, ip/nft
//   commands, SQLite rows) and from the native helper (clone, mounts, pivot_root, capabilities,
//   execve; it sends them as {"type":"trace"} lines on its report pipe when given --trace).
//   Printed as it happens on stderr, as a narration or as JSON lines. See docs/labs.md.
const on = process.env['TSCONTAINER_TRACE'] === '1';
const marks: [string, number][] = [];

export function mark(label: string): void {
  if (on) marks.push([label, performance.now()]);
}

export function printTrace(): void {
  if (!on || marks.length === 0) return;
  process.stderr.write(marks.map(([l, t]) => `trace ${t.toFixed(1).padStart(7)} ms  ${l}`).join('\n') + '\n');
}

// ---- --trace events --------------------------------------------------------------------

export type TraceFormat = 'text' | 'json';

export interface TraceEvent {
  /** Wall-clock time the step ended, ISO 8601 with milliseconds. */
  readonly time: string;
  /** Milliseconds after the CLI started. */
  readonly at: number;
  /** How long the step took, in milliseconds (helper steps: since its previous step). */
  readonly ms: number;
  /** Who took the step: the CLI or the native helper (its pid as it sees itself). */
  readonly by: 'tscontainer' | `helper ${number}`;
  /** clone, mount, pivot_root, cgroup write, exec ip, sqlite insert ... */
  readonly step: string;
  /** The arguments: flags, paths, values, the command line. */
  readonly detail: string;
  /** One line on why, where it helps a reader. */
  readonly why?: string;
}

let format: TraceFormat | undefined;

/** Whether --trace is on: call sites check this before building a detail string. */
export function tracing(): boolean {
  return format !== undefined;
}

export function enableTrace(f: TraceFormat): void {
  format = f;
  // a reader that goes away (| head) must not kill the command half-way through a container's setup
  process.stderr.on('error', () => undefined);
}

function emit(e: TraceEvent): void {
  if (format === 'json') {
    process.stderr.write(JSON.stringify(e) + '\n');
    return;
  }
  const why = e.why ? `   (${e.why})` : '';
  const by = e.by === 'tscontainer' ? 'ts    ' : 'helper';
  process.stderr.write(
    `trace ${e.at.toFixed(1).padStart(7)} ms ${e.ms.toFixed(2).padStart(7)} ms  ${by}  ${e.step}  ${e.detail}${why}\n`,
  );
}

/** Reports a step of ours that took `ms` milliseconds (ended now). */
export function traceEvent(step: string, detail: string, ms = 0, why?: string): void {
  if (format === undefined) return;
  const at = performance.now();
  emit({ time: new Date().toISOString(), at, ms, by: 'tscontainer', step, detail, ...(why ? { why } : {}) });
}

/** Times a synchronous step and reports it. */
export function traceSync<T>(step: string, detail: () => string, fn: () => T, why?: string): T {
  if (format === undefined) return fn();
  const t0 = performance.now();
  const r = fn();
  traceEvent(step, detail(), performance.now() - t0, why);
  return r;
}

/** Times an asynchronous step and reports it. */
export async function traceAsync<T>(step: string, detail: () => string, fn: () => Promise<T>, why?: string): Promise<T> {
  if (format === undefined) return fn();
  const t0 = performance.now();
  const r = await fn();
  traceEvent(step, detail(), performance.now() - t0, why);
  return r;
}

/** A {"type":"trace"} line of the native helper (docs/helper-protocol.md). */
export interface HelperTrace {
  readonly type: 'trace';
  readonly pid: number;
  /** CLOCK_REALTIME in microseconds when the step ended. */
  readonly us: number;
  /** Microseconds since the helper process's previous trace line. */
  readonly dur_us: number;
  readonly step: string;
  readonly detail: string;
}

const WHY: Readonly<Record<string, string>> = {
  clone: 'a new process, born in new namespaces',
  setns: 'join an existing namespace',
  'mount root': 'the container root becomes a mount point for pivot_root',
  pivot_root: "leave the host's tree",
  'umount old root': 'nothing of the host stays reachable',
  sethostname: 'only in the new uts namespace',
  'drop bounding': 'what execve can ever grant back',
  capset: 'the capabilities the process keeps',
  no_new_privs: 'setuid binaries cannot gain privileges',
  'seccomp compile': "the profile's rules become a BPF program, kept in the cache for the next container",
  seccomp: 'the kernel now runs this filter on every system call; it can never be removed',
  setrlimit: 'resource limits carried across execve',
  'switch user': 'the user and groups the program runs as',
  execve: "the container's program replaces the helper's code",
};

export function emitHelperTrace(t: HelperTrace): void {
  if (format === undefined) return;
  const at = t.us / 1000 - performance.timeOrigin;
  const why = WHY[t.step];
  emit({
    time: new Date(t.us / 1000).toISOString(),
    at,
    ms: t.dur_us / 1000,
    by: `helper ${t.pid}`,
    step: t.step,
    detail: t.detail,
    ...(why ? { why } : {}),
  });
}
