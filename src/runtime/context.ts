// What every command needs, built by the CLI lazily from the global flags: the roots, the
// database, the graph driver. It lives with the runtime, which every command group calls. Commands call `ctx.db()` only when they touch state, so `version` stays instant.
import type { DB } from '../store/db.js';
import type { Roots, Layout } from '../util/paths.js';

export interface GlobalOptions {
  root?: string;
  debug?: boolean;
  logLevel?: string;
  storageDriver?: string;
  storageOpt?: string[];
}

export interface Context {
  readonly roots: Roots;
  readonly layout: Layout;
  /** The storage driver chosen by --storage-driver / TSCONTAINER_STORAGE_DRIVER, if any. */
  readonly storageDriver: string | undefined;
  /** --storage-opt key=value (repeatable) / TSCONTAINER_STORAGE_OPTS (comma-separated). */
  readonly storageOpts: readonly string[];
  db(): DB;
  /** Tells the user something is not as asked but the command goes on ("WARNING: ..." on stderr). */
  warn(message: string): void;
  /** Registers clean-up to run when the command ends (success or failure). */
  onExit(fn: () => void): void;
}

/** How command groups get the context: built on first use, after the global flags are parsed. */
export type GetContext = () => Context;
