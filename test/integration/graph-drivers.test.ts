// The overlay and vfs drivers against the real kernel (root): the same two layer tars give the
// same tree through an overlay mount and through vfs copies; diffs round-trip between drivers;
// a chain of 150 layers mounts in one page.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  chmodSync,
  chownSync,
  existsSync,
  linkSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { execa } from 'execa';
import { OverlayDriver, LINK_DIR } from '../../src/graph/overlay.js';
import { VfsDriver } from '../../src/graph/vfs.js';
import { FsOps } from '../../src/graph/fsops.js';
import { isMountPoint } from '../../src/graph/fsutil.js';
import { openDriver } from '../../src/graph/index.js';
import { cleanupDir, collect, listTar, makeTar, snapshot, tarStreamOf, tempDir, type TarEntry } from '../fixtures/graph/tars.js';

const isRoot = process.getuid?.() === 0;
const T = new Date(1_650_000_000_000);

const base: TarEntry[] = [
  { name: 'etc/', type: 'directory', mtime: T },
  { name: 'etc/conf', content: 'a=1\n', mtime: T },
  { name: 'etc/passwd', content: 'root:x:0:0::/root:/bin/sh\n', mtime: T },
  { name: 'bin/', type: 'directory', mtime: T },
  { name: 'bin/busy', content: 'binary', mode: 0o755, mtime: T },
  { name: 'bin/sh', type: 'symlink', linkname: 'busy', mtime: T },
  { name: 'bin/hardsh', type: 'link', linkname: 'bin/busy' },
  { name: 'del.txt', content: 'delete me', mtime: T },
  { name: 'rmdir/', type: 'directory', mtime: T },
  { name: 'rmdir/a', content: 'a', mtime: T },
  { name: 'rmdir/sub/b', content: 'b', mtime: T },
  { name: 'opq/', type: 'directory', mtime: T },
  { name: 'opq/old1', content: 'old', mtime: T },
  { name: 'opq/olddir/x', content: 'x', mtime: T },
  { name: 'keep/', type: 'directory', mtime: T },
  { name: 'keep/k', content: 'k', mtime: T },
  { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666, mtime: T },
  { name: 'owned', content: 'o', uid: 1000, gid: 1000, mode: 0o640, mtime: T },
];

const top: TarEntry[] = [
  { name: '.wh.del.txt' },
  { name: '.wh.rmdir' },
  { name: 'opq/', type: 'directory', mode: 0o750, mtime: T },
  { name: 'opq/.wh..wh..opq' },
  { name: 'opq/new', content: 'new', mtime: T },
  { name: 'etc/', type: 'directory', mtime: T },
  { name: 'etc/conf', content: 'a=2\n', mtime: T },
  { name: 'bin/', type: 'directory', mtime: T },
  { name: 'bin/busy2', content: 'binary2', mode: 0o755, mtime: T },
  { name: 'bin/sh', type: 'symlink', linkname: 'busy2', mtime: T },
  { name: 'new/f1', content: 'shared', mtime: T },
  { name: 'new/f2', type: 'link', linkname: 'new/f1' },
  { name: 'keep/added', content: 'added', mtime: T },
  { name: `long/${'n'.repeat(90)}/${'m'.repeat(90)}/file-with-a-long-name`, content: 'long', mtime: T },
  { name: 'run/fifo', type: 'fifo', mode: 0o600, mtime: T },
];

let sandbox = '';
let ov: OverlayDriver;
let vfs: VfsDriver;

beforeEach(() => {
  sandbox = tempDir();
  ov = new OverlayDriver(`${sandbox}/overlay`);
  vfs = new VfsDriver(`${sandbox}/vfs`);
});

afterEach(async () => {
  await cleanupDir(sandbox);
});

async function applyTar(d: OverlayDriver | VfsDriver, id: string, parent: string | null, entries: TarEntry[]) {
  await d.create(id, parent);
  return d.applyDiff(id, tarStreamOf(await makeTar(entries)));
}

