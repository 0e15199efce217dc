// The built-in busybox image: images/busybox/build.sh makes out/layer.tar + out/config.json from
// Debian's busybox-static; any state root without docker.io/library/busybox:latest imports it
// on first use, so `run busybox` works with no registry.
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { imageIdForTag, setTag } from '../store/images.js';
import { SystemError } from '../util/errors.js';
import { log } from '../util/log.js';
import { packageRoot } from '../util/paths.js';
import { serializeConfig, type ImageConfig } from './config.js';
import type { ImageContext } from './context.js';
import { imageDriver } from '../graph/select.js';
import { registerLayer } from './layers.js';
import { commitImage } from './store.js';

export const BUILTIN_BUSYBOX = 'docker.io/library/busybox:latest';

export function builtinDir(): string {
  return join(packageRoot(), 'images', 'busybox');
}

export function builtinOutDir(): string {
  return join(builtinDir(), 'out');
}

/** Runs images/busybox/build.sh (which skips the work when out/ is up to date). */
export async function buildBuiltin(opts: { force?: boolean } = {}): Promise<string> {
  const script = join(builtinDir(), 'build.sh');
  if (!existsSync(script)) throw new SystemError(`cannot build the built-in busybox image: ${script} is missing`);
  const args = [script, ...(opts.force ? ['--force'] : [])];
  const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
    // node:child_process on first use (~4 ms to load): `images` and `run` rarely build
    const child = process.getBuiltinModule('node:child_process').spawn('bash', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      err += d;
    });
    child.on('error', reject);
    child.on('close', (c) => resolve({ code: c, stderr: err }));
  });
  if (code !== 0) {
    const last =
      stderr
        .trim()
        .split('\n')
        .pop()
        ?.replace(/^build\.sh:\s*/, '') ?? '';
    throw new SystemError(`cannot build the built-in busybox image: ${last || `build.sh exited with ${code}`}`);
  }
  return builtinOutDir();
}

function outReady(): boolean {
  const out = builtinOutDir();
  return existsSync(join(out, 'layer.tar')) && existsSync(join(out, 'config.json'));
}

/** The partial config build.sh wrote (everything but rootfs). */
function readBuiltinConfig(): Omit<ImageConfig, 'rootfs'> {
  const file = join(builtinOutDir(), 'config.json');
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Omit<ImageConfig, 'rootfs'>;
  } catch (err) {
    throw new SystemError(`cannot read ${file}: ${(err as Error).message}`);
  }
}

/**
 * Makes sure busybox:latest exists in this state root, importing the built-in image (and
 * building it first when images/busybox/out is missing). Returns its image id.
 */
export async function ensureBuiltinImage(ctx: ImageContext): Promise<string> {
  const db = ctx.db();
  const existing = imageIdForTag(db, BUILTIN_BUSYBOX);
  if (existing !== undefined) return existing;
  if (!outReady()) await buildBuiltin();
  const partial = readBuiltinConfig();
  const driver = await imageDriver(ctx);
  let id = '';
  await registerLayer(db, driver, {
    parent: null,
    source: createReadStream(join(builtinOutDir(), 'layer.tar')),
    inTx: (layer) => {
      const raw = serializeConfig({
        ...partial,
        architecture: partial.architecture,
        os: partial.os,
        rootfs: { type: 'layers', diff_ids: [layer.diff_id] },
      });
      id = commitImage(db, raw, layer);
      // Another process may have provided (or the user re-tagged) busybox:latest meanwhile.
      if (imageIdForTag(db, BUILTIN_BUSYBOX) === undefined) setTag(db, BUILTIN_BUSYBOX, id);
      else id = imageIdForTag(db, BUILTIN_BUSYBOX)!;
    },
  });
  log('info', 'imported the built-in busybox image', { id });
  return id;
}
