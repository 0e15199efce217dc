// Fixtures for test/integration/native-helper.test.ts: a busybox rootfs, OCI config.json
// documents written by hand, and a driver for tscontainer-helper's fd 3 / fd 4 protocol.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const HELPER = path.join(REPO, 'native/build/tscontainer-helper');

/** The 14 capabilities docker gives a container by default (CapEff 00000000a80425fb). */
export const DOCKER_CAPS = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

export function buildHelper(): void {
  execFileSync('make', ['-s', '-C', path.join(REPO, 'native')], { stdio: 'inherit' });
}

/** Temp dirs and processes one test created; cleanup() removes them even after a failure. */
export class Scratch {
  private dirs: string[] = [];
  private pids: number[] = [];

  dir(): string {
    const d = mkdtempSync('/tmp/tsc-native-');
    this.dirs.push(d);
    return d;
  }

  track(pid: number | undefined): void {
    if (pid) this.pids.push(pid);
  }

  async cleanup(): Promise<void> {
    for (const pid of this.pids.reverse()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    this.pids = [];
    // give the kernel a moment to tear down the killed processes' mount namespaces
    await new Promise((r) => setTimeout(r, 50));
    for (const d of this.dirs) rmSync(d, { recursive: true, force: true });
    this.dirs = [];
  }
}

/** A busybox rootfs: /bin/busybox (Debian's static build) plus one relative symlink per applet. */
export function makeRootfs(dir: string): string {
  const root = path.join(dir, 'rootfs');
  for (const d of ['bin', 'dev', 'etc', 'proc', 'sys', 'tmp', 'root', 'home/user']) {
    mkdirSync(path.join(root, d), { recursive: true });
  }
  copyFileSync('/bin/busybox', path.join(root, 'bin/busybox'));
  const applets = execFileSync('/bin/busybox', ['--list'], { encoding: 'utf8' }).split('\n');
  for (const a of applets) {
    if (a && a !== 'busybox') symlinkSync('busybox', path.join(root, 'bin', a));
  }
  writeFileSync(
    path.join(root, 'etc/passwd'),
    'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n',
  );
  writeFileSync(path.join(root, 'etc/group'), 'root:x:0:\ntty:x:5:\nuser:x:1000:\nnobody:x:65534:\n');
  return root;
}

export interface OciMount {
  destination: string;
  type?: string;
  source?: string;
  options?: string[];
}

export interface OciProcess {
  terminal?: boolean;
  user?: { uid: number; gid: number; additionalGids?: number[] };
  args: string[];
  env?: string[];
  cwd?: string;
  capabilities?: Record<'bounding' | 'effective' | 'inheritable' | 'permitted' | 'ambient', string[]>;
  rlimits?: { type: string; hard: number; soft: number }[]; // -1: unlimited
  noNewPrivileges?: boolean;
}

export interface OciConfig {
  ociVersion: string;
  process: OciProcess;
  root: { path: string; readonly?: boolean };
  hostname?: string;
  mounts: OciMount[];
  linux: {
    namespaces: { type: string; path?: string }[];
    devices: { path: string; type: string; major: number; minor: number; fileMode: number; uid: number; gid: number }[];
    maskedPaths: string[];
    readonlyPaths: string[];
    rootfsPropagation?: string;
  };
  annotations: Record<string, string>;
}

const dev = (name: string, major: number, minor: number) => ({
  path: `/dev/${name}`,
  type: 'c',
  major,
  minor,
  fileMode: 0o666,
  uid: 0,
  gid: 0,
});

/**
 * A config.json as tscontainer's runtime would write it for `docker run busybox ARGS`:
 * the rootfs is the shared busybox tree bind-mounted (through the rootfs annotations) onto
 * the bundle's empty rootfs directory.
 */
export function defaultConfig(sharedRootfs: string, args: string[]): OciConfig {
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args,
      env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOME=/root'],
      cwd: '/',
      capabilities: {
        bounding: DOCKER_CAPS,
        effective: DOCKER_CAPS,
        inheritable: [],
        permitted: DOCKER_CAPS,
        ambient: [],
      },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: 'rootfs', readonly: false },
    hostname: 'tsc-test',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      {
        destination: '/dev/pts',
        type: 'devpts',
        source: 'devpts',
        options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
      },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
      { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
      {
        destination: '/dev/shm',
        type: 'tmpfs',
        source: 'shm',
        options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'],
      },
    ],
    linux: {
      namespaces: ['pid', 'network', 'ipc', 'uts', 'mount', 'cgroup'].map((type) => ({ type })),
      devices: [
        dev('null', 1, 3),
        dev('zero', 1, 5),
        dev('full', 1, 7),
        dev('random', 1, 8),
        dev('urandom', 1, 9),
        dev('tty', 5, 0),
      ],
      maskedPaths: [
        '/proc/asound',
        '/proc/acpi',
        '/proc/kcore',
        '/proc/keys',
        '/proc/latency_stats',
        '/proc/timer_list',
        '/proc/timer_stats',
        '/proc/sched_debug',
        '/proc/scsi',
        '/sys/firmware',
      ],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
    annotations: {
      'org.tscontainer.rootfs.type': 'bind',
      'org.tscontainer.rootfs.source': sharedRootfs,
    },
  };
}

