// The built-in images: images/busybox/build.sh makes out/layer.tar + out/config.json from
// Debian's busybox-static; any state root without docker.io/library/busybox:latest imports it
// on first use, so `run busybox` works with no registry. images/debian/build.sh makes
// debian:bookworm with mmdebstrap from the machine's apt sources; it downloads packages, so it
// is built only on demand (`image build-builtin debian`) and imported on first use once built.
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { imageIdForTag, setTag } from '../store/images.js';
import { NotFoundError, SystemError } from '../util/errors.js';
import { log } from '../util/log.js';
import { packageRoot } from '../util/paths.js';
import { serializeConfig, type ImageConfig } from './config.js';
import type { ImageContext } from './context.js';
import { imageDriver } from '../graph/select.js';
import { registerLayer } from './layers.js';
import { commitImage } from './store.js';

export const BUILTIN_BUSYBOX = 'docker.io/library/busybox:latest';
export const BUILTIN_DEBIAN = 'docker.io/library/debian:bookworm';

export type BuiltinName = 'busybox' | 'debian';
export const BUILTIN_NAMES: readonly BuiltinName[] = ['busybox', 'debian'];
const TAG_OF: Record<BuiltinName, string> = { busybox: BUILTIN_BUSYBOX, debian: BUILTIN_DEBIAN };

/** The built-in image a normalized reference names, if any. */
export function builtinFor(ref: string): BuiltinName | undefined {
  return BUILTIN_NAMES.find((n) => TAG_OF[n] === ref);
}

export function builtinDir(name: BuiltinName = 'busybox'): string {
  return join(packageRoot(), 'images', name);
}

export function builtinOutDir(name: BuiltinName = 'busybox'): string {
  return join(builtinDir(name), 'out');
}

/** Runs images/NAME/build.sh (which skips the work when out/ is up to date). */
export async function buildBuiltin(opts: { force?: boolean; name?: BuiltinName } = {}): Promise<string> {
  const name = opts.name ?? 'busybox';
  const script = join(builtinDir(name), 'build.sh');
  if (!existsSync(script)) throw new SystemError(`cannot build the built-in ${name} image: ${script} is missing`);
  const args = [script, ...(opts.force ? ['--force'] : [])];
  const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
    // node:child_process on first use (~4 ms to load): `images` and `run` rarely build
    const child = process.getBuiltinModule('node:child_process').spawn('bash', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      err += d;
      // busybox builds in a moment; debian's mmdebstrap takes minutes: show its progress
      if (name !== 'busybox') process.stderr.write(d);
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
    throw new SystemError(`cannot build the built-in ${name} image: ${last || `build.sh exited with ${code}`}`);
  }
  return builtinOutDir(name);
}

function outReady(name: BuiltinName): boolean {
  const out = builtinOutDir(name);
  return existsSync(join(out, 'layer.tar')) && existsSync(join(out, 'config.json'));
}

/** The partial config build.sh wrote (everything but rootfs). */
function readBuiltinConfig(name: BuiltinName): Omit<ImageConfig, 'rootfs'> {
  const file = join(builtinOutDir(name), 'config.json');
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Omit<ImageConfig, 'rootfs'>;
  } catch (err) {
    throw new SystemError(`cannot read ${file}: ${(err as Error).message}`);
  }
}

/**
 * Makes sure the built-in image (busybox:latest by default) exists in this state root,
 * importing it (and building busybox first when images/busybox/out is missing; debian must be
 * built with `image build-builtin debian`, since that downloads packages). Returns its id.
 */
export async function ensureBuiltinImage(ctx: ImageContext, name: BuiltinName = 'busybox'): Promise<string> {
  const db = ctx.db();
  const tag = TAG_OF[name];
  const existing = imageIdForTag(db, tag);
  if (existing !== undefined) return existing;
  if (!outReady(name)) {
    if (name !== 'busybox') {
      throw new NotFoundError(
        `the built-in ${name} image is not built yet: run "tscontainer image build-builtin ${name}" (it downloads packages from this machine's apt sources)`,
      );
    }
    await buildBuiltin();
  }
  const partial = readBuiltinConfig(name);
  const driver = await imageDriver(ctx);
  let id = '';
  await registerLayer(db, driver, {
    parent: null,
    source: createReadStream(join(builtinOutDir(name), 'layer.tar')),
    inTx: (layer) => {
      const raw = serializeConfig({
        ...partial,
        architecture: partial.architecture,
        os: partial.os,
        rootfs: { type: 'layers', diff_ids: [layer.diff_id] },
      });
      id = commitImage(db, raw, layer);
      // Another process may have provided (or the user re-tagged) the tag meanwhile.
      if (imageIdForTag(db, tag) === undefined) setTag(db, tag, id);
      else id = imageIdForTag(db, tag)!;
    },
  });
  log('info', `imported the built-in ${name} image`, { id });
  return id;
}
