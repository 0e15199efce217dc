// `run`/`create --pull missing|always|never`: the image the container starts from, pulled
// first when the policy says so. Progress goes to stderr, so the container's own output stays
// alone on stdout.
import { NotFoundError, UsageError } from '../../util/errors.js';
import type { ImageContext } from '../context.js';
import { idPrefixOf } from '../reference.js';
import { resolveImage, type ResolvedImage } from '../resolve.js';

export type PullPolicy = 'missing' | 'always' | 'never';

export function parsePullPolicy(v: string | undefined): PullPolicy {
  const p = v ?? 'missing';
  if (p === 'missing' || p === 'always' || p === 'never') return p;
  throw new UsageError(`invalid --pull "${v}": expected missing, always or never`);
}

async function pullQuietly(ctx: ImageContext, ref: string, platform: string | undefined): Promise<void> {
  // the registry client (tls, net, crypto) loads only when a pull happens: `run` of an image
  // that is present never pays for it
  const { pullImage } = await import('./pull.js');
  const { ProgressBoard } = await import('../../util/progress.js');
  const board = new ProgressBoard(process.stderr);
  const labels: Record<string, string> = { exists: 'Already exists', downloading: 'Downloading', done: 'Pull complete' };
  const r = await pullImage(ctx, ref, {
    platform,
    onProgress: (p) =>
      board.update({ id: p.digest.slice(7, 19), state: labels[p.state] ?? p.state, bytes: p.bytes, total: p.total }),
  });
  board.finish();
  process.stderr.write(`Digest: ${r.digest.split('@')[1]}\nStatus: Downloaded newer image for ${r.name}\n`);
}

export async function resolveOrPull(
  ctx: ImageContext,
  ref: string,
  opts: { pull?: string; platform?: string },
): Promise<ResolvedImage> {
  const policy = parsePullPolicy(opts.pull);
  if (policy === 'always' && idPrefixOf(ref) === undefined) {
    await pullQuietly(ctx, ref, opts.platform);
    return resolveImage(ctx, ref);
  }
  try {
    return await resolveImage(ctx, ref);
  } catch (err) {
    if (policy === 'never' || !(err instanceof NotFoundError) || idPrefixOf(ref) !== undefined) throw err;
    process.stderr.write(`${err.message}\n`);
  }
  await pullQuietly(ctx, ref, opts.platform);
  return resolveImage(ctx, ref);
}
