// From `run`/`create` flags and the image to a CreateRequest: every flag is validated before
// anything is made, and the image's defaults are merged as docker merges them.
import { readFileSync } from 'node:fs';
import { parseCgroupLimits, parseMemory } from '../cgroups/index.js';
import { hostDevices, parseDevice, parseDeviceCgroupRule } from './devices.js';
import { UnsupportedError, UsageError } from '../util/errors.js';
import { release } from 'node:os';
import { idmappedLayersSupported } from './subids.js';
import type { ContainerConfig } from './config.js';
import type { CreateRequest } from './create.js';
import { DEFAULT_CAPS } from './spec.js';
import { validateHostname } from '../network/index.js';
import { validateNetwork } from './network.js';
import {
  mergeEnv,
  parseEnv,
  parseLabels,
  ALL_CAPS,
  parseCgroupns,
  parseOomScoreAdj,
  parseSecurityOpts,
  parseSysctls,
  parseTmpfs,
  parseUserns,
  USERNS_ENV,
  parseStopTimeout,
  parseUlimit,
  parseUserSpec,
  parseVolume,
  readEnvFiles,
  resolveCapabilities,
  resolveArgs,
  validateName,
  type ImageDefaults,
  type RunFlags,
} from './options.js';

const DEFAULT_PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** What create needs of the image (the image module's resolved image has this shape). */
export interface ImageForCreate {
  id: string;
  config: { config?: ImageDefaults | undefined };
  topLayer: { cache_id: string } | undefined;
  driver: string;
}

/** Looks an image reference up (the CLI passes the image module's resolver: the runtime does
 *  not reach into image storage itself). */
export type ResolveImage = (ref: string) => Promise<ImageForCreate>;

export async function prepareCreate(
  resolveImage: ResolveImage,
  imageRef: string,
  command: string[],
  flags: RunFlags,
): Promise<CreateRequest> {
  // Validate the flags first: a typo must not cost an image look-up or leave anything behind.
  const name = flags.name !== undefined ? validateName(flags.name) : undefined;
  const userEnv = parseEnv([...readEnvFiles(flags.envFile), ...flags.env]);
  const volumes = flags.volume.map((v) => parseVolume(v));
  const ulimits = flags.ulimit.map(parseUlimit);
  const labels = parseLabels(flags.label);
  const security = parseSecurityOpts(flags.securityOpt);
  const cgroupns = parseCgroupns(flags.cgroupns);
  const privileged = Boolean(flags.privileged);
  const userns = parseUserns(flags.userns, privileged, process.env[USERNS_ENV]);
  if (userns === 'auto') refuseWithUserns(flags);
  // --privileged: every capability and no filter, whatever else was asked (as docker)
  // --cap-add ALL, like --privileged, means all we have (a capability named on its own that
  // we lack still fails the start, with the kernel's word for it)
  const addsAll = flags.capAdd.some((c) => c.toUpperCase() === 'ALL');
  const capabilities = privileged
    ? hostCapabilities()
    : resolveCapabilities(addsAll ? hostCapabilities() : DEFAULT_CAPS, addsAll ? [] : flags.capAdd, flags.capDrop);
  const seccomp = privileged ? ({ mode: 'unconfined' } as const) : security.seccomp;
  const devices = (flags.device ?? []).map(parseDevice);
  for (const d of devices) hostDevices(d); // a typo fails now, not at start
  const deviceRules = (flags.deviceCgroupRule ?? []).map(parseDeviceCgroupRule);
  const tmpfs = (flags.tmpfs ?? []).map(parseTmpfs);
  const shmSizeBytes = flags.shmSize === undefined ? undefined : parseMemory(flags.shmSize);
  if (shmSizeBytes === 0) throw new UsageError('invalid --shm-size: it must be greater than 0');
  const sysctls = parseSysctls(flags.sysctl ?? [], flags.network ?? 'bridge');
  const oomScoreAdj = parseOomScoreAdj(flags.oomScoreAdj);
  const stopTimeout = parseStopTimeout(flags.stopTimeout);
  const limits = parseCgroupLimits({
    memory: flags.memory,
    memorySwap: flags.memorySwap,
    cpus: flags.cpus,
    cpuShares: flags.cpuShares,
    cpusetCpus: flags.cpusetCpus,
    cpusetMems: flags.cpusetMems,
    pidsLimit: flags.pidsLimit,
  });
  if (deviceRules.length > 0) limits.devices = [...(limits.devices ?? []), ...deviceRules];
  const hostname = flags.hostname === undefined ? '' : validateHostname(flags.hostname);
  const network = {
    mode: flags.network ?? 'bridge',
    publish: flags.publish,
    publishAll: Boolean(flags.publishAll),
    dns: flags.dns,
    dnsSearch: flags.dnsSearch,
    dnsOptions: flags.dnsOption,
    addHosts: flags.addHost,
    aliases: flags.networkAlias,
  };
  // The image's ExposedPorts are checked at start (with -P); the user's --expose right here.
  validateNetwork({ network, hostname, exposedPorts: flags.expose });
  if (flags.workdir !== undefined && !flags.workdir.startsWith('/')) {
    throw new UsageError(`invalid working directory "${flags.workdir}": it must be an absolute path`);
  }
  if (flags.tty && flags.interactive && !flags.detach && !process.stdin.isTTY) {
    throw new UsageError('the input device is not a TTY: drop -t, or run from a terminal');
  }

  const image = await resolveImage(imageRef);
  const defaults: ImageDefaults = image.config.config ?? {};
  const { args, entrypoint, cmd } = resolveArgs(defaults, flags.entrypoint, command);
  const userSpec = flags.user ?? (defaults.User || '0');
  const user = resolveUser(userSpec);
  const imageEnv = defaults.Env && defaults.Env.length > 0 ? defaults.Env : [DEFAULT_PATH_ENV];
  const env = mergeEnv(imageEnv, userEnv);
  if (!env.some((e) => e.startsWith('PATH='))) env.unshift(DEFAULT_PATH_ENV);
  if (flags.tty && !env.some((e) => e.startsWith('TERM='))) env.push('TERM=xterm');

  const exposed = [...Object.keys(defaults.ExposedPorts ?? {}), ...flags.expose.map((p) => (p.includes('/') ? p : `${p}/tcp`))];

  return {
    imageId: image.id,
    imageRef,
    imageTopCacheId: image.topLayer?.cache_id ?? null,
    driver: image.driver,
    name,
    warnings: security.warnings,
    config: {
      args,
      env,
      cwd: flags.workdir ?? (defaults.WorkingDir || '/'),
      user,
      userSpec,
      hostname,
      tty: Boolean(flags.tty),
      openStdin: Boolean(flags.interactive),
      autoRemove: Boolean(flags.rm),
      readonlyRootfs: Boolean(flags.readOnly),
      noNewPrivileges: security.noNewPrivileges,
      capabilities,
      seccomp,
      cgroupns,
      privileged,
      ...(userns === 'auto' ? { userns } : {}),
      devices,
      tmpfs,
      ...(shmSizeBytes !== undefined ? { shmSizeBytes } : {}),
      sysctls,
      init: Boolean(flags.init),
      ...(oomScoreAdj !== undefined ? { oomScoreAdj } : {}),
      volumes,
      ulimits,
      limits,
      network,
      labels: { ...(defaults.Labels ?? {}), ...labels },
      stopSignal: flags.stopSignal ?? defaults.StopSignal ?? 'SIGTERM',
      stopTimeout,
      exposedPorts: exposed,
      entrypoint,
      cmd,
    },
  };
}

/** What a container in its own user namespace cannot have (yet): one sentence each, exit 125. */
function refuseWithUserns(flags: RunFlags): void {
  if (!idmappedLayersSupported()) {
    throw new UnsupportedError(
      `--userns auto needs idmapped overlay layers (Linux 5.19 or later; this is ${release()}), and the chown'd-copy fallback is not built`,
    );
  }
  const network = flags.network ?? 'bridge';
  if (network.startsWith('container:')) {
    throw new UsageError(
      `--userns auto cannot be combined with --network ${network}: that network namespace belongs to another user namespace`,
    );
  }
  if ((flags.device ?? []).length > 0) {
    throw new UsageError(
      '--userns auto cannot be combined with --device yet: device nodes cannot be created in a user namespace',
    );
  }
}

/**
 * "Every capability" for --privileged: every one in our own bounding set, which is all a child
 * of ours can ever hold (root here has no CAP_SYS_RESOURCE, for one).
 */
function hostCapabilities(): string[] {
  const m = /^CapBnd:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  const mask = m ? BigInt(`0x${m[1]}`) : 0n;
  return ALL_CAPS.filter((_c, i) => (mask >> BigInt(i)) & 1n);
}

/**
 * The user spec is resolved by the helper inside the container, against the image's own
 * /etc/passwd and /etc/group (as runc does): names work, and an unknown one fails the start
 * with docker's sentence. Here only its shape is checked; `user` keeps the numbers when the
 * spec is numeric (for inspect), else 0 until the helper resolves it.
 */
function resolveUser(spec: string): ContainerConfig['user'] {
  const { user, group } = parseUserSpec(spec);
  const num = (s: string | undefined) => (s !== undefined && /^\d+$/.test(s) ? Number(s) : 0);
  return { uid: num(user), gid: num(group), additionalGids: [] };
}
