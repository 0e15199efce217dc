// The logger: pino writing JSON lines to <state root>/tscontainer.log, and with --debug or
// --log-level also to stderr. pino is loaded on the first enabled log call, so a `run` that
// logs nothing at the configured level does not pay for loading it.
import { createRequire } from 'node:module';
import type { Logger } from 'pino';

export type Level = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
export const LEVELS: readonly Level[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

const ORDER: Record<Level, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: 99 };

let logger: Logger | undefined;
let config: { file: string; level: Level; stderr: boolean } | undefined;

export function configureLog(file: string, level: Level, stderr: boolean): void {
  config = { file, level, stderr };
  logger = undefined;
}

function get(): Logger {
  if (logger) return logger;
  const c = config!;
  const require = createRequire(import.meta.url);
  const pino = require('pino') as typeof import('pino');
  const streams = [{ level: c.level, stream: pino.destination({ dest: c.file, sync: true, mkdir: true }) }];
  if (c.stderr) streams.push({ level: c.level, stream: pino.destination({ fd: 2, sync: true }) });
  logger = pino.pino({ level: c.level, base: { pid: process.pid } }, pino.multistream(streams));
  return logger;
}

/** Logs if `level` is enabled. Logging never throws. */
export function log(level: Exclude<Level, 'silent'>, msg: string, obj?: Record<string, unknown>): void {
  if (!config || ORDER[level] < ORDER[config.level]) return;
  try {
    get()[level](obj ?? {}, msg);
  } catch {
    /* a broken log file must not break the command */
  }
}
