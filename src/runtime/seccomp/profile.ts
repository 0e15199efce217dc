// Seccomp profiles: docker's profile JSON (what `--security-opt seccomp=FILE` reads, and the
// shape our default is written in) and its translation into the OCI spec's `linux.seccomp`,
// which the native helper compiles with libseccomp.
//
// The translation is docker's: a rule with `includes`/`excludes` is kept or dropped here, for
// this container's capabilities, this machine's architecture and kernel, so the helper only
// ever sees plain rules. `archMap` becomes the native architecture plus its sub-architectures.
// Syscall names the kernel does not know are kept: the helper skips them, as runc does.
import { release } from 'node:os';
import { UsageError } from '../../util/errors.js';

export const SECCOMP_ACTIONS = [
  'SCMP_ACT_ALLOW',
  'SCMP_ACT_ERRNO',
  'SCMP_ACT_KILL',
  'SCMP_ACT_KILL_THREAD',
  'SCMP_ACT_KILL_PROCESS',
  'SCMP_ACT_TRAP',
  'SCMP_ACT_TRACE',
  'SCMP_ACT_LOG',
] as const;
export type SeccompAction = (typeof SECCOMP_ACTIONS)[number];

export const SECCOMP_OPS = [
  'SCMP_CMP_NE',
  'SCMP_CMP_LT',
  'SCMP_CMP_LE',
  'SCMP_CMP_EQ',
  'SCMP_CMP_GE',
  'SCMP_CMP_GT',
  'SCMP_CMP_MASKED_EQ',
] as const;
export type SeccompOp = (typeof SECCOMP_OPS)[number];

export interface SeccompArg {
  index: number;
  value: number;
  valueTwo?: number;
  op: SeccompOp;
}

/** When a rule of a docker profile applies: capabilities held, architectures, kernel version. */
export interface SeccompFilterCond {
  caps?: string[];
  arches?: string[];
  minKernel?: string;
}

export interface SeccompSyscallRule {
  names: string[];
  action: string;
  errnoRet?: number;
  args?: SeccompArg[];
  comment?: string;
  includes?: SeccompFilterCond;
  excludes?: SeccompFilterCond;
}

/** docker's profile format (moby's `types.Seccomp`), validated. */
export interface SeccompProfile {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures?: string[];
  archMap?: { architecture: string; subArchitectures: string[] }[];
  syscalls: SeccompSyscallRule[];
}

/** The OCI runtime spec's `linux.seccomp`, as the helper reads it. */
export interface OciSeccomp {
  defaultAction: SeccompAction;
  defaultErrnoRet?: number;
  architectures: string[];
  syscalls: { names: string[]; action: SeccompAction; errnoRet?: number; args?: SeccompArg[] }[];
}

// ---- validation ------------------------------------------------------------------------

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

class ProfileError extends Error {}

function isObject(v: Json | undefined): v is { [k: string]: Json } {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(v: Json | undefined, what: string): string {
  if (typeof v !== 'string') throw new ProfileError(`${what} must be a string`);
  return v;
}

function optStrings(v: Json | undefined, what: string): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new ProfileError(`${what} must be a list of strings`);
  return v as string[];
}

/** A whole number the kernel can take; above 2^53 JSON numbers lose digits in JavaScript. */
function uint(v: Json | undefined, what: string, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) {
    throw new ProfileError(`${what} must be a whole number from 0 to ${max}`);
  }
  return v;
}

function action(v: Json | undefined, what: string): SeccompAction {
  const a = str(v, what);
  if (a === 'SCMP_ACT_NOTIFY') throw new ProfileError(`${what}: SCMP_ACT_NOTIFY is not supported (it needs a listener process)`);
  if (!(SECCOMP_ACTIONS as readonly string[]).includes(a)) throw new ProfileError(`${what}: unknown action "${a}"`);
  return a as SeccompAction;
}

