// Turns the flags of `run`/`create` into a validated ContainerConfig. Pure functions: every
// bad value becomes a UsageError naming the flag, before anything is created.
import { isAbsolute, normalize, resolve } from 'node:path';
import { readFileSync } from 'node:fs';
import { UsageError } from '../util/errors.js';
import type { ContainerConfig, Ulimit, VolumeMount } from './config.js';
import { parseProfile, type SeccompChoice } from './seccomp/index.js';

export interface RunFlags {
  detach?: boolean;
  interactive?: boolean;
  tty?: boolean;
  rm?: boolean;
  name?: string;
  env: string[];
  envFile: string[];
  workdir?: string;
  user?: string;
  hostname?: string;
  volume: string[];
  memory?: string;
  memorySwap?: string;
  cpus?: string;
  cpuShares?: string;
  cpusetCpus?: string;
  cpusetMems?: string;
  pidsLimit?: string;
  entrypoint?: string;
  network?: string;
  publish: string[];
  publishAll?: boolean;
  expose: string[];
  dns: string[];
  dnsSearch: string[];
  dnsOption: string[];
  addHost: string[];
  networkAlias: string[];
  readOnly?: boolean;
  ulimit: string[];
  label: string[];
  securityOpt: string[];
  cgroupns?: string;
  privileged?: boolean;
  userns?: string;
  // optional, so that callers building RunFlags by hand (build's RUN steps) need not name them
  device?: string[];
  deviceCgroupRule?: string[];
  tmpfs?: string[];
  shmSize?: string;
  sysctl?: string[];
  init?: boolean;
  oomScoreAdj?: string;
  capAdd: string[];
  capDrop: string[];
  stopSignal?: string;
  stopTimeout?: string;
  /** --pull missing|always|never (image/registry/ensure.ts) */
  pull?: string;
  /** --platform os/arch[/variant], for the pull */
  platform?: string;
}

/** What the image contributes (the subset of the OCI image config the runtime reads). */
export interface ImageDefaults {
  Cmd?: string[] | null;
  Entrypoint?: string[] | null;
  Env?: string[] | null;
  WorkingDir?: string;
  User?: string;
  ExposedPorts?: Record<string, object> | null;
  StopSignal?: string;
  Labels?: Record<string, string> | null;
}

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

