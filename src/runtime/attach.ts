// `attach`: connect the terminal to a running detached container through its monitor's
// attach socket (<run dir>/attach.sock, see docs/helper-protocol.md): live output from now on,
// our stdin to the container's (when it was started with -i), Ctrl-P Ctrl-Q to detach and
// leave it running. Ends with the container's exit code when it exits while attached.
import { connect, type Socket } from 'node:net';
import type { Context } from './context.js';
import { getContainer, findContainer } from '../store/containers.js';
import { ConflictError, EXIT_MANAGEMENT, SystemError, UsageError } from '../util/errors.js';
import type { ContainerConfig } from './config.js';
import { readExitFile } from './exitfile.js';
import { isSameProcess } from './proc.js';
import { reconcile } from './reconcile.js';

export interface AttachFlags {
  stdin: boolean;
  detachKeys?: string;
}

/** "ctrl-p,ctrl-q" → [0x10, 0x11]; single characters stand for themselves. */
export function parseDetachKeys(spec: string): number[] {
  const keys = spec.split(',').map((k) => {
    const m = /^ctrl-([a-z@[\\\]^_])$/i.exec(k);
    if (m) return m[1]!.toUpperCase().charCodeAt(0) & 0x1f;
    if (k.length === 1) return k.charCodeAt(0);
    throw new UsageError(`invalid detach keys "${spec}": expected keys like ctrl-p,ctrl-q`);
  });
  if (keys.length === 0) throw new UsageError('invalid detach keys: empty');
  return keys;
}

/** Splits the monitor's frames (stream byte, 3 zero bytes, 32-bit big-endian length, data). */
function frameReader(onFrame: (stream: number, data: Buffer) => void): (chunk: Buffer) => void {
  let pending: Buffer = Buffer.alloc(0);
  return (chunk) => {
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    while (pending.length >= 8) {
      const len = pending.readUInt32BE(4);
      if (pending.length < 8 + len) break;
      onFrame(pending[0]!, pending.subarray(8, 8 + len));
      pending = pending.subarray(8 + len);
    }
  };
}

async function connectTo(runDir: string): Promise<Socket> {
  // The socket's full path may exceed sun_path's 108 bytes: connect relative to the run dir.
  const cwd = process.cwd();
  process.chdir(runDir);
  try {
    return await new Promise<Socket>((resolve, reject) => {
      const s = connect({ path: 'attach.sock' });
      s.once('connect', () => resolve(s));
      s.once('error', reject);
    });
  } finally {
    process.chdir(cwd);
  }
}

export async function attachContainer(ctx: Context, ref: string, flags: AttachFlags): Promise<number> {
  const detachKeys = parseDetachKeys(flags.detachKeys ?? 'ctrl-p,ctrl-q');
  const row = await reconcile(ctx, findContainer(ctx.db(), ref));
  if (row.state === 'paused') throw new ConflictError(`container ${row.name} is paused, unpause it first`, EXIT_MANAGEMENT);
  if (row.state !== 'running' || !isSameProcess(row.pid, row.pid_start)) {
    throw new ConflictError(`container ${row.name} is not running`, EXIT_MANAGEMENT);
  }
  const config = JSON.parse(row.config) as ContainerConfig;
  if (config.tty && flags.stdin && !process.stdin.isTTY) {
    throw new UsageError('the input device is not a TTY');
  }
  const runDir = ctx.layout.runContainer(row.id);
  let sock: Socket;
  try {
    sock = await connectTo(runDir);
  } catch (err) {
    throw new SystemError(`cannot attach to container ${row.name}: its monitor does not listen (${(err as Error).message})`);
  }

  let detached = false;
  const raw = config.tty && flags.stdin && process.stdin.isTTY;
  if (raw) process.stdin.setRawMode(true);
  sock.on(
    'data',
    frameReader((stream, data) => (stream === 2 ? process.stderr : process.stdout).write(data)),
  );

  // Our stdin to the container, watching for the detach sequence (held back while it matches).
  let matched = 0;
  const onInput = (chunk: Buffer) => {
    const out: number[] = [];
    for (const b of chunk) {
      if (b === detachKeys[matched]) {
        matched++;
        if (matched === detachKeys.length) {
          detached = true;
          sock.end();
          return;
        }
        continue;
      }
      if (matched > 0) out.push(...detachKeys.slice(0, matched));
      matched = b === detachKeys[0] ? 1 : 0;
      if (matched === 0) out.push(b);
    }
    if (out.length && config.openStdin) sock.write(Buffer.from(out));
  };
  // Our stdin ending ends the attach (the container's stdin stays open for the next one),
  // after a moment for the output the last input caused.
  const onEnd = () => setTimeout(() => sock.end(), 300).unref();
  if (flags.stdin) process.stdin.on('data', onInput).once('end', onEnd);

  // docker's sig-proxy for Ctrl-C without a terminal: SIGINT goes to the container's init.
  // (SIGTERM/SIGHUP end the attach and leave the container running.)
  const proxy = (sig: NodeJS.Signals) => () => {
    try {
      if (isSameProcess(row.pid, row.pid_start)) process.kill(row.pid!, sig);
    } catch {
      /* already gone */
    }
  };
  const signals = [
    ['SIGINT', proxy('SIGINT')] as const,
    ...(['SIGTERM', 'SIGHUP'] as const).map((s) => [s, () => sock.destroy()] as const),
  ];
  for (const [s, h] of signals) process.on(s, h);

  await new Promise<void>((resolve) => sock.once('close', () => resolve()));
  for (const [s, h] of signals) process.off(s, h);
  if (flags.stdin) process.stdin.off('data', onInput).off('end', onEnd).pause();
  if (raw) process.stdin.setRawMode(false);
  if (detached) process.stderr.write('\r\nread escape sequence\r\n');
  if (detached || isSameProcess(row.pid, row.pid_start)) return 0;
  // The monitor closed us: the container exited; its exit record says how.
  for (let i = 0; i < 100; i++) {
    const rec = readExitFile(runDir);
    if (rec) return rec.exitCode;
    await new Promise((r) => setTimeout(r, 20));
  }
  const cur = getContainer(ctx.db(), row.id);
  return cur?.exit_code ?? 0;
}