/** A bundle dir (config.json + empty rootfs mount point) and a state dir. */
export function writeBundle(scratch: Scratch, config: OciConfig): { bundle: string; state: string } {
  const dir = scratch.dir();
  const bundle = path.join(dir, 'bundle');
  const state = path.join(dir, 'state');
  mkdirSync(path.join(bundle, 'rootfs'), { recursive: true });
  mkdirSync(state);
  writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(config, null, 2));
  return { bundle, state };
}

export interface Report {
  type: 'pid' | 'started' | 'error';
  pid?: number;
  code?: number;
  message?: string;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** How to start the helper: its environment, and a command to run it under (e.g. `unshare -m`). */
export interface SpawnOptions {
  env?: NodeJS.ProcessEnv;
  /** argv of a wrapper that ends by exec'ing its arguments: the helper's argv is appended */
  prefix?: string[];
}

/** One helper process with its report pipe (fd 3) and control pipe (fd 4). */
export class Helper {
  readonly child: ChildProcess;
  readonly reports: Report[] = [];
  stdout = '';
  stderr = '';
  readonly exited: Promise<Exit>;
  private listeners: (() => void)[] = [];

  constructor(scratch: Scratch, argv: string[], opts: SpawnOptions = {}) {
    const [command, ...args] = [...(opts.prefix ?? []), HELPER, ...argv];
    this.child = spawn(command!, args, { stdio: ['pipe', 'pipe', 'pipe', 'pipe', 'pipe'], env: opts.env ?? process.env });
    scratch.track(this.child.pid);
    this.child.stdout!.setEncoding('utf8').on('data', (d: string) => (this.stdout += d));
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
    let buf = '';
    (this.child.stdio[3] as Readable).setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const report = JSON.parse(buf.slice(0, nl)) as Report;
        buf = buf.slice(nl + 1);
        this.reports.push(report);
        if (report.type === 'pid') scratch.track(report.pid);
        for (const l of this.listeners) l();
      }
    });
    (this.child.stdio[4] as Writable).on('error', () => undefined); // helper gone: EPIPE is fine
    this.exited = new Promise((resolve) => {
      this.child.on('close', (code, signal) => {
        for (const l of this.listeners) l();
        resolve({ code, signal });
      });
    });
  }

  /** The first report of one of these types (or undefined if the helper exited without it). */
  report(...types: Report['type'][]): Promise<Report | undefined> {
    return new Promise((resolve) => {
      const check = () => {
        const r = this.reports.find((x) => types.includes(x.type));
        if (r || this.child.exitCode !== null || this.child.signalCode !== null) {
          this.listeners = this.listeners.filter((l) => l !== check);
          resolve(r);
        }
      };
      this.listeners.push(check);
      check();
    });
  }

  go(): void {
    (this.child.stdio[4] as Writable).end('go\n');
  }

  giveUp(): void {
    (this.child.stdio[4] as Writable).end();
  }

  input(data?: string): void {
    this.child.stdin!.end(data);
  }
}

export interface RunResult extends Exit {
  stdout: string;
  stderr: string;
  reports: Report[];
  helper: Helper;
}

/** run a config to completion: pid -> go -> (started|error) -> exit. */
export async function runContainer(
  scratch: Scratch,
  config: OciConfig,
  opts: {
    flags?: string[];
    stdin?: string;
    whileRunning?: (h: Helper, pid: number) => Promise<void>;
    spawn?: SpawnOptions;
  } = {},
): Promise<RunResult & { bundle: string; state: string }> {
  const { bundle, state } = writeBundle(scratch, config);
  const helper = new Helper(scratch, ['run', '--bundle', bundle, '--state', state, ...(opts.flags ?? [])], opts.spawn);
  helper.input(opts.stdin);
  const pid = await helper.report('pid', 'error');
  if (pid?.type === 'pid') {
    helper.go();
    const started = await helper.report('started', 'error');
    if (started?.type === 'started' && opts.whileRunning) await opts.whileRunning(helper, pid.pid!);
  }
  const exit = await helper.exited;
  return { ...exit, stdout: helper.stdout, stderr: helper.stderr, reports: helper.reports, helper, bundle, state };
}

/** Run a command under a pseudo-terminal of the given size (util-linux `script`). */
export function underPty(
  scratch: Scratch,
  command: string,
  rows: number,
  cols: number,
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn('script', ['-qec', `stty rows ${rows} cols ${cols}; ${command}`, '/dev/null'], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    scratch.track(child.pid);
    let output = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (output += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (output += d));
    // keep script's stdin open: on EOF script writes an end-of-file byte into the terminal,
    // which the container's line discipline would echo; script exits when its command does
    child.on('close', (code) => resolve({ code, output }));
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