export function validateName(name: string): string {
  const n = name.startsWith('/') ? name.slice(1) : name;
  if (!NAME_RE.test(n)) {
    throw new UsageError(`invalid container name "${name}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
  }
  if (n.length > 128) throw new UsageError(`invalid container name "${name}": longer than 128 characters`);
  return n;
}

/** -e KEY=VALUE, or -e KEY to pass the host's value (dropped when unset, as docker does). */
export function parseEnv(values: string[], hostEnv: NodeJS.ProcessEnv = process.env): string[] {
  const out: string[] = [];
  for (const v of values) {
    const eq = v.indexOf('=');
    const key = eq < 0 ? v : v.slice(0, eq);
    if (!key || /\s/.test(key)) throw new UsageError(`invalid environment variable: "${v}"`);
    if (eq >= 0) out.push(v);
    else if (hostEnv[key] !== undefined) out.push(`${key}=${hostEnv[key]}`);
  }
  return out;
}

export function readEnvFiles(files: string[]): string[] {
  const out: string[] = [];
  for (const f of files) {
    let text: string;
    try {
      text = readFileSync(f, 'utf8');
    } catch {
      throw new UsageError(`cannot read env file "${f}"`);
    }
    for (const line of text.split('\n')) {
      const t = line.trim();
      if (t && !t.startsWith('#')) out.push(t);
    }
  }
  return out;
}

/** Later entries win; keeps the order of first appearance. */
export function mergeEnv(base: string[], overrides: string[]): string[] {
  const map = new Map<string, string>();
  for (const e of [...base, ...overrides]) {
    const eq = e.indexOf('=');
    map.set(eq < 0 ? e : e.slice(0, eq), e);
  }
  return [...map.values()];
}

/** -v /host:/container[:ro|rw]. Named volumes are not supported yet: say so. */
export function parseVolume(spec: string, cwd = process.cwd()): VolumeMount {
  const parts = spec.split(':');
  if (parts.length < 2 || parts.length > 3 || !parts[0] || !parts[1]) {
    throw new UsageError(`invalid volume "${spec}": expected /host/path:/container/path[:ro]`);
  }
  const [src, dst, mode] = parts as [string, string, string | undefined];
  if (!src.startsWith('/') && !src.startsWith('.')) {
    throw new UsageError(`invalid volume "${spec}": named volumes are not supported yet, give an absolute host path`);
  }
  if (!isAbsolute(dst)) throw new UsageError(`invalid volume "${spec}": the container path must be absolute`);
  if (normalize(dst) === '/') throw new UsageError(`invalid volume "${spec}": cannot mount over /`);
  let readonly = false;
  if (mode !== undefined) {
    const opts = mode.split(',');
    for (const o of opts) {
      if (o === 'ro') readonly = true;
      else if (o === 'rw' || o === 'z' || o === 'Z') continue;
      else throw new UsageError(`invalid volume "${spec}": unknown mode "${o}" (use ro or rw)`);
    }
  }
  return { source: resolve(cwd, src), destination: normalize(dst), readonly };
}

/** -u uid[:gid]; names are resolved against the image's /etc/passwd by the caller. */
export function parseUserSpec(spec: string): { user: string; group: string | undefined } {
  const [user, group, extra] = spec.split(':');
  if (!user || extra !== undefined || group === '') throw new UsageError(`invalid user "${spec}": expected user[:group]`);
  return { user, group };
}

const ULIMITS: Record<string, string> = {
  core: 'RLIMIT_CORE',
  cpu: 'RLIMIT_CPU',
  data: 'RLIMIT_DATA',
  fsize: 'RLIMIT_FSIZE',
  locks: 'RLIMIT_LOCKS',
  memlock: 'RLIMIT_MEMLOCK',
  msgqueue: 'RLIMIT_MSGQUEUE',
  nice: 'RLIMIT_NICE',
  nofile: 'RLIMIT_NOFILE',
  nproc: 'RLIMIT_NPROC',
  rss: 'RLIMIT_RSS',
  rtprio: 'RLIMIT_RTPRIO',
  rttime: 'RLIMIT_RTTIME',
  sigpending: 'RLIMIT_SIGPENDING',
  stack: 'RLIMIT_STACK',
  as: 'RLIMIT_AS',
};

/** --ulimit nofile=1024[:2048] */
export function parseUlimit(spec: string): Ulimit {
  const m = /^([a-z]+)=(-?\d+)(?::(-?\d+))?$/.exec(spec);
  const type = m ? ULIMITS[m[1]!] : undefined;
  if (!m || !type) throw new UsageError(`invalid ulimit "${spec}": expected name=soft[:hard], e.g. nofile=1024:2048`);
  const soft = Number(m[2]);
  const hard = m[3] !== undefined ? Number(m[3]) : soft;
  if (soft > hard && hard !== -1) throw new UsageError(`invalid ulimit "${spec}": soft limit is above the hard limit`);
  return { type, soft, hard };
}

export function parseLabels(values: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const eq = v.indexOf('=');
    if (eq === 0) throw new UsageError(`invalid label "${v}"`);
    out[eq < 0 ? v : v.slice(0, eq)] = eq < 0 ? '' : v.slice(eq + 1);
  }
  return out;
}

export interface SecurityOpts {
  noNewPrivileges: boolean;
  seccomp: SeccompChoice;
  /** Options accepted but without effect on this host, each as one sentence to print. */
  warnings: string[];
}

/**
 * --security-opt, as docker takes it (KEY=VALUE, or the older KEY:VALUE):
 *   no-new-privileges[=true|false], seccomp=unconfined|PROFILE.json,
 *   label=disable and apparmor=unconfined (accepted with a warning: this host has neither
 *   SELinux nor AppArmor, so there is nothing to turn off).
 */
export function parseSecurityOpts(
  values: string[],
  readFile: (path: string) => string = (p) => readFileSync(p, 'utf8'),
): SecurityOpts {
  const out: SecurityOpts = { noNewPrivileges: false, seccomp: { mode: 'default' }, warnings: [] };
  for (const v of values) {
    if (v === 'no-new-privileges') {
      out.noNewPrivileges = true;
      continue;
    }
    const m = /^([a-z-]+)[=:](.*)$/s.exec(v);
    const [key, value] = m ? [m[1]!, m[2]!] : ['', ''];
    if (key === 'no-new-privileges' && (value === 'true' || value === 'false')) out.noNewPrivileges = value === 'true';
    else if (key === 'seccomp' && value === 'unconfined') out.seccomp = { mode: 'unconfined' };
    else if (key === 'seccomp' && value) {
      let text: string;
      try {
        text = readFile(value);
      } catch (err) {
        throw new UsageError(`cannot read seccomp profile ${value}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
      }
      out.seccomp = { mode: 'profile', source: value, profile: parseProfile(text, value) };
    } else if (key === 'label' && value === 'disable') {
      out.warnings.push('--security-opt label=disable: tscontainer applies no SELinux labels, so there is none to disable');
    } else if (key === 'apparmor' && value === 'unconfined') {
      out.warnings.push('--security-opt apparmor=unconfined: tscontainer applies no AppArmor profile, so there is none to lift');
    } else {
      throw new UsageError(
        `unsupported --security-opt "${v}": use no-new-privileges, seccomp=unconfined|PROFILE.json, label=disable or apparmor=unconfined`,
      );
    }
  }
  return out;
}

