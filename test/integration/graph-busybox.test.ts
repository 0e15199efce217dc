// A realistic layer: a static busybox with its applet symlinks, applied on both drivers, timed,
// and run from the overlay mount with chroot. The binary is the built-in image's (built here when
// images/busybox/out is missing), so as root this never skips.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { scaled } from './support/cli.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { buildBuiltin } from '../../src/image/builtin.js';
import { OverlayDriver } from '../../src/graph/overlay.js';
import { VfsDriver } from '../../src/graph/vfs.js';
import { cleanupDir, collect, makeTar, snapshot, tarStreamOf, tempDir, type TarEntry } from '../fixtures/graph/tars.js';

const isRoot = process.getuid?.() === 0;
let busybox = '';
let bbDir = '';

beforeAll(async () => {
  if (!isRoot) return;
  // images/busybox/build.sh is idempotent and serialized; it fails loudly without busybox-static.
  const out = await buildBuiltin();
  bbDir = tempDir();
  await execa('tar', ['-xf', join(out, 'layer.tar'), '-C', bbDir, 'bin/busybox']);
  busybox = join(bbDir, 'bin', 'busybox');
}, scaled(120_000));
afterAll(async () => {
  if (bbDir) await cleanupDir(bbDir);
});

let sandbox = '';
beforeEach(() => {
  sandbox = tempDir();
});
afterEach(async () => {
  await cleanupDir(sandbox);
});

async function busyboxTar(): Promise<{ tar: Buffer; applets: number; size: number }> {
  const list = (await execa(busybox, ['--list-full'])).stdout.split('\n').filter(Boolean);
  const content = readFileSync(busybox);
  const dirs = new Set<string>(['bin']);
  for (const p of list) {
    const parts = p.split('/');
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
  }
  const entries: TarEntry[] = [...dirs].sort().map((d) => ({ name: `${d}/`, type: 'directory' as const }));
  entries.push({ name: 'bin/busybox', content, mode: 0o755 });
  for (const p of list) if (p !== 'bin/busybox') entries.push({ name: p, type: 'symlink', linkname: '/bin/busybox' });
  return { tar: await makeTar(entries), applets: list.length, size: content.length };
}

describe.skipIf(!isRoot)('busybox layer (needs root: overlay mounts, chroot, file owners)', () => {
  it('applies on overlay and vfs, runs from the mount, and diffs back', async () => {
    const { tar, applets, size } = await busyboxTar();
    const ov = new OverlayDriver(`${sandbox}/overlay`);
    const vfs = new VfsDriver(`${sandbox}/vfs`);

    await ov.create('bb', null);
    let t = performance.now();
    const r = await ov.applyDiff('bb', tarStreamOf(tar));
    const tOverlay = performance.now() - t;
    expect(r.size).toBe(size);

    await vfs.create('bb', null);
    t = performance.now();
    await vfs.applyDiff('bb', tarStreamOf(tar));
    const tVfs = performance.now() - t;

    t = performance.now();
    await vfs.create('bb2', 'bb');
    const tCopy = performance.now() - t;

    t = performance.now();
    const diff = await collect(ov.diff('bb'));
    const tDiff = performance.now() - t;

    await ov.create('rw', 'bb');
    const m = await ov.mount('rw');
    try {
      const out = await execa('chroot', [m, '/bin/sh', '-c', 'echo hello from $(basename $(readlink /bin/ls))']);
      expect(out.stdout).toBe('hello from busybox');
      expect(snapshot(m)).toEqual(snapshot(vfs.dir('bb')));
    } finally {
      await ov.unmount('rw');
    }
    expect(diff.length).toBeGreaterThan(size);
    console.log(
      `busybox layer (${applets} applets, ${(tar.length / 1e6).toFixed(1)} MB tar): ` +
        `overlay apply ${tOverlay.toFixed(0)} ms, vfs apply ${tVfs.toFixed(0)} ms, ` +
        `vfs child copy ${tCopy.toFixed(0)} ms, overlay diff ${tDiff.toFixed(0)} ms`,
    );
  });
});
