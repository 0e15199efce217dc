// `tscontainer lab`: list the labs with progress, start one (prepare its workspace), check the
// student's work with the lab's checker, reset (remove everything the lab and the student made).
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { NotFoundError } from '../util/errors.js';
import { findLab, loadLabs } from './catalog.js';
import { CHECKERS } from './checkers/index.js';
import { cleanLab } from './cleanup.js';
import { readProgress, updateProgress, type LabProgress } from './progress.js';
import { CheckFailed, type Check, type CheckList, type CheckReport, type LabDef } from './types.js';
import { cgroupsOrUndefined, describeCgroups, prepareWorkspace, readEnv, workspaceOf } from './workspace.js';

export type { CheckReport, Check, LabDef } from './types.js';

export interface LabListEntry {
  readonly lab: LabDef;
  readonly progress: LabProgress;
}

export function listLabs(stateRoot: string): { labs: LabListEntry[]; cgroup: string } {
  const progress = readProgress(stateRoot);
  return {
    labs: loadLabs().map((lab) => ({ lab, progress: progress[String(lab.number)] ?? {} })),
    cgroup: describeCgroups(cgroupsOrUndefined()),
  };
}

export interface StartedLab {
  readonly lab: LabDef;
  readonly workspace: string;
  readonly task: string;
  readonly cgroup: string;
}

export function startLab(stateRoot: string, number: number): StartedLab {
  const lab = findLab(number);
  const layout = cgroupsOrUndefined();
  const { workspace } = prepareWorkspace(stateRoot, lab, layout);
  updateProgress(stateRoot, number, (p) => ({ ...p, started: p.started ?? new Date().toISOString() }));
  return { lab, workspace, task: join(workspace, lab.task), cgroup: describeCgroups(layout) };
}

class Checks implements CheckList {
  readonly done: Check[] = [];
  unsupportedReason: string | undefined;
  out = '';
  expect(property: string, ok: boolean, hint: string, detail?: string): void {
    const c: Check = ok ? { property, ok, ...(detail ? { detail } : {}) } : { property, ok, hint, ...(detail ? { detail } : {}) };
    this.done.push(c);
    if (!ok) throw new CheckFailed(c);
  }
  unsupported(reason: string): never {
    this.unsupportedReason = reason;
    throw new CheckFailed({ property: 'this machine can run the lab', ok: false, hint: reason });
  }
  output(text: string): void {
    this.out += text;
  }
}

/** Runs lab `number`'s checker on the workspace's task file, or on `path` (a file or a folder holding it). */
export async function checkLab(stateRoot: string, number: number, path?: string): Promise<CheckReport> {
  const started = startLab(stateRoot, number);
  const { lab, workspace } = started;
  let script = started.task;
  if (path !== undefined) {
    if (!existsSync(path)) throw new NotFoundError(`no such file: ${path}`);
    script = statSync(path).isDirectory() ? join(path, lab.task) : path;
    if (!existsSync(script)) throw new NotFoundError(`no ${lab.task} in ${path}`);
  }
  const env = readEnv(workspace)!;
  const checker = CHECKERS[lab.number];
  if (!checker) throw new NotFoundError(`lab ${lab.number} has no checker`);
  const layout = cgroupsOrUndefined();
  const t = new Checks();
  await cleanLab(workspace, env, false);
  try {
    await checker({ lab, workspace, env, script, cgroups: layout }, t);
  } catch (err) {
    if (!(err instanceof CheckFailed)) throw err;
  } finally {
    await cleanLab(workspace, env, false);
  }
  const passed = t.done.length > 0 && t.done.every((c) => c.ok) && t.unsupportedReason === undefined;
  const now = new Date().toISOString();
  updateProgress(stateRoot, number, (p) => ({ ...p, lastCheck: now, ...(passed && !p.passed ? { passed: now } : {}) }));
  const tail = t.out.trim().split('\n').slice(-15).join('\n');
  return {
    lab: lab.number,
    title: lab.title,
    passed,
    checks: t.done,
    cgroup: describeCgroups(layout),
    ...(t.unsupportedReason ? { unsupported: t.unsupportedReason } : {}),
    ...(!passed && tail ? { output: tail } : {}),
  };
}

/** Removes everything of lab `number`: its kernel objects, the workspace, the progress entry. */
export async function resetLab(stateRoot: string, number: number): Promise<string> {
  const lab = findLab(number);
  const workspace = workspaceOf(stateRoot, lab);
  const env = readEnv(workspace);
  if (env) await cleanLab(workspace, env, true);
  else if (existsSync(workspace)) await cleanLab(workspace, {}, true);
  updateProgress(stateRoot, number, () => undefined);
  return workspace;
}
