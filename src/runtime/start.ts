// `start`: the run path of ARCHITECTURE.md. Spec → helper create → cgroups and network while
// the child waits → go → started. Whatever fails, everything made for this start is undone.
import { chownSync, existsSync, lstatSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Context } from './context.js';
import { createContainerCgroup, detectCgroups, type ContainerCgroup } from '../cgroups/index.js';
import {
  claimStart,
  markExited,
  markRunning,
  setContainerState,
  type ContainerRow,
  type ContainerState,
} from '../store/containers.js';
import { writeTx } from '../store/db.js';
import { ConflictError, EXIT_MANAGEMENT, SystemError, TscError, toTscError } from '../util/errors.js';
import { log } from '../util/log.js';
import { mark } from '../util/trace.js';
import { packageRoot } from '../util/paths.js';
import type { ContainerConfig } from './config.js';
import { clearExitFile } from './exitfile.js';
import { logPath } from './files.js';
import { openGraph } from './graph.js';
import { helperError, spawnHelper, type HelperProcess } from './helper.js';
import { currentBootId, processStartTime } from './proc.js';
import { buildSpec } from './spec.js';
import { cgroupView } from './cgroupview.js';
import { containerDevices } from './devices.js';
import { seccompCacheDir } from './seccomp/index.js';
import { cgroupParent } from './cgroup.js';
import { containerNetwork, type AttachedNetwork } from './network.js';
import { getUsernsRange } from '../store/userns.js';

export interface StartIO {
  /** The CLI stays attached: the helper shares its stdio and the CLI waits for the exit. */
  attached: boolean;
  /** Relay our stdin to the container. */
  stdin: boolean;
  /** Attached: 'pipe' hands the container's stdout/stderr to the caller (helper.child.stdout
   *  and .stderr) instead of sharing ours; stdin is then /dev/null. */
  output?: 'inherit' | 'pipe';
}

export interface Started {
  row: ContainerRow;
  pid: number;
  helper: HelperProcess;
  cgroup: ContainerCgroup;
  network: AttachedNetwork;
}

export async function startContainer(ctx: Context, row: ContainerRow, io: StartIO): Promise<Started> {
  const db = ctx.db();
  const config = JSON.parse(row.config) as ContainerConfig;
  const dir = ctx.layout.container(row.id);
  const runDir = ctx.layout.runContainer(row.id);
  // Claim the container for this start: a concurrent start, rm or clean-up now keeps off it.
  const previous = writeTx(db, () => claimStart(db, row.id, new Date().toISOString()));
  if (previous === undefined) {
    throw new ConflictError(`container ${row.name} is already being started, running or stopping`, EXIT_MANAGEMENT);
  }
  mkdirSync(runDir, { recursive: true, mode: 0o700 });
  clearExitFile(runDir);

  const undo: (() => Promise<void> | void)[] = [];
  let helper: HelperProcess | undefined;
  try {
    const network = await containerNetwork(ctx, row, config);
    undo.push(() => network.release());

    mark('network prepared');
    // As docker's -v: a host directory that does not exist yet is created (root-owned).
    for (const v of config.volumes) if (!existsSync(v.source)) mkdirSync(v.source, { recursive: true, mode: 0o755 });
    const driver = openGraph(ctx, row.driver);
    const env = config.env.some((e) => e.startsWith('HOSTNAME=')) ? config.env : [...config.env, `HOSTNAME=${network.hostname}`];
    // the cgroup first: the spec binds its directories at /sys/fs/cgroup
    const layout = detectCgroups();
    const devices = containerDevices(config, layout.version);
    const limits = { ...config.limits, devices: [...(config.limits.devices ?? []), ...devices.rules] };
    const cgroup = createContainerCgroup(layout, row.id, limits, cgroupParent());
    undo.push(() => cgroup.remove());
    // --userns=auto: the upper layer is not idmapped (native/userns.c), so its root directory
    // (the container's "/") must belong to the container's root: chown that one empty-at-first
    // directory of the container's own rw layer; no image layer is ever touched
    const userns = config.userns === 'auto' ? getUsernsRange(db, row.id) : undefined;
    if (config.userns === 'auto' && !userns) throw new SystemError(`container ${row.name} has no user namespace range`);
    if (userns && row.driver === 'overlay') {
      await driver.populate(row.rw_layer, (upper) => {
        const st = lstatSync(upper);
        if (st.uid !== userns.uidBase || st.gid !== userns.gidBase) chownSync(upper, userns.uidBase, userns.gidBase);
      });
    }
    const spec = buildSpec({
      userns,
      config: { ...config, hostname: network.hostname, env },
      rootfs: driver.mountSpec(row.rw_layer),
      etcFiles: network.etcFiles,
      netns: network.netns,
      cgroupView: cgroupView(layout, cgroup, Boolean(config.privileged)),
      devices: devices.nodes,
    });
    writeFileSync(join(dir, 'config.json'), JSON.stringify(spec));

    for (const w of [...cgroup.warnings, ...network.warnings]) ctx.warn(w);

    const args = ['run', '--bundle', dir, '--state', runDir];
    if (!io.attached) args.push('--detach');
    if (config.tty) args.push('--tty');
    // Detached with -i, the monitor keeps the container's stdin open for `attach`.
    if (io.attached ? io.stdin : config.openStdin) args.push('--stdin');
    // A foreground --rm container's log would be deleted with it: skip writing one.
    if (!(io.attached && config.autoRemove)) args.push('--log', logPath(ctx, row.id));
    const oom = cgroup.oomFile();
    if (oom) args.push('--oom-file', oom);
    if (spec.linux.seccomp) args.push('--seccomp-cache', seccompCacheDir(ctx.roots.state));

    // Detached, nobody waits for the exit: the monitor runs `container cleanup` when it comes.
    const exit = io.attached ? undefined : exitCommand(ctx, row.id);
    if (exit) args.push(...exit.args);

    mark('spec written, cgroup made');
    helper = spawnHelper({ args, attached: io.attached, env: exit?.env, output: io.output });
    const h = helper;
    undo.push(async () => {
      h.abort();
      await h.exited;
    });

    const first = await h.next();
    if (first.type === 'error') throw helperError(first);
    if (first.type !== 'pid') throw new SystemError(`the native helper reported "${first.type}" before the pid`);
    const pid = first.pid;
    mark('helper reported pid');
    const pidStart = processStartTime(pid) ?? 0;

    // The network's ip/nft processes run while we move the pid into its cgroups (on cgroup v1
    // the first migration after an idle moment waits for an RCU grace period: 8-30 ms here).
    // The child builds its root meanwhile (helper-protocol.md), so a set-up failure of its
    // own (a bad mount) may kill it under our feet: then its own message is the error.
    const attaching = network.attach(pid);
    attaching.catch(() => undefined);
    try {
      cgroup.addProcess(pid);
      mark('cgroup joined');
      await attaching;
      mark('network attached');
    } catch (err) {
      throw await childFailureOr(h, err);
    }
    h.go();

    const second = await h.next();
    if (second.type === 'error') throw helperError(second);
    if (second.type !== 'started') throw new SystemError(`the native helper reported "${second.type}" instead of started`);

    mark('started');
    try {
      const ok = writeTx(db, () =>
        markRunning(db, row.id, {
          pid,
          pid_start: pidStart,
          monitor_pid: h.child.pid ?? 0,
          monitor_start: processStartTime(h.child.pid ?? 0) ?? 0,
          boot_id: currentBootId(),
          started_at: new Date().toISOString(),
        }),
      );
      if (!ok) throw new SystemError(`container ${row.name} changed state while it was being started`);
    } catch (err) {
      // It runs but cannot be recorded: stop it, so that the undo below (which waits for the
      // monitor) does not wait for a container nobody will ever see.
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
      throw err;
    }
    log('debug', 'container started', { id: row.id, pid });
    return { row, pid, helper: h, cgroup, network };
  } catch (err) {
    const e = toTscError(err);
    for (const fn of undo.reverse()) {
      try {
        await fn();
      } catch (cleanupErr) {
        log('warn', 'clean-up after a failed start', { id: row.id, err: String(cleanupErr) });
      }
    }
    recordStartFailure(ctx, row, previous, e);
    throw e;
  }
}

