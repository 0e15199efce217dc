// The OCI image configuration (application/vnd.oci.image.config.v1+json), with docker's
// capitalized `config` section, and the canonical serialization whose sha256 is the image id.
import { digestOf } from './digest.js';
import { UsageError } from '../util/errors.js';

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
export const DEFAULT_ENV: readonly string[] = [`PATH=${DEFAULT_PATH}`];

/** The `config` section: defaults for containers started from the image. */
export interface ContainerDefaults {
  User?: string;
  ExposedPorts?: Record<string, Record<string, never>>;
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Volumes?: Record<string, Record<string, never>>;
  WorkingDir?: string;
  Labels?: Record<string, string>;
  StopSignal?: string;
  /** Docker extensions kept when present in loaded images. */
  Healthcheck?: unknown;
  Shell?: string[];
  OnBuild?: string[] | null;
}

export interface HistoryEntry {
  created?: string;
  created_by?: string;
  author?: string;
  comment?: string;
  empty_layer?: boolean;
}

export interface ImageConfig {
  created?: string;
  author?: string;
  architecture: string;
  variant?: string;
  os: string;
  config?: ContainerDefaults;
  rootfs: { type: 'layers'; diff_ids: string[] };
  history?: HistoryEntry[];
}

/** The GOARCH name of this machine, as image configs record it. */
export function hostArchitecture(): string {
  switch (process.arch) {
    case 'x64':
      return 'amd64';
    case 'ia32':
      return '386';
    case 'ppc64':
      return 'ppc64le';
    default:
      return process.arch; // arm64, arm, s390x, riscv64, mips64el...
  }
}

/** Keys of the `config` section in the order docker writes them. */
const CONFIG_KEYS: readonly (keyof ContainerDefaults)[] = [
  'User',
  'ExposedPorts',
  'Env',
  'Entrypoint',
  'Cmd',
  'Volumes',
  'WorkingDir',
  'Labels',
  'StopSignal',
  'Healthcheck',
  'Shell',
  'OnBuild',
];

function canonicalDefaults(c: ContainerDefaults): ContainerDefaults {
  const out: Record<string, unknown> = {};
  for (const k of CONFIG_KEYS) if (c[k] !== undefined) out[k] = c[k];
  return out as ContainerDefaults;
}

/**
 * The canonical JSON of a config built here: fixed key order, no white space. The image id is
 * sha256 of exactly these bytes; configs that come from elsewhere keep their own bytes.
 */
export function serializeConfig(cfg: ImageConfig): string {
  const out: Record<string, unknown> = {};
  if (cfg.created !== undefined) out['created'] = cfg.created;
  if (cfg.author !== undefined) out['author'] = cfg.author;
  out['architecture'] = cfg.architecture;
  if (cfg.variant !== undefined) out['variant'] = cfg.variant;
  out['os'] = cfg.os;
  if (cfg.config !== undefined) out['config'] = canonicalDefaults(cfg.config);
  out['rootfs'] = { type: cfg.rootfs.type, diff_ids: cfg.rootfs.diff_ids };
  if (cfg.history !== undefined) out['history'] = cfg.history;
  return JSON.stringify(out);
}

/** The image id of a serialized config. */
export function imageIdOf(rawConfig: string): string {
  return digestOf(rawConfig);
}

