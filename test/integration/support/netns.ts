// Fake containers for the network tests: a process in a network namespace of its own (optionally
// a mount namespace with the container's /etc files bind-mounted), plus bookkeeping so that
// every process, link and nftables table a test made is removed again. Only pids we spawned
// are ever killed.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { scaled } from './cli.js';
import { statSync } from 'node:fs';

export interface FakeContainer {
  pid: number;
  child: ChildProcess;
  /** Runs a command inside the namespace(s); never throws. */
  exec(args: string[], opts?: { timeoutMs?: number; mount?: boolean }): { code: number; stdout: string; stderr: string };
}

const children = new Set<ChildProcess>();

function nsIno(pid: number | 'self', kind: 'net' | 'mnt'): number {
  return statSync(`/proc/${pid}/ns/${kind}`).ino;
}

/**
 * Spawns `unshare -n [-m] sh -c '...; exec sleep 300'` and waits until the process really
 * lives in a new network namespace (right after spawn it may still be in ours). With `binds`,
 * each [file, target] is bind-mounted inside a private mount namespace first.
 */
export async function fakeContainer(binds: [string, string][] = []): Promise<FakeContainer> {
  // The native helper brings lo up in every new network namespace; the stand-in does the same.
  const script = ['ip link set lo up', ...binds.map(([src, dst]) => `mount --bind '${src}' '${dst}'`), 'exec sleep 300'].join(
    ' && ',
  );
  const args = binds.length > 0 ? ['-n', '-m', 'sh', '-c', script] : ['-n', 'sh', '-c', script];
  const child = spawn('unshare', args, { stdio: 'ignore' });
  children.add(child);
  child.on('exit', () => children.delete(child));
  const pid = child.pid!;
  const self = nsIno('self', 'net');
  const deadline = Date.now() + 5000;
  for (;;) {
    try {
      // sleep is exec'd last, so comm === 'sleep' means the mounts are done too
      const comm = spawnSync('cat', [`/proc/${pid}/comm`], { encoding: 'utf8' }).stdout.trim();
      if (nsIno(pid, 'net') !== self && comm === 'sleep') break;
    } catch {
      /* not there yet */
    }
    if (Date.now() > deadline) throw new Error(`unshare (pid ${pid}) did not get its namespace in time`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return {
    pid,
    child,
    exec(cmd, opts = {}) {
      const ns = opts.mount ? ['-t', String(pid), '-n', '-m'] : [`--net=/proc/${pid}/ns/net`];
      const r = spawnSync('nsenter', [...ns, ...cmd], { encoding: 'utf8', timeout: scaled(opts.timeoutMs ?? 10_000) });
      return { code: r.status ?? 1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
    },
  };
}

/** Kills (by pid, SIGKILL) every fake container this process spawned and waits for them. */
export async function killAll(): Promise<void> {
  const waits = [...children].map(
    (c) =>
      new Promise<void>((r) => {
        if (c.exitCode !== null || c.signalCode !== null) return r();
        c.once('exit', () => r());
        c.kill('SIGKILL');
      }),
  );
  await Promise.all(waits);
}

export function sh(cmd: string, args: string[], input?: string): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input });
  return { code: r.status ?? 1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

export function linkNames(): string[] {
  const r = sh('ip', ['-j', 'link', 'show']);
  return (JSON.parse(r.stdout || '[]') as { ifname: string }[]).map((l) => l.ifname);
}

export function deleteLinkIfPresent(name: string): void {
  if (linkNames().includes(name)) sh('ip', ['link', 'del', name]);
}

export function nftTables(): string[] {
  return sh('nft', ['list', 'tables']).stdout.split('\n').filter(Boolean);
}

/** A /24 in 10.199.0.0/16 that no host route touches, starting from a random third octet. */
export function freeTestSubnets(count: number, used: Set<number> = new Set()): number[] {
  const routes = sh('ip', ['-j', 'route', 'show']).stdout;
  const out: number[] = [];
  let third = 100 + Math.floor(Math.random() * 100);
  while (out.length < count) {
    third = third >= 250 ? 100 : third + 1;
    if (used.has(third) || routes.includes(`10.199.${third}.`)) continue;
    used.add(third);
    out.push(third);
  }
  return out;
}
