// Turns the flags of `run`/`create` into a validated ContainerConfig. Pure functions: every
// bad value becomes a UsageError naming the flag, before anything is created.
import { isAbsolute, normalize, resolve } from 'node:path';
import { readFileSync } from 'node:fs';
import { UsageError } from '../util/errors.js';
import type { ContainerConfig, Ulimit, VolumeMount } from './config.js';

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

export function parseSecurityOpts(values: string[]): { noNewPrivileges: boolean } {
  let noNewPrivileges = false;
  for (const v of values) {
    if (v === 'no-new-privileges' || v === 'no-new-privileges:true' || v === 'no-new-privileges=true') noNewPrivileges = true;
    else if (v === 'no-new-privileges:false' || v === 'no-new-privileges=false') noNewPrivileges = false;
    else throw new UsageError(`unsupported --security-opt "${v}": only no-new-privileges is supported`);
  }
  return { noNewPrivileges };
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