/** --entrypoint "" clears it; --entrypoint x replaces it and drops the image's Cmd (docker). */
export function resolveArgs(
  image: ImageDefaults,
  entrypointFlag: string | undefined,
  command: string[],
): { args: string[]; entrypoint: string[] | null; cmd: string[] | null } {
  let entrypoint = image.Entrypoint ?? null;
  let cmd = image.Cmd ?? null;
  if (entrypointFlag !== undefined) {
    entrypoint = entrypointFlag === '' ? null : [entrypointFlag];
    cmd = null;
  }
  if (command.length > 0) cmd = command;
  const args = [...(entrypoint ?? []), ...(cmd ?? [])];
  if (args.length === 0)
    throw new UsageError('no command specified: the image has no Cmd or Entrypoint, give one after the image name');
  return { args, entrypoint, cmd };
}

/** The mount flags a --tmpfs option may name (everything else must be KEY=VALUE below). */
const TMPFS_FLAGS = new Set([
  'ro',
  'rw',
  'exec',
  'noexec',
  'suid',
  'nosuid',
  'dev',
  'nodev',
  'sync',
  'async',
  'dirsync',
  'atime',
  'noatime',
  'diratime',
  'nodiratime',
  'relatime',
  'norelatime',
  'strictatime',
  'nostrictatime',
]);
const TMPFS_DATA: Record<string, RegExp> = {
  size: /^\d+[kmg%]?$/i,
  nr_blocks: /^\d+[kmg]?$/i,
  nr_inodes: /^\d+[kmg]?$/i,
  mode: /^[0-7]{3,4}$/,
  uid: /^\d+$/,
  gid: /^\d+$/,
};

/** --tmpfs /run[:size=16m,mode=1777,...]: docker's defaults nosuid,nodev,noexec, then the user's. */
export function parseTmpfs(spec: string): { destination: string; options: string[] } {
  const colon = spec.indexOf(':');
  const dst = colon < 0 ? spec : spec.slice(0, colon);
  const opts =
    colon < 0
      ? []
      : spec
          .slice(colon + 1)
          .split(',')
          .filter(Boolean);
  if (!isAbsolute(dst)) throw new UsageError(`invalid --tmpfs "${spec}": the container path must be absolute`);
  if (normalize(dst) === '/') throw new UsageError(`invalid --tmpfs "${spec}": cannot mount over /`);
  for (const o of opts) {
    const eq = o.indexOf('=');
    const ok = eq < 0 ? TMPFS_FLAGS.has(o) : TMPFS_DATA[o.slice(0, eq)]?.test(o.slice(eq + 1));
    if (!ok) throw new UsageError(`invalid --tmpfs "${spec}": unknown or bad option "${o}"`);
  }
  return { destination: normalize(dst), options: ['nosuid', 'nodev', 'noexec', ...opts] };
}

/** docker's namespaced sysctls: the IPC ones, fs.mqueue.*, net.* and kernel.domainname. */
const IPC_SYSCTLS = new Set([
  'kernel.msgmax',
  'kernel.msgmnb',
  'kernel.msgmni',
  'kernel.sem',
  'kernel.shmall',
  'kernel.shmmax',
  'kernel.shmmni',
  'kernel.shm_rmid_forced',
]);

/** --sysctl KEY=VALUE, as docker validates it; `network` is the --network mode. */
export function parseSysctls(values: string[], network: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const eq = v.indexOf('=');
    const key = eq < 0 ? v : v.slice(0, eq).trim();
    if (eq < 0 || !/^[a-z0-9_]+(\.[a-zA-Z0-9_-]+)+$/.test(key))
      throw new UsageError(`invalid --sysctl "${v}": expected KEY=VALUE, e.g. net.ipv4.ip_forward=1`);
    const isNet = key.startsWith('net.');
    if (!IPC_SYSCTLS.has(key) && !key.startsWith('fs.mqueue.') && !isNet && key !== 'kernel.domainname') {
      throw new UsageError(`sysctl "${key}" is not allowed: it is not namespaced, so it would change the host`);
    }
    if (isNet && (network === 'host' || network.startsWith('container:'))) {
      throw new UsageError(
        `sysctl "${key}" is not allowed with --network ${network}: the network namespace is not the container's own`,
      );
    }
    out[key] = v.slice(eq + 1);
  }
  return out;
}

