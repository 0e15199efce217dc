// What several checkers share: running the student's script with the probe, comparing a
// namespace with the host's, reading a cgroup file of the probe's group.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { nsOf, parseProcCgroup, readProc, type Namespace } from '../proc.js';
import { findProbe, probeCommand, runScript, type ScriptRun } from '../runner.js';
import type { CheckInput, CheckList } from '../types.js';

export interface Probed {
  readonly pid: number;
  readonly run: ScriptRun;
}

/**
 * Runs `script <args> sleep <N>` and waits for the probe. The caller must `await run.stop()`
 * (use withProbe). Fails the check "your script runs the command it is given" when it never does.
 */
export async function startProbe(input: CheckInput, t: CheckList, args: readonly string[] = []): Promise<Probed> {
  const probe = probeCommand();
  const run = runScript(input.script, [...args, ...probe], input.workspace, input.env);
  const pid = await findProbe(run, probe);
  if (pid === undefined) {
    await run.stop();
    t.output(run.output());
    const code = run.code();
    t.expect(
      `your script runs the command it is given (${probe.join(' ')})`,
      false,
      code === undefined
        ? `nothing ran "${probe.join(' ')}" within 8 s: end your script with exec ... "$@" so the checker's command runs inside what you built`
        : `your script exited with code ${code} before running "${probe.join(' ')}": see its output below`,
    );
  }
  return { pid: pid!, run };
}

/** Starts the probe, hands it to `fn`, and always stops everything the script started. */
export async function withProbe(
  input: CheckInput,
  t: CheckList,
  fn: (pid: number, run: ScriptRun) => Promise<void> | void,
  args: readonly string[] = [],
): Promise<void> {
  const { pid, run } = await startProbe(input, t, args);
  try {
    await fn(pid, run);
  } finally {
    t.output(run.output());
    await run.stop();
  }
}

/** Expects the probe in a namespace of its own (not the checker's, which is the host's). */
export function expectNewNs(t: CheckList, pid: number, ns: Namespace, hint: string): void {
  const mine = nsOf('self', ns);
  const theirs = nsOf(pid, ns);
  t.expect(
    `the command runs in a new ${ns} namespace`,
    theirs !== undefined && theirs !== mine,
    hint,
    `${theirs} (host: ${mine})`,
  );
}

/** The directory of the probe's group in `controller`'s hierarchy, if it is under the lab's parent. */
export function probeCgroupDir(input: CheckInput, t: CheckList, pid: number, controller: string): string {
  const layout = input.cgroups!;
  const groups = parseProcCgroup(readProc(pid, 'cgroup') ?? '');
  const parent = input.env['LAB_CGROUP_PARENT']!;
  let mount: string;
  let path: string | undefined;
  if (layout.version === 2) {
    mount = layout.unified!.mountPoint;
    path = groups.get('');
  } else {
    const h = layout.v1[controller as keyof typeof layout.v1];
    mount = h?.mountPoint ?? '';
    path = groups.get(controller);
  }
  const expected = input.env[`LAB_CGROUP_${controller.toUpperCase()}`] ?? join(mount, parent);
  const dir = path === undefined ? undefined : join(mount, path);
  t.expect(
    `the command is in a ${controller} cgroup below ${expected}`,
    dir !== undefined && dir.startsWith(`${expected}/`),
    `make a directory below $LAB_CGROUP_${controller.toUpperCase()} and write the pid into its cgroup.procs before exec`,
    `${controller}: ${path ?? 'none'}`,
  );
  return dir!;
}

export function readCg(dir: string, file: string): string | undefined {
  try {
    return readFileSync(join(dir, file), 'utf8').trim();
  } catch {
    return undefined;
  }
}