function cond(v: Json | undefined, what: string): SeccompFilterCond | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObject(v)) throw new ProfileError(`${what} must be an object`);
  const out: SeccompFilterCond = {};
  const caps = optStrings(v['caps'], `${what}.caps`);
  const arches = optStrings(v['arches'], `${what}.arches`);
  if (caps) out.caps = caps;
  if (arches) out.arches = arches;
  if (v['minKernel'] !== undefined && v['minKernel'] !== '') {
    const k = str(v['minKernel'], `${what}.minKernel`);
    if (!/^\d+\.\d+(\.\d+)?$/.test(k)) throw new ProfileError(`${what}.minKernel "${k}" is not a kernel version like 4.8`);
    out.minKernel = k;
  }
  return out;
}

function arg(v: Json, what: string): SeccompArg {
  if (!isObject(v)) throw new ProfileError(`${what} must be an object`);
  const op = str(v['op'], `${what}.op`);
  if (!(SECCOMP_OPS as readonly string[]).includes(op)) throw new ProfileError(`${what}.op: unknown operator "${op}"`);
  const out: SeccompArg = {
    index: uint(v['index'], `${what}.index`, 5),
    value: uint(v['value'] ?? 0, `${what}.value`),
    op: op as SeccompOp,
  };
  if (v['valueTwo'] !== undefined) out.valueTwo = uint(v['valueTwo'], `${what}.valueTwo`);
  return out;
}

function rule(v: Json, i: number): SeccompSyscallRule {
  const what = `syscalls[${i}]`;
  if (!isObject(v)) throw new ProfileError(`${what} must be an object`);
  const names = optStrings(v['names'], `${what}.names`);
  const name = v['name'] === undefined || v['name'] === '' ? undefined : str(v['name'], `${what}.name`);
  if (names && name !== undefined) throw new ProfileError(`${what} has both "name" and "names"`);
  const all = names ?? (name !== undefined ? [name] : []);
  if (all.length === 0) throw new ProfileError(`${what} names no system call`);
  const out: SeccompSyscallRule = { names: all, action: action(v['action'], `${what}.action`) };
  if (v['errnoRet'] !== undefined && v['errnoRet'] !== null) out.errnoRet = uint(v['errnoRet'], `${what}.errnoRet`, 4095);
  const args = v['args'];
  if (args !== undefined && args !== null) {
    if (!Array.isArray(args)) throw new ProfileError(`${what}.args must be a list`);
    if (args.length > 6) throw new ProfileError(`${what}.args has more than 6 conditions`);
    out.args = args.map((a, k) => arg(a, `${what}.args[${k}]`));
  }
  const inc = cond(v['includes'], `${what}.includes`);
  const exc = cond(v['excludes'], `${what}.excludes`);
  if (inc) out.includes = inc;
  if (exc) out.excludes = exc;
  if (typeof v['comment'] === 'string') out.comment = v['comment'];
  return out;
}

/** Checks a profile document; every problem is one UsageError naming the file. */
export function parseProfile(text: string, source: string): SeccompProfile {
  let doc: Json;
  try {
    doc = JSON.parse(text) as Json;
  } catch (err) {
    throw new UsageError(`invalid seccomp profile ${source}: ${(err as Error).message}`);
  }
  try {
    if (!isObject(doc)) throw new ProfileError('the document must be a JSON object');
    const out: SeccompProfile = { defaultAction: action(doc['defaultAction'], 'defaultAction'), syscalls: [] };
    if (doc['defaultErrnoRet'] !== undefined && doc['defaultErrnoRet'] !== null) {
      out.defaultErrnoRet = uint(doc['defaultErrnoRet'], 'defaultErrnoRet', 4095);
    }
    const arches = optStrings(doc['architectures'], 'architectures');
    const archMap = doc['archMap'];
    if (arches && arches.length > 0 && Array.isArray(archMap) && archMap.length > 0) {
      throw new ProfileError('"architectures" and "archMap" cannot both be given');
    }
    if (arches) out.architectures = arches;
    if (archMap !== undefined && archMap !== null) {
      if (!Array.isArray(archMap)) throw new ProfileError('archMap must be a list');
      out.archMap = archMap.map((m, i) => {
        if (!isObject(m)) throw new ProfileError(`archMap[${i}] must be an object`);
        return {
          architecture: str(m['architecture'], `archMap[${i}].architecture`),
          subArchitectures: optStrings(m['subArchitectures'], `archMap[${i}].subArchitectures`) ?? [],
        };
      });
    }
    const calls = doc['syscalls'];
    if (calls !== undefined && calls !== null) {
      if (!Array.isArray(calls)) throw new ProfileError('syscalls must be a list');
      out.syscalls = calls.map(rule);
    }
    if (Array.isArray(doc['flags']) && doc['flags'].length > 0) throw new ProfileError('"flags" are not supported');
    if (typeof doc['listenerPath'] === 'string' && doc['listenerPath']) throw new ProfileError('"listenerPath" is not supported');
    return out;
  } catch (err) {
    if (err instanceof ProfileError) throw new UsageError(`invalid seccomp profile ${source}: ${err.message}`);
    throw err;
  }
}

