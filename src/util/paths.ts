// Where tscontainer keeps things. The state root holds the SQLite database, layers and
// container directories; the run root holds what only lives while the machine is up
// (monitor sockets, exit files). Both can be moved for tests.
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

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

let pkgRoot: string | undefined;

/** Absolute path of the repository (or installed package) this code runs from: the nearest
 *  directory above this file with tscontainer's package.json (works from src/ and the bundle). */
export function packageRoot(): string {
  if (pkgRoot) return pkgRoot;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    try {
      if ((JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string }).name === 'tscontainer') break;
    } catch {
      /* keep looking upwards */
    }
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the tscontainer package root');
    dir = up;
  }
  pkgRoot = dir;
  return dir;
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
