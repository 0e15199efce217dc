// A read-only view of a layer with everything below it, on the host, for as long as a callback
// runs: the build reads a stage's or an image's files through it (COPY --from, a COPY's
// destination, --chown names), and `cp`/`export` read stopped containers through it.
// overlay: a mount with no upper directory (the layer's own diff becomes the top lower), on a
// fresh directory under `tmpParent`, unmounted and removed in a finally; nothing can write to the
// layer through it, and it can share its directories with a running container's mount.
// vfs: the layer directory itself (a full copy), not mounted. The directory's name carries our
// pid, so that `system prune` leaves it alone while we run and unmounts it if we were killed.
import { mkdirSync, mkdtempSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import type { GraphDriver } from './driver.js';
import { hostMount, hostUnmount } from './fsutil.js';

export async function withReadOnlyView<T>(
  driver: GraphDriver,
  id: string | null,
  tmpParent: string,
  fn: (root: string) => Promise<T>,
): Promise<T> {
  mkdirSync(tmpParent, { recursive: true, mode: 0o700 });
  if (id === null) {
    const empty = mkdtempSync(join(tmpParent, `view-${process.pid}-`));
    try {
      return await fn(empty);
    } finally {
      rmdirSync(empty);
    }
  }
  const { spec } = driver.mountSpec(id);
  if (spec.type === 'bind') return fn(spec.source);
  const opts = new Map(spec.data.split(',').map((kv) => [kv.split('=', 1)[0]!, kv.slice(kv.indexOf('=') + 1)]));
  const upper = opts.get('upperdir');
  const lower = opts.get('lowerdir');
  if (upper === undefined || lower === undefined) throw new Error(`unexpected overlay mount data for layer ${id}`);
  const keep = [...opts.entries()]
    .filter(([k]) => !['upperdir', 'workdir', 'lowerdir'].includes(k))
    .map(([k, v]) => (v === k ? k : `${k}=${v}`));
  // A base layer's mount has its empty dir as the only lower: then the diff alone is the view.
  const lowers = lower.endsWith('/empty') && !lower.includes(':') ? upper : `${upper}:${lower}`;
  const data = [`lowerdir=${lowers}`, ...keep].join(',');
  const target = mkdtempSync(join(tmpParent, `view-${process.pid}-`));
  try {
    if (!lowers.includes(':')) {
      // one lower: a read-only bind of the diff directory does the same
      await hostMount('none', join(spec.cwd ?? '', upper), 'bind,ro', target);
    } else {
      await hostMount('overlay', 'overlay', `${data},ro`, target, spec.cwd);
    }
    try {
      return await fn(target);
    } finally {
      await hostUnmount(target);
    }
  } finally {
    rmdirSync(target);
  }
}