// ---- translation -----------------------------------------------------------------------

/** This machine, in the two vocabularies a profile uses. */
export interface SeccompHost {
  /** docker's (Go's) name: amd64, arm64, ... */
  arch: string;
  /** libseccomp's: SCMP_ARCH_X86_64, ... */
  scmpArch: string;
  /** [major, minor] of the running kernel */
  kernel: [number, number];
}

const NODE_ARCH: Record<string, [string, string]> = {
  x64: ['amd64', 'SCMP_ARCH_X86_64'],
  arm64: ['arm64', 'SCMP_ARCH_AARCH64'],
  arm: ['arm', 'SCMP_ARCH_ARM'],
  ia32: ['386', 'SCMP_ARCH_X86'],
  ppc64: ['ppc64le', 'SCMP_ARCH_PPC64LE'],
  s390x: ['s390x', 'SCMP_ARCH_S390X'],
  riscv64: ['riscv64', 'SCMP_ARCH_RISCV64'],
};

export function thisHost(): SeccompHost {
  const [arch, scmpArch] = NODE_ARCH[process.arch] ?? [process.arch, `SCMP_ARCH_${process.arch.toUpperCase()}`];
  const m = /^(\d+)\.(\d+)/.exec(release());
  return { arch, scmpArch, kernel: m ? [Number(m[1]), Number(m[2])] : [0, 0] };
}

function kernelAtLeast(host: SeccompHost, version: string): boolean {
  const [maj, min] = version.split('.').map(Number) as [number, number];
  return host.kernel[0] > maj || (host.kernel[0] === maj && host.kernel[1] >= min);
}

/** Does the rule apply to a container with `caps` on `host`? (moby's rules, exactly) */
function applies(r: SeccompSyscallRule, caps: readonly string[], host: SeccompHost): boolean {
  const ex = r.excludes;
  if (ex) {
    if (ex.arches?.includes(host.arch)) return false;
    if (ex.caps?.some((c) => caps.includes(c))) return false;
    if (ex.minKernel && kernelAtLeast(host, ex.minKernel)) return false;
  }
  const inc = r.includes;
  if (inc) {
    if (inc.arches && inc.arches.length > 0 && !inc.arches.includes(host.arch)) return false;
    if (inc.caps && !inc.caps.every((c) => caps.includes(c))) return false;
    if (inc.minKernel && !kernelAtLeast(host, inc.minKernel)) return false;
  }
  return true;
}

/** docker's profile + the container's bounding capabilities -> `linux.seccomp`. */
export function toOciSeccomp(p: SeccompProfile, caps: readonly string[], host: SeccompHost = thisHost()): OciSeccomp {
  let architectures = p.architectures ?? [];
  if (p.archMap) {
    const native = p.archMap.find((m) => m.architecture === host.scmpArch);
    architectures = native ? [native.architecture, ...native.subArchitectures] : [];
  }
  const out: OciSeccomp = {
    defaultAction: p.defaultAction as SeccompAction,
    architectures,
    syscalls: p.syscalls
      .filter((r) => applies(r, caps, host))
      .map((r) => ({
        names: r.names,
        action: r.action as SeccompAction,
        ...(r.errnoRet !== undefined ? { errnoRet: r.errnoRet } : {}),
        ...(r.args && r.args.length > 0 ? { args: r.args } : {}),
      })),
  };
  if (p.defaultErrnoRet !== undefined) out.defaultErrnoRet = p.defaultErrnoRet;
  return out;
}
