// The student's progress, in <state root>/labs/progress.json: when each lab was started, last
// checked and first passed.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface LabProgress {
  started?: string;
  lastCheck?: string;
  passed?: string;
}

export type Progress = Record<string, LabProgress>;

export function labsStateDir(stateRoot: string): string {
  return join(stateRoot, 'labs');
}

function file(stateRoot: string): string {
  return join(labsStateDir(stateRoot), 'progress.json');
}

export function readProgress(stateRoot: string): Progress {
  try {
    const v = JSON.parse(readFileSync(file(stateRoot), 'utf8')) as unknown;
    return v !== null && typeof v === 'object' ? (v as Progress) : {};
  } catch {
    return {};
  }
}

export function updateProgress(stateRoot: string, lab: number, change: (p: LabProgress) => LabProgress | undefined): void {
  const all = readProgress(stateRoot);
  const next = change(all[String(lab)] ?? {});
  if (next === undefined) delete all[String(lab)];
  else all[String(lab)] = next;
  mkdirSync(labsStateDir(stateRoot), { recursive: true });
  const tmp = `${file(stateRoot)}.${process.pid}`;
  writeFileSync(tmp, JSON.stringify(all, null, 2) + '\n');
  renameSync(tmp, file(stateRoot));
}
