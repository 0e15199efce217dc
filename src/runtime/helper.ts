// Spawns the native helper and speaks its two-pipe protocol (docs/helper-protocol.md):
// fd 3 carries JSON lines from the helper (pid, started, error), fd 4 carries our `go`.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { ExecError, SystemError, TscError } from '../util/errors.js';
import { packageRoot } from '../util/paths.js';
import { emitHelperTrace, tracing, type HelperTrace } from '../util/trace.js';

export type HelperMessage = { type: 'pid'; pid: number } | { type: 'started' } | { type: 'error'; code: number; message: string };

export function helperPath(): string {
  const p = process.env['TSCONTAINER_HELPER'] ?? join(packageRoot(), 'native', 'build', 'tscontainer-helper');
  if (!existsSync(p)) {
    throw new SystemError(`the native helper ${p} is missing: run "npm run build" (or scripts/setup.sh)`);
  }
  return p;
}

export interface HelperProcess {
  child: ChildProcess;
  /** Resolves with the next message, or rejects when the helper closes fd 3 first. */
  next(): Promise<HelperMessage>;
  /** Tells the child to go on (cgroups and network are ready). */
  go(): void;
  /** Closes fd 4 without `go`: the helper kills the child and exits. */
  abort(): void;
  /** Resolves with the helper's exit status (code, or 128+signal). */
  exited: Promise<number>;
  /** Lets the helper run on in its own session without us: drops our pipes, and the CLI can exit. */
  leave(): void;
}

export interface SpawnOptions {
  args: string[];
  /** Attached: the helper shares our stdin/stdout/stderr. Detached: own session, no stdio. */
  attached: boolean;
  /** The helper's environment (default: ours); its exit command inherits it. */
  env?: NodeJS.ProcessEnv;
  /** Attached only: 'pipe' gives the container's stdout and stderr to the caller as
   *  child.stdout / child.stderr, with stdin from /dev/null (build steps). Default 'inherit'. */
  output?: 'inherit' | 'pipe';
}

export function spawnHelper({ args, attached, env, output }: SpawnOptions): HelperProcess {
  const piped = attached && output === 'pipe';
  const out = piped ? 'pipe' : attached ? 'inherit' : 'ignore';
  // --trace: the helper sends a {"type":"trace"} line for each step it takes (and none without it)
  const child = spawn(helperPath(), tracing() ? [...args, '--trace'] : args, {
    env: env ?? process.env,
    stdio: [piped ? 'ignore' : attached ? 'inherit' : 'ignore', out, out, 'pipe', 'pipe'],
    // Always its own session: terminal signals reach only the CLI, which forwards them, so the
    // container never gets one twice; and the monitor outlives the CLI.
    detached: true,
  });
  const report = child.stdio[3] as Readable;
  const control = child.stdio[4] as Writable;
  control.on('error', () => undefined); // EPIPE when the helper is already gone

  const queue: HelperMessage[] = [];
  const waiters: { resolve: (m: HelperMessage) => void; reject: (e: Error) => void }[] = [];
  let closed = false;
  let buf = '';
  report.setEncoding('utf8');
  report.on('data', (chunk: string) => {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (!line.trim()) continue;
      let msg: HelperMessage;
      try {
        const parsed = JSON.parse(line) as HelperMessage | HelperTrace;
        if (parsed.type === 'trace') {
          emitHelperTrace(parsed);
          continue;
        }
        msg = parsed;
      } catch {
        msg = { type: 'error', code: 125, message: `the native helper said something unreadable: ${line}` };
      }
      const w = waiters.shift();
      if (w) w.resolve(msg);
      else queue.push(msg);
    }
  });
  const onClose = () => {
    closed = true;
    for (const w of waiters.splice(0)) w.reject(new SystemError('the native helper exited before reporting'));
  };
  report.on('end', onClose);
  report.on('error', onClose);

  const exited = new Promise<number>((resolve) => {
    child.on('exit', (code, signal) => resolve(code ?? 128 + signalNumber(signal)));
    child.on('error', (err) => {
      onClose();
      resolve(125);
      void err;
    });
  });

  return {
    child,
    exited,
    next: () => {
      const m = queue.shift();
      if (m) return Promise.resolve(m);
      if (closed) return Promise.reject(new SystemError('the native helper exited before reporting'));
      return new Promise((resolve, reject) => waiters.push({ resolve, reject }));
    },
    go: () => {
      control.end('go\n');
    },
    abort: () => {
      control.destroy();
    },
    leave: () => {
      child.unref();
      for (const s of child.stdio) s?.destroy();
    },
  };
}

/** Turns an error report into the error to throw. */
export function helperError(m: { code: number; message: string }): TscError {
  return new ExecError(m.message, m.code);
}

function signalNumber(sig: NodeJS.Signals | null): number {
  return sig ? (constants.signals[sig] ?? 0) : 0;
}
