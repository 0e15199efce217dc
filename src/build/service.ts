// `tscontainer build`: reads the Dockerfile and the context in place, runs the builder with
// Ctrl-C turned into a clean stop (the running step's container is killed and removed, nothing
// is left), prints progress on stderr and returns the image id.
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import type { Context } from '../runtime/context.js';
import { NotFoundError, TscError, toTscError, UsageError } from '../util/errors.js';
import { parseTagTarget } from '../image/store.js';
import { Builder } from './builder.js';
import { makeProgress, progressMode } from './progress.js';

export interface BuildCommandOptions {
  /** PATH, or "-" for a Dockerfile on stdin and no context. */
  context: string;
  file: string | undefined;
  tags: string[];
  buildArgs: string[];
  target: string | undefined;
  quiet: boolean;
  iidfile: string | undefined;
  noCache: boolean;
  network: string | undefined;
  progress: string | undefined;
  pull: boolean;
}

function readStdin(): string {
  try {
    return readFileSync(0, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read the Dockerfile from stdin: ${(err as Error).message}`);
  }
}

export function parseBuildArgs(values: readonly string[], env: NodeJS.ProcessEnv = process.env): Map<string, string> {
  const out = new Map<string, string>();
  for (const v of values) {
    const eq = v.indexOf('=');
    const key = eq < 0 ? v : v.slice(0, eq);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) throw new UsageError(`invalid --build-arg "${v}": expected NAME=VALUE`);
    if (eq >= 0) out.set(key, v.slice(eq + 1));
    else if (env[key] !== undefined) out.set(key, env[key]!);
  }
  return out;
}

export async function buildCommand(ctx: Context, o: BuildCommandOptions): Promise<string> {
  const network = o.network ?? 'default';
  if (!['default', 'bridge', 'none', 'host'].includes(network))
    throw new UsageError(`invalid --network "${network}": use default, none or host`);
  if (o.progress !== undefined && !['auto', 'plain', 'tty', 'quiet'].includes(o.progress)) {
    throw new UsageError(`invalid --progress "${o.progress}": use auto, plain, tty or quiet`);
  }
  const buildArgs = parseBuildArgs(o.buildArgs);
  for (const t of o.tags) parseTagTarget(t); // a bad -t is a flag error (125), as docker's
  try {
    return await runBuild(ctx, o, network, buildArgs);
  } catch (err) {
    // As `docker build`: once the flags are accepted, a failed build exits 1 (Ctrl-C: 130).
    const e = toTscError(err);
    if (e.exitCode === 130 || e.exitCode === 1) throw e;
    throw new TscError(e.message, 1, { cause: err });
  }
}

async function runBuild(ctx: Context, o: BuildCommandOptions, network: string, buildArgs: Map<string, string>): Promise<string> {
  let contextDir: string | null = null;
  let dockerfile: string;
  let name: string;
  if (o.context === '-') {
    if (o.file !== undefined && o.file !== '-')
      throw new UsageError('with "-" as the context the Dockerfile comes from stdin: drop -f');
    dockerfile = readStdin();
    name = 'Dockerfile';
  } else {
    contextDir = resolve(o.context);
    let st;
    try {
      st = statSync(contextDir);
    } catch {
      throw new NotFoundError(`unable to prepare context: path "${o.context}" not found`);
    }
    if (!st.isDirectory()) throw new UsageError(`unable to prepare context: "${o.context}" is not a directory`);
    if (o.file === '-') {
      dockerfile = readStdin();
      name = 'Dockerfile';
    } else {
      const path = o.file === undefined ? join(contextDir, 'Dockerfile') : isAbsolute(o.file) ? o.file : resolve(o.file);
      name = o.file ?? 'Dockerfile';
      try {
        dockerfile = readFileSync(path, 'utf8');
      } catch {
        throw new NotFoundError(`unable to read the Dockerfile: ${path} not found`);
      }
    }
  }
  const progress = makeProgress(process.stderr, progressMode(o.progress, o.quiet, process.stderr.isTTY === true));
  const abort = new AbortController();
  const onSignal = () => abort.abort();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const builder = new Builder(ctx, {
      contextDir,
      dockerfile,
      dockerfileName: name,
      tags: o.tags,
      buildArgs,
      target: o.target,
      noCache: o.noCache,
      network: network === 'default' ? 'bridge' : (network as 'bridge' | 'none' | 'host'),
      progress,
      pull: o.pull,
      signal: abort.signal,
    });
    const id = await builder.run();
    if (o.iidfile !== undefined) writeFileSync(o.iidfile, id);
    return id;
  } finally {
    progress.end();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
