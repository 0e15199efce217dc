// Where tscontainer keeps things. The state root holds the SQLite database, layers and
// container directories; the run root holds what only lives while the machine is up
// (monitor sockets, exit files). Both can be moved for tests.
import { join, resolve } from 'node:path';

export const DEFAULT_STATE_ROOT = '/var/lib/tscontainer';
export const DEFAULT_RUN_ROOT = '/run/tscontainer';

export interface Roots {
  /** Persistent state: state.db, layers, containers. */
  state: string;
  /** Per-boot state: monitor sockets and pid files. */
  run: string;
}

/**
 * The roots for this invocation: `--root` wins, then TSCONTAINER_ROOT, then the default.
 * The run root follows a custom state root (`<root>/run`) so that tests never share one.
 */
export function resolveRoots(cliRoot?: string, env: NodeJS.ProcessEnv = process.env): Roots {
  const chosen = cliRoot ?? env['TSCONTAINER_ROOT'];
  if (chosen) {
    const state = resolve(chosen);
    return { state, run: env['TSCONTAINER_RUN_ROOT'] ? resolve(env['TSCONTAINER_RUN_ROOT']) : join(state, 'run') };
  }
  return { state: DEFAULT_STATE_ROOT, run: env['TSCONTAINER_RUN_ROOT'] ?? DEFAULT_RUN_ROOT };
}

/** Absolute path of the repository (or installed package) this code runs from. */
export function packageRoot(): string {
  // dist/util/paths.js -> package root is two levels up from dist/util
  return resolve(new URL('../../', import.meta.url).pathname);
}

export function layoutOf(roots: Roots) {
  return {
    db: join(roots.state, 'state.db'),
    log: join(roots.state, 'tscontainer.log'),
    graph: (driver: string) => join(roots.state, driver),
    containers: join(roots.state, 'containers'),
    container: (id: string) => join(roots.state, 'containers', id),
    images: join(roots.state, 'images'),
    tmp: join(roots.state, 'tmp'),
    runContainer: (id: string) => join(roots.run, 'containers', id),
  };
}
export type Layout = ReturnType<typeof layoutOf>;