/** The helper's report of a child that died during its own set-up, if it comes within a
 *  moment; else `err`, the failure of the caller's side. */
async function childFailureOr(h: HelperProcess, err: unknown): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => (timer = setTimeout(resolve, 500, undefined)));
  const m = await Promise.race([h.next().catch(() => undefined), late]);
  clearTimeout(timer);
  return m?.type === 'error' ? helperError(m) : err;
}

/** starting -> back to what it was (created, as docker leaves it, or exited), with the error. */
function recordStartFailure(ctx: Context, row: ContainerRow, previous: ContainerState, e: TscError): void {
  const db = ctx.db();
  try {
    writeTx(db, () => {
      markExited(db, row.id, {
        exit_code: e.exitCode,
        oom_killed: false,
        finished_at: new Date().toISOString(),
        error: e.message,
      });
      if (previous === 'created') setContainerState(db, row.id, 'created');
    });
  } catch {
    /* the row may already be gone (rm -f raced us) */
  }
}

/**
 * The monitor's exit command for a detached container (as conmon's --exit-command):
 * `node <bundle> --root <root> container cleanup <id>`, with an explicit environment: PATH,
 * and every TSCONTAINER_* variable (cgroup parent, bridge, nft table of tests...) with both
 * roots spelled out, so the clean-up acts on exactly what this CLI acted on.
 */
export function exitCommand(ctx: Context, id: string): { args: string[]; env: NodeJS.ProcessEnv } {
  // bin/tscontainer, not the bundle itself: it turns on the compile cache for the bundle
  const bundled = join(packageRoot(), 'bin', 'tscontainer');
  const script = existsSync(bundled) ? bundled : (process.argv[1] ?? bundled);
  const cli = [script, '--root', ctx.roots.state, 'container', 'cleanup', id];
  const env: NodeJS.ProcessEnv = { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin' };
  for (const [k, v] of Object.entries(process.env)) if (k.startsWith('TSCONTAINER_') && v !== undefined) env[k] = v;
  env['TSCONTAINER_ROOT'] = ctx.roots.state;
  env['TSCONTAINER_RUN_ROOT'] = ctx.roots.run;
  delete env['TSCONTAINER_TRACE'];
  return { args: ['--exit-command', process.execPath, ...cli.flatMap((a) => ['--exit-arg', a])], env };
}