/** Parses stored or loaded config JSON, checking the fields the runtime relies on. */
export function parseConfig(raw: string): ImageConfig {
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch (err) {
    throw new UsageError(`invalid image config: ${(err as Error).message}`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new UsageError('invalid image config: not a JSON object');
  const c = v as Partial<ImageConfig>;
  if (!c.rootfs || c.rootfs.type !== 'layers' || !Array.isArray(c.rootfs.diff_ids)) {
    throw new UsageError('invalid image config: rootfs must be {"type":"layers","diff_ids":[...]}');
  }
  if (!c.rootfs.diff_ids.every((d) => typeof d === 'string' && /^sha256:[0-9a-f]{64}$/.test(d))) {
    throw new UsageError('invalid image config: a diff_id is not a sha256 digest');
  }
  return {
    ...c,
    architecture: typeof c.architecture === 'string' ? c.architecture : hostArchitecture(),
    os: typeof c.os === 'string' ? c.os : 'linux',
    rootfs: c.rootfs,
  } as ImageConfig;
}

/** A new config for a rootfs of `diffIds`, docker-import style: default PATH and no Cmd. */
export function newImageConfig(opts: {
  diffIds: string[];
  created?: string;
  defaults?: ContainerDefaults;
  history?: HistoryEntry[];
  architecture?: string;
  os?: string;
}): ImageConfig {
  const defaults: ContainerDefaults = { ...(opts.defaults ?? {}) };
  if (defaults.Env === undefined) defaults.Env = [...DEFAULT_ENV];
  return {
    created: opts.created ?? new Date().toISOString(),
    architecture: opts.architecture ?? hostArchitecture(),
    os: opts.os ?? 'linux',
    config: defaults,
    rootfs: { type: 'layers', diff_ids: [...opts.diffIds] },
    history: opts.history ?? [],
  };
}

/**
 * Applies docker's `--change` instructions (CMD, ENTRYPOINT, ENV, WORKDIR, USER, EXPOSE, LABEL,
 * STOPSIGNAL, VOLUME) to a config section. JSON arrays are exec form; anything else for CMD and
 * ENTRYPOINT is shell form (`/bin/sh -c ...`).
 */
export function applyChange(defaults: ContainerDefaults, change: string): ContainerDefaults {
  const m = /^\s*([A-Za-z]+)\s+([\s\S]*?)\s*$/.exec(change);
  if (!m) throw new UsageError(`invalid --change "${change}": expected INSTRUCTION ARGUMENTS`);
  const instr = m[1]!.toUpperCase();
  const arg = m[2]!;
  const out: ContainerDefaults = { ...defaults };
  const execOrShell = (): string[] => {
    if (arg.startsWith('[')) {
      try {
        const v: unknown = JSON.parse(arg);
        if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
      } catch {
        /* not JSON: shell form */
      }
    }
    return ['/bin/sh', '-c', arg];
  };
  const pairs = (): [string, string][] => {
    // KEY=VALUE KEY2="VALUE 2" ...; or the legacy "KEY VALUE" form.
    const re = /([^\s=]+)=("(?:[^"\\]|\\.)*"|'[^']*'|\S*)/g;
    const found: [string, string][] = [];
    let mm: RegExpExecArray | null;
    while ((mm = re.exec(arg)) !== null) {
      let v = mm[2]!;
      if (v.startsWith('"')) v = v.slice(1, -1).replace(/\\(.)/g, '$1');
      else if (v.startsWith("'")) v = v.slice(1, -1);
      found.push([mm[1]!, v]);
    }
    if (found.length === 0) {
      const sp = /^(\S+)\s+([\s\S]*)$/.exec(arg);
      if (!sp) throw new UsageError(`invalid --change "${change}": ${instr} needs KEY=VALUE`);
      found.push([sp[1]!, sp[2]!]);
    }
    return found;
  };
  switch (instr) {
    case 'CMD':
      out.Cmd = execOrShell();
      break;
    case 'ENTRYPOINT':
      out.Entrypoint = execOrShell();
      break;
    case 'ENV': {
      const env = [...(out.Env ?? [])];
      for (const [k, v] of pairs()) {
        const i = env.findIndex((e) => e.split('=', 1)[0] === k);
        if (i >= 0) env[i] = `${k}=${v}`;
        else env.push(`${k}=${v}`);
      }
      out.Env = env;
      break;
    }
    case 'LABEL':
      out.Labels = { ...(out.Labels ?? {}), ...Object.fromEntries(pairs()) };
      break;
    case 'WORKDIR':
      out.WorkingDir = arg;
      break;
    case 'USER':
      out.User = arg;
      break;
    case 'STOPSIGNAL':
      out.StopSignal = arg;
      break;
    case 'EXPOSE': {
      const ports = { ...(out.ExposedPorts ?? {}) };
      for (const p of arg.split(/\s+/)) {
        if (!/^\d+(-\d+)?(\/(tcp|udp|sctp))?$/.test(p)) throw new UsageError(`invalid --change "${change}": bad port "${p}"`);
        ports[p.includes('/') ? p : `${p}/tcp`] = {};
      }
      out.ExposedPorts = ports;
      break;
    }
    case 'VOLUME': {
      let list: string[];
      try {
        const v: unknown = JSON.parse(arg);
        list = Array.isArray(v) ? v.map(String) : [String(v)];
      } catch {
        list = arg.split(/\s+/);
      }
      out.Volumes = { ...(out.Volumes ?? {}), ...Object.fromEntries(list.map((p) => [p, {}])) };
      break;
    }
    default:
      throw new UsageError(
        `invalid --change "${change}": ${instr} is not one of CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR`,
      );
  }
  return out;
}
