// Running short-lived tools (ip, nft, nsenter, mount, umount, cp): input on stdin, output
// collected. Built on node:child_process rather than execa because loading execa costs about
// 100 ms on these machines, and `run` must stay lean. Nothing in src/ uses execa (only the tests do).
import type { SpawnOptionsWithStdioTuple, SpawnSyncOptions, StdioPipe } from 'node:child_process';
import { SystemError } from './errors.js';
import { traceEvent, tracing } from './trace.js';

// node:child_process on first use: loading it (with net, dgram, stream) costs ~4 ms, and
// commands that list or inspect never spawn anything.
const spawn = (cmd: string, args: string[], opts: SpawnOptionsWithStdioTuple<StdioPipe, StdioPipe, StdioPipe>) =>
  process.getBuiltinModule('node:child_process').spawn(cmd, args, opts);
const spawnSync = (cmd: string, args: string[], opts: SpawnSyncOptions & { encoding: 'utf8' }) =>
  process.getBuiltinModule('node:child_process').spawnSync(cmd, args, opts);

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function execInput(cmd: string, args: string[], input: string, cwd?: string): Promise<ExecResult> {
  const t0 = tracing() ? performance.now() : 0;
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], cwd });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', (err) => reject(new SystemError(`cannot run ${cmd}: ${err.message}`, { cause: err })));
    child.on('close', (code, signal) => {
      if (tracing()) traceExec(cmd, args, input, code, performance.now() - t0);
      resolvePromise({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
  });
}

/** --trace: the command line, and nft's script (its input) when there is one. */
function traceExec(cmd: string, args: string[], input: string, code: number | null, ms: number): void {
  const script = input.trim() ? ` <<< ${input.trim().replace(/\s*\n\s*/g, '; ')}` : '';
  traceEvent(`exec ${cmd}`, `${cmd} ${args.join(' ')}${script}${code ? ` -> exit ${code}` : ''}`, ms);
}

export function execInputSync(cmd: string, args: string[], input: string): ExecResult {
  const t0 = tracing() ? performance.now() : 0;
  const r = spawnSync(cmd, args, { input, encoding: 'utf8' });
  if (tracing()) traceExec(cmd, args, input, r.status, performance.now() - t0);
  if (r.error) throw new SystemError(`cannot run ${cmd}: ${r.error.message}`, { cause: r.error });
  return { code: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
}

export function firstLine(s: string): string {
  return (
    s
      .trim()
      .split('\n')
      .find((l) => l.trim() !== '')
      ?.trim() ?? ''
  );
}
