// `exec`: one more process in a running container. The helper joins the container's cgroups
// and every namespace of its init (a Node process cannot setns), forks into the pid namespace
// and execs with the same rules as the init: env, capabilities, no_new_privs, and a user
// resolved inside the container. Attached, the CLI forwards its signals to the helper and
// exits with the process's code; detached (-d), the helper stays as the process's reaper.
import { randomHex } from '../util/random.js';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Context } from './context.js';
import type { ContainerRow } from '../store/containers.js';
import { ConflictError, EXIT_MANAGEMENT, SystemError, UsageError } from '../util/errors.js';
import type { ContainerConfig } from './config.js';
import { helperError, spawnHelper, type HelperProcess } from './helper.js';
import { findContainer } from '../store/containers.js';
import { mergeEnv, parseEnv, parseUserSpec, readEnvFiles } from './options.js';
import { isSameProcess } from './proc.js';
import { reconcile } from './reconcile.js';
import { forwardSignals } from './run.js';
import { USER_ANNOTATION, type OciSpec } from './spec.js';
import { seccompCacheDir, specSeccomp, type OciSeccomp } from './seccomp/index.js';
import { containerCgroup } from './cgroup.js';

export interface ExecFlags {
  interactive?: boolean;
  tty?: boolean;
  detach?: boolean;
  env: string[];
  envFile: string[];
  user?: string;
  workdir?: string;
}

/** The process object the helper reads (`exec --process FILE`), plus our user annotation and
 *  the container's seccomp filter (a process object has neither in the OCI spec). */
export type ExecProcess = OciSpec['process'] & { annotations: Record<string, string>; seccomp?: OciSeccomp };

/** Checks the flags before anything else, as `run` does. */
function checkFlags(flags: ExecFlags, command: string[]): void {
  if (command.length === 0) throw new UsageError('exec needs a command to run');
  if (flags.workdir !== undefined && !flags.workdir.startsWith('/')) {
    throw new UsageError(`invalid working directory "${flags.workdir}": it must be an absolute path`);
  }
  if (flags.user !== undefined) parseUserSpec(flags.user);
  if (flags.tty && flags.interactive && !flags.detach && !process.stdin.isTTY) {
    throw new UsageError('the input device is not a TTY: drop -t, or run from a terminal');
  }
}

/** The container must be running, and not frozen (a frozen process cannot even be joined). */
async function runningContainer(ctx: Context, ref: string): Promise<ContainerRow> {
  const row = await reconcile(ctx, findContainer(ctx.db(), ref));
  if (row.state === 'paused' || (row.state === 'running' && containerCgroup(row).isFrozen())) {
    throw new ConflictError(`container ${row.name} is paused, unpause it first`, EXIT_MANAGEMENT);
  }
  if (row.state !== 'running' || !isSameProcess(row.pid, row.pid_start)) {
    throw new ConflictError(`container ${row.name} is not running`, EXIT_MANAGEMENT);
  }
  return row;
}

/**
 * The exec'd process gets what the container's init got (config.json written at start: env
 * with HOSTNAME, capabilities, no_new_privs, rlimits), with -e, -u and -w on top.
 */
export function execProcess(row: ContainerRow, bundleDir: string, command: string[], flags: ExecFlags): ExecProcess {
  const config = JSON.parse(row.config) as ContainerConfig;
  let init: OciSpec | undefined;
  try {
    init = JSON.parse(readFileSync(join(bundleDir, 'config.json'), 'utf8')) as OciSpec;
  } catch {
    /* started by an older version, or the file is gone: fall back to the stored config */
  }
  let env = mergeEnv(init?.process.env ?? config.env, parseEnv([...readEnvFiles(flags.envFile), ...flags.env]));
  if (flags.tty && !env.some((e) => e.startsWith('TERM='))) env = [...env, 'TERM=xterm'];
  const userSpec = flags.user ?? config.userSpec ?? '0';
  const caps = config.capabilities;
  // the filter the init runs under (written at start), else the one its config asks for
  const seccomp = init ? init.linux.seccomp : specSeccomp(config.seccomp, caps);
  return {
    terminal: Boolean(flags.tty),
    // resolved by the helper inside the container from the annotation
    user: { uid: 0, gid: 0, additionalGids: [] },
    args: command,
    env,
    cwd: flags.workdir ?? config.cwd,
    // as the init's: full sets here, and the helper clears them for a user other than root
    capabilities: { bounding: caps, effective: caps, permitted: caps, inheritable: [], ambient: [] },
    rlimits: init?.process.rlimits ?? [],
    noNewPrivileges: config.noNewPrivileges,
    annotations: { [USER_ANNOTATION]: userSpec },
    ...(seccomp ? { seccomp } : {}),
  };
}

export async function execInContainer(ctx: Context, ref: string, command: string[], flags: ExecFlags): Promise<number> {
  checkFlags(flags, command);
  const row = await runningContainer(ctx, ref);
  const proc = execProcess(row, ctx.layout.container(row.id), command, flags);
  const runDir = ctx.layout.runContainer(row.id);
  const file = join(runDir, `exec-${randomHex(6)}.json`);
  writeFileSync(file, JSON.stringify(proc), { mode: 0o600 });

  const cgroup = containerCgroup(row);
  const args = ['exec', '--pid', String(row.pid), '--process', file, '--state', runDir];
  // The helper refuses a pid whose start time differs: a reused pid is never joined.
  if (row.pid_start) args.push('--pid-start', String(row.pid_start));
  if (flags.tty) args.push('--tty');
  if (flags.interactive && !flags.detach) args.push('--stdin');
  for (const f of cgroup.procsFiles()) args.push('--cgroup-procs', f);
  if (proc.seccomp) args.push('--seccomp-cache', seccompCacheDir(ctx.roots.state));

  let helper: HelperProcess;
  try {
    helper = spawnHelper({ args, attached: !flags.detach });
    const first = await helper.next();
    if (first.type === 'error') throw helperError(first);
    const second = first.type === 'pid' ? await helper.next() : first;
    if (second.type === 'error') throw helperError(second);
    if (second.type !== 'started') throw new SystemError(`the native helper reported "${second.type}" instead of started`);
  } finally {
    rmSync(file, { force: true });
  }
  if (flags.detach) {
    // The helper stays in its own session, reaping the process; nobody waits for it.
    helper.leave();
    return 0;
  }
  const stop = forwardSignals(helper);
  const code = await helper.exited;
  stop();
  return code;
}