describe.skipIf(!isRoot)('graph drivers (needs root: overlay mounts, file owners, device nodes)', () => {
  it('opens through openDriver', () => {
    expect(openDriver('overlay', `${sandbox}/o2`).name).toBe('overlay');
    expect(openDriver('vfs', `${sandbox}/v2`).name).toBe('vfs');
  });

  it('shows the same tree through an overlay mount and through vfs', async () => {
    const r1 = await applyTar(ov, 'base', null, base);
    await applyTar(ov, 'top', 'base', top);
    await applyTar(vfs, 'base', null, base);
    await applyTar(vfs, 'top', 'base', top);
    expect(r1.size).toBe(4 + 26 + 6 + 9 + 1 + 1 + 3 + 1 + 1 + 1);

    const { spec, target } = ov.mountSpec('top');
    expect(spec.type).toBe('overlay');
    expect(spec.cwd).toBe(ov.home);
    expect(spec.data).toMatch(/^lowerdir=l\/[A-Z2-7]{16},upperdir=top\/diff,workdir=top\/work/);
    expect(target).toBe(`${ov.home}/top/merged`);
    expect(ov.mountSpec('base').spec.data).toMatch(/^lowerdir=base\/empty,upperdir=base\/diff,/);

    // overlay's on-disk whiteouts in the upper dir
    const ops = new FsOps();
    try {
      const [x] = await ops.listXattrs([`${ov.home}/top/diff/opq`]);
      expect(x!.get('trusted.overlay.opaque')?.toString()).toBe('y');
    } finally {
      await ops.close();
    }
    const wh = readdirSync(`${ov.home}/top/diff`, { withFileTypes: true })
      .filter((e) => e.isCharacterDevice())
      .map((e) => e.name);
    expect(wh.sort()).toEqual(['del.txt', 'rmdir']);

    const merged = await ov.mount('top');
    expect(await ov.mount('top')).toBe(merged);
    try {
      expect(isMountPoint(merged)).toBe(true);
      const o = snapshot(merged);
      const v = snapshot(vfs.dir('top'));
      expect(o).toEqual(v);
      expect(o['del.txt']).toBeUndefined();
      expect(o['rmdir']).toBeUndefined();
      expect(Object.keys(o).filter((k) => k.startsWith('opq/'))).toEqual(['opq/new']);
      expect(o['opq']!.mode).toBe(0o750);
      expect(o['etc/passwd']).toBeDefined();
      expect(readFileSync(`${merged}/etc/conf`, 'utf8')).toBe('a=2\n');
      expect(o['bin/sh']!.target).toBe('busy2');
      expect(o['owned']!.uid).toBe(1000);
      expect(o['dev/null']!.rdev).toBe(0x103);
      expect(o['run/fifo']!.type).toBe('fifo');
    } finally {
      await ov.unmount('top');
    }
    expect(isMountPoint(merged)).toBe(false);
    await ov.unmount('top'); // not mounted: no error
  });

  it('round-trips diffs: overlay upper -> vfs, vfs -> overlay', async () => {
    await applyTar(ov, 'base', null, base);
    await ov.create('top', 'base');
    const m = await ov.mount('top');
    const cap = Buffer.from([0x01, 0, 0, 0x02, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    const ops = new FsOps();
    try {
      writeFileSync(`${m}/hello.txt`, 'hello\n');
      writeFileSync(`${m}/etc/conf`, 'a=1\nb=2\n');
      unlinkSync(`${m}/etc/passwd`);
      rmSync(`${m}/rmdir`, { recursive: true });
      rmSync(`${m}/opq`, { recursive: true });
      mkdirSync(`${m}/opq`, { mode: 0o700 });
      writeFileSync(`${m}/opq/fresh`, 'fresh');
      chmodSync(`${m}/keep/k`, 0o600);
      chownSync(`${m}/owned`, 2000, 2001);
      symlinkSync('busy', `${m}/bin/ls`);
      linkSync(`${m}/bin/busy`, `${m}/bin/ln2`);
      writeFileSync(`${m}/bin/ping`, 'ping');
      await ops.setXattr(`${m}/bin/ping`, 'security.capability', cap);
      await ops.setXattr(`${m}/hello.txt`, 'user.note', Buffer.from([0xff, 0x00, 0x80]));
    } finally {
      await ov.unmount('top');
    }

    const tar = await collect(ov.diff('top'));
    const names = (await listTar(tar)).map((e) => e.name);
    expect(names).toContain('etc/.wh.passwd');
    expect(names).toContain('.wh.rmdir');
    expect(names).toContain('opq/.wh..wh..opq');
    expect(names.indexOf('opq/.wh..wh..opq')).toBe(names.indexOf('opq/') + 1);
    const entries = await listTar(tar);
    // overlay's own xattrs (opaque, origin, impure) never leave the upper dir as content
    expect(entries.filter((e) => Object.keys((e.pax ?? {}) as object).some((k) => k.includes('overlay')))).toEqual([]);
    expect(entries.find((e) => e.name === 'bin/ping')!.pax).toHaveProperty(['SCHILY.xattr.security.capability']);
    const links = entries.filter((e) => e.type === 'link');
    expect(links.length).toBe(1);

    await applyTar(vfs, 'base', null, base);
    await vfs.create('top', 'base');
    await vfs.applyDiff('top', tarStreamOf(tar));

    const merged = await ov.mount('top');
    try {
      expect(snapshot(vfs.dir('top'))).toEqual(snapshot(merged));
    } finally {
      await ov.unmount('top');
    }
    try {
      const [pingX, helloX] = await ops.listXattrs([`${vfs.dir('top')}/bin/ping`, `${vfs.dir('top')}/hello.txt`]);
      expect(pingX!.get('security.capability')).toEqual(cap);
      expect(helloX!.get('user.note')).toEqual(Buffer.from([0xff, 0x00, 0x80]));
    } finally {
      await ops.close();
    }

    // and back: the vfs layer's diff against its parent, applied on overlay
    const vtar = await collect(vfs.diff('top'));
    const vnames = (await listTar(vtar)).map((e) => e.name);
    expect(vnames).toContain('etc/.wh.passwd');
    expect(vnames).toContain('opq/.wh.olddir');
    expect(vnames.indexOf('keep/')).toBe(vnames.indexOf('keep/k') - 1); // unchanged parent of a change
    expect(vnames).not.toContain('dev/');
    expect(vnames).not.toContain('dev/null');
    await ov.create('top2', 'base');
    await ov.applyDiff('top2', tarStreamOf(vtar));
    const m2 = await ov.mount('top2');
    try {
      expect(snapshot(m2)).toEqual(snapshot(vfs.dir('top')));
    } finally {
      await ov.unmount('top2');
    }

    // an unchanged vfs layer diffs to an empty tar; a base layer diffs to its whole tree
    await vfs.create('same', 'top');
    expect(await listTar(await collect(vfs.diff('same')))).toEqual([]);
    await vfs.create('copy', null);
    await vfs.applyDiff('copy', tarStreamOf(await collect(vfs.diff('top'))));
  });

  it('mounts a chain of 150 layers in one page', async () => {
    let parent: string | null = null;
    const ids: string[] = [];
    for (let i = 0; i < 150; i++) {
      const id = `${i.toString(16).padStart(4, '0')}${'a'.repeat(60)}`;
      await ov.create(id, parent);
      await ov.populate(id, (dir) => writeFileSync(`${dir}/layer-${i}`, String(i)));
      if (i === 0) await ov.populate(id, (dir) => writeFileSync(`${dir}/bottom.txt`, 'bottom'));
      ids.push(id);
      parent = id;
    }
    const topId = ids[ids.length - 1]!;
    const { spec, target } = ov.mountSpec(topId);
    expect(ov.lowers(topId).split(':').length).toBe(149);
    expect(spec.data.length).toBeLessThan(4096);
    await execa('mount', ['-t', spec.type, spec.source, '-o', spec.data, target], { cwd: spec.cwd });
    try {
      expect(readFileSync(`${target}/bottom.txt`, 'utf8')).toBe('bottom');
      expect(readFileSync(`${target}/layer-75`, 'utf8')).toBe('75');
      expect(readdirSync(target).length).toBe(151);
    } finally {
      await execa('umount', [target]);
    }
    // the deepest chain allowed still fits a page; one more layer is refused in one sentence
    for (let i = 150; i <= 200; i++) {
      const id = `${i.toString(16).padStart(4, '0')}${'a'.repeat(60)}`;
      await ov.create(id, parent);
      parent = id;
    }
    expect(ov.lowers(parent!).split(':').length).toBe(200);
    expect(ov.mountSpec(parent!).spec.data.length).toBeLessThan(4096);
    await expect(ov.create('too-deep', parent)).rejects.toThrow(/would have 201 layers below it, more than the 200/);
  });

  it('removes a layer with its short link, even while mounted', async () => {
    await applyTar(ov, 'base', null, base);
    await ov.create('top', 'base');
    const link = readFileSync(`${ov.home}/top/link`, 'utf8');
    expect(existsSync(`${ov.home}/${LINK_DIR}/${link}`)).toBe(true);
    const m = await ov.mount('top');
    await ov.remove('top');
    expect(isMountPoint(m)).toBe(false);
    expect(existsSync(`${ov.home}/top`)).toBe(false);
    expect(existsSync(`${ov.home}/${LINK_DIR}/${link}`)).toBe(false);
    expect(ov.exists('top')).toBe(false);
    await ov.remove('top'); // missing: no error
    await expect(ov.create('base', null)).rejects.toThrow(/already exists/);
    await expect(ov.create('x', 'nope')).rejects.toThrow(/does not exist/);
    expect(ov.status()['Layers']).toBe('1');

    await applyTar(vfs, 'base', null, base);
    await vfs.create('top', 'base');
    await vfs.remove('top');
    expect(vfs.exists('top')).toBe(false);
    expect(vfs.mountSpec('base')).toEqual({
      spec: { type: 'bind', source: vfs.dir('base'), data: 'rbind' },
      target: vfs.dir('base'),
    });
  });

  it('refuses malicious tars on overlay too, leaving nothing outside', async () => {
    await ov.create('evil', null);
    const outside = `${sandbox}/outside`;
    mkdirSync(outside);
    writeFileSync(`${outside}/victim`, 'original');
    const bad: TarEntry[][] = [
      [{ name: '../../outside/victim', content: 'evil' }],
      [
        { name: 'a', type: 'symlink', linkname: outside },
        { name: 'a/victim', content: 'evil' },
      ],
      [
        { name: 'up', type: 'symlink', linkname: '../../..' },
        { name: 'up/outside/victim', content: 'evil' },
      ],
      [{ name: 'h', type: 'link', linkname: '../../../outside/victim' }],
      [{ name: '.wh...' }],
      [{ name: 's', type: 'symlink', linkname: outside }, { name: 's/.wh.victim' }],
      [{ name: 's2', type: 'symlink', linkname: outside }, { name: 's2/.wh..wh..opq' }],
    ];
    for (const entries of bad) {
      await expect(ov.applyDiff('evil', tarStreamOf(await makeTar(entries)))).rejects.toThrow(/^layer tar: /);
    }
    expect(readdirSync(outside)).toEqual(['victim']);
    expect(readFileSync(`${outside}/victim`, 'utf8')).toBe('original');
    const ops = new FsOps();
    try {
      const [x] = await ops.listXattrs([outside]);
      expect(x!.size).toBe(0);
    } finally {
      await ops.close();
    }
    expect(readdirSync(sandbox).sort()).toEqual(['outside', 'overlay', 'vfs']);
  });
});