/** --oom-score-adj -1000..1000 */
export function parseOomScoreAdj(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = /^-?\d+$/.test(v) ? Number(v) : NaN;
  if (!(n >= -1000 && n <= 1000)) throw new UsageError(`invalid --oom-score-adj "${v}": the range is -1000 to 1000`);
  return n;
}

/** The environment variable giving the default of --userns (docker's `--userns-remap`, per CLI). */
export const USERNS_ENV = 'TSCONTAINER_USERNS';

/**
 * --userns host|auto. `host` (the default) shares the host's user namespace; `auto` gives the
 * container its own, root inside mapped to a range of `tscontainer`'s subordinate ids outside.
 * Without the flag, TSCONTAINER_USERNS sets the default (as docker's --userns-remap does for a
 * daemon); a --privileged container then keeps the host's, since it could not be privileged
 * in its own. --privileged with an explicit --userns other than host is refused.
 */
export function parseUserns(v: string | undefined, privileged: boolean, envDefault?: string): 'host' | 'auto' {
  if (v === undefined || v === '') {
    const d = envDefault === undefined || envDefault === '' ? 'host' : envDefault;
    if (d !== 'host' && d !== 'auto') throw new UsageError(`invalid ${USERNS_ENV}="${d}": use host or auto`);
    return privileged ? 'host' : d;
  }
  if (v !== 'host' && v !== 'auto') throw new UsageError(`invalid --userns "${v}": use host or auto`);
  if (v === 'auto' && privileged) {
    throw new UsageError(
      `--privileged cannot be combined with --userns ${v}: a privileged container uses the host's user namespace`,
    );
  }
  return v;
}

/** --cgroupns host|private */
export function parseCgroupns(v: string | undefined): 'private' | 'host' {
  if (v === undefined || v === 'private' || v === 'host') return v ?? 'private';
  throw new UsageError(`invalid --cgroupns "${v}": use private or host`);
}

export function parseStopTimeout(v: string | undefined): number {
  if (v === undefined) return 10;
  if (!/^\d+$/.test(v)) throw new UsageError(`invalid --stop-timeout "${v}": expected whole seconds`);
  return Number(v);
}

export type { ContainerConfig };

/** Every capability the kernel knows (linux/capability.h, 0..40). */
export const ALL_CAPS = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_DAC_READ_SEARCH',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETPCAP',
  'CAP_LINUX_IMMUTABLE',
  'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST',
  'CAP_NET_ADMIN',
  'CAP_NET_RAW',
  'CAP_IPC_LOCK',
  'CAP_IPC_OWNER',
  'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO',
  'CAP_SYS_CHROOT',
  'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN',
  'CAP_SYS_BOOT',
  'CAP_SYS_NICE',
  'CAP_SYS_RESOURCE',
  'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG',
  'CAP_MKNOD',
  'CAP_LEASE',
  'CAP_AUDIT_WRITE',
  'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE',
  'CAP_MAC_ADMIN',
  'CAP_SYSLOG',
  'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND',
  'CAP_AUDIT_READ',
  'CAP_PERFMON',
  'CAP_BPF',
  'CAP_CHECKPOINT_RESTORE',
];

function capName(flag: string, v: string): string {
  const up = v.toUpperCase();
  if (up === 'ALL') return 'ALL';
  const name = up.startsWith('CAP_') ? up : `CAP_${up}`;
  if (!ALL_CAPS.includes(name)) throw new UsageError(`invalid ${flag} "${v}": unknown capability`);
  return name;
}

/** docker's rule: start from the default set, drop --cap-drop (ALL clears it), add --cap-add. */
export function resolveCapabilities(defaults: readonly string[], add: string[], drop: string[]): string[] {
  const adds = add.map((v) => capName('--cap-add', v));
  const drops = drop.map((v) => capName('--cap-drop', v));
  let caps = drops.includes('ALL') ? [] : defaults.filter((c) => !drops.includes(c));
  if (adds.includes('ALL')) caps = [...ALL_CAPS];
  else for (const c of adds) if (!caps.includes(c)) caps.push(c);
  return caps;
}
