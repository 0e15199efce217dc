// The exit record the monitor writes into the container's run directory (exit.json).
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

export interface ExitRecord {
  exitCode: number;
  signal: number | null;
  oomKilled: boolean;
  finishedAt: string;
  /** The host pid of the init that exited (monitors since issue 3 write it). */
  pid?: number | undefined;
}

export function exitFilePath(runDir: string): string {
  return join(runDir, 'exit.json');
}

export function readExitFile(runDir: string): ExitRecord | undefined {
  try {
    const r = JSON.parse(readFileSync(exitFilePath(runDir), 'utf8')) as Partial<ExitRecord>;
    if (typeof r.exitCode !== 'number') return undefined;
    return {
      exitCode: r.exitCode,
      signal: typeof r.signal === 'number' ? r.signal : null,
      oomKilled: Boolean(r.oomKilled),
      finishedAt: typeof r.finishedAt === 'string' ? r.finishedAt : new Date().toISOString(),
      pid: typeof r.pid === 'number' ? r.pid : undefined,
    };
  } catch {
    return undefined;
  }
}

export function clearExitFile(runDir: string): void {
  rmSync(exitFilePath(runDir), { force: true });
}
