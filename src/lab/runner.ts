// Runs the student's script the way every checker does: bash, in the workspace, with the lab's
// variables in the environment, in a process group of its own. A "probe" run hands the script
// a command (`sleep <unique number>`) to run inside whatever the student built, then finds that
// process among the script's descendants so the checker can look at it from outside.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { cmdlineOf, descendants, killPids } from './proc.js';
import type { LabEnv } from './types.js';

export interface ScriptRun {
  readonly child: ChildProcess;
  /** Everything the script wrote to stdout and stderr so far. */
  output(): string;
  /** Resolves with the exit code (128+signal when killed). */
  readonly exited: Promise<number>;
  /** The exit code once it has exited. */
  code(): number | undefined;
  /** Kills the script and everything below it (by pid: only what this run started). */
  stop(): Promise<void>;
}

export function runScript(script: string, args: readonly string[], workspace: string, env: LabEnv): ScriptRun {
  const child = spawn('bash', [script, ...args], {
    cwd: workspace,
    env: { ...process.env, ...env },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let code: number | undefined;
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = new Promise<number>((resolve) => {
    child.on('error', (err) => {
      out += `cannot run bash: ${err.message}\n`;
      code = 127;
      resolve(127);
    });
    child.on('close', (c, signal) => {
      code = c ?? (signal ? 128 : 1);
      resolve(code);
    });
  });
  let seen: number[] = [];
  const stop = async (): Promise<void> => {
    const pid = child.pid;
    if (pid === undefined) return;
    // the tree first (a new session or pid namespace may have left the group), then the group
    seen = [...new Set([...seen, ...descendants(pid)])];
    killPids(seen);
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      /* the group is gone */
    }
    await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
  };
  // remember the tree as it grows, so that stop() finds orphans re-parented away from the script
  const timer = setInterval(() => {
    if (child.pid !== undefined && code === undefined) seen = [...new Set([...seen, ...descendants(child.pid)])];
  }, 50);
  void exited.then(() => clearInterval(timer));
  return { child, output: () => out, exited, code: () => code, stop };
}

/** A command no other process on the machine runs: `sleep 7xxxxx`. */
export function probeCommand(): string[] {
  return ['sleep', String(700000 + randomInt(99999))];
}

/** Whether `pid` runs the probe (any path to a `sleep` with the probe's argument). */
export function isProbe(pid: number, probe: readonly string[]): boolean {
  const cmd = cmdlineOf(pid);
  return cmd.length >= 2 && (cmd[0] === probe[0] || cmd[0]!.endsWith(`/${probe[0]}`)) && cmd[1] === probe[1];
}

/** Waits until the probe runs below the script; undefined if the script exits or time runs out. */
export async function findProbe(run: ScriptRun, probe: readonly string[], timeoutMs = 8000): Promise<number | undefined> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const pid = run.child.pid;
    if (pid !== undefined) {
      const hit = [pid, ...descendants(pid)].find((p) => isProbe(p, probe));
      if (hit !== undefined) return hit;
    }
    if (run.code() !== undefined) return undefined;
    await new Promise((r) => setTimeout(r, 50));
  }
  return undefined;
}

/** Runs the script to its end (killed after `timeoutMs`); returns its exit code. */
export async function runToEnd(run: ScriptRun, timeoutMs = 20000): Promise<number> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<number>((resolve) => {
    timer = setTimeout(() => {
      void run.stop().then(() => resolve(-1));
    }, timeoutMs);
  });
  const code = await Promise.race([run.exited, timeout]);
  clearTimeout(timer);
  return code;
}
