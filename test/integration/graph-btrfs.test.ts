// The btrfs graph driver on the real kernel (issue 10), on a btrfs image of the test's own:
// a sparse file, a loop device and a mount under a temporary directory, all removed in afterAll
// even when a test fails. Driver level: the layer applyDiff/diff round trip, the same tree as
// vfs, a 50-layer chain, nested subvolumes on removal, the refusal off btrfs. CLI level: run,
// exec, stop, info, a 50-layer image, a container writing 200 MB and its diff, removal, the
// wrong-driver error, and a kill -9 of the CLI during a layer create followed by a clean
// `system prune`.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { spawn } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import tarStream from 'tar-stream';
import { BtrfsDriver } from '../../src/graph/btrfs.js';
import { VfsDriver } from '../../src/graph/vfs.js';
import { defaultDriverName } from '../../src/graph/index.js';
import { UnsupportedError } from '../../src/util/errors.js';
import { openDb } from '../../src/store/db.js';
import { getImage, imageIdForTag } from '../../src/store/images.js';
import { getLayer, layerChain } from '../../src/store/layers.js';
import { registerLayer } from '../../src/image/layers.js';
import { commitImage } from '../../src/image/store.js';
import { newImageConfig, serializeConfig } from '../../src/image/config.js';
import { collect, listTar, makeTar, snapshot, tarStreamOf, type TarEntry } from '../fixtures/graph/tars.js';
import { CLI, makeRoot, type TestRoot } from './support/cli.js';

const isRoot = process.getuid?.() === 0;
const hasBtrfs = existsSync('/proc/filesystems') && /\tbtrfs\n/.test(readFileSync('/proc/filesystems', 'utf8') + '\n');
const hasTools = ['/usr/sbin/mkfs.btrfs', '/sbin/mkfs.btrfs', '/usr/bin/mkfs.btrfs'].some((p) => existsSync(p));
const reason = !isRoot
  ? 'needs root'
  : !hasBtrfs
    ? 'this kernel has no btrfs'
    : !hasTools
      ? 'btrfs-progs is not installed'
      : 'on a loop-mounted btrfs image';

const T = new Date(1_650_000_000_000);
const base: TarEntry[] = [
  { name: 'etc/', type: 'directory', mtime: T },
  { name: 'etc/conf', content: 'a=1\n', mtime: T },
  { name: 'bin/busy', content: 'binary', mode: 0o755, mtime: T },
  { name: 'bin/sh', type: 'symlink', linkname: 'busy', mtime: T },
  { name: 'bin/hardsh', type: 'link', linkname: 'bin/busy' },
  { name: 'del.txt', content: 'delete me', mtime: T },
  { name: 'opq/', type: 'directory', mtime: T },
  { name: 'opq/old', content: 'old', mtime: T },
  { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666, mtime: T },
  { name: 'owned', content: 'o', uid: 1000, gid: 1000, mode: 0o640, mtime: T },
];
const top: TarEntry[] = [
  { name: '.wh.del.txt' },
  { name: 'opq/', type: 'directory', mode: 0o750, mtime: T },
  { name: 'opq/.wh..wh..opq' },
  { name: 'opq/new', content: 'new', mtime: T },
  { name: 'etc/', type: 'directory', mtime: T },
  { name: 'etc/conf', content: 'a=22\n', mtime: T }, // the naive diff compares size and mtime, not content
  { name: 'run/fifo', type: 'fifo', mode: 0o600, mtime: T },
];

let work = '';
let mnt = '';
let loop = '';
let t: TestRoot | undefined;

async function sh(cmd: string, args: string[]): Promise<string> {
  const r = await execa(cmd, args, { reject: false });
  if (r.exitCode !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr || r.stdout}`);
  return r.stdout;
}

/** Subvolumes of the test's btrfs (the kernel's view, not the driver's). */
async function subvolumes(): Promise<string[]> {
  return (await sh('btrfs', ['subvolume', 'list', '-o', mnt]))
    .split('\n')
    .filter(Boolean)
    .map((l) => l.replace(/^.* path /, ''));
}

describe.skipIf(reason !== 'on a loop-mounted btrfs image')(`btrfs graph driver (${reason})`, () => {
  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'tsc-btrfs-'));
    mnt = join(work, 'mnt');
    mkdirSync(mnt);
    const img = join(work, 'btrfs.img');
    await sh('truncate', ['-s', '1536M', img]);
    await sh('mkfs.btrfs', ['-q', '-f', img]);
    loop = (await sh('losetup', ['--find', '--show', img])).trim();
    await sh('mount', ['-t', 'btrfs', loop, mnt]);
    t = makeRoot('btrfs', mnt);
  }, 120_000);

  afterAll(async () => {
    // every step runs whatever failed before it: nothing of the test stays on the host
    const leaks: string[] = [];
    try {
      if (t) leaks.push(...(await t.cleanup()));
    } finally {
      if (mnt && existsSync(mnt)) {
        const r = await execa('umount', [mnt], { reject: false });
        if (r.exitCode !== 0) await execa('umount', ['-l', mnt], { reject: false });
      }
      if (loop) await execa('losetup', ['-d', loop], { reject: false });
      if (work) rmSync(work, { recursive: true, force: true });
    }
    expect(leaks).toEqual([]);
  }, 120_000);

  describe('driver', () => {
    it('refuses a home that is not on btrfs, in one sentence', () => {
      const off = mkdtempSync(join(tmpdir(), 'tsc-nobtrfs-'));
      try {
        if (readFileSync('/proc/self/mountinfo', 'utf8').includes(' - btrfs ') && defaultDriverName(off) === 'btrfs') return;
        expect(() => new BtrfsDriver(join(off, 'btrfs'))).toThrow(UnsupportedError);
        expect(() => new BtrfsDriver(join(off, 'btrfs'))).toThrow(/needs the state root on a btrfs file system/);
      } finally {
        rmSync(off, { recursive: true, force: true });
      }
    });

    it('makes a subvolume per layer and a snapshot per child; applyDiff/diff round-trips and matches vfs', async () => {
      const home = join(mnt, 'drv1');
      const b = new BtrfsDriver(join(home, 'btrfs'));
      const v = new VfsDriver(join(home, 'vfs'));
      for (const d of [b, v]) {
        await d.create('base', null);
        await d.applyDiff('base', tarStreamOf(await makeTar(base)));
        await d.create('top', 'base');
        await d.applyDiff('top', tarStreamOf(await makeTar(top)));
      }
      expect(lstatSync(b.dir('base')).ino).toBe(256);
      expect(lstatSync(b.dir('top')).ino).toBe(256);
      expect(b.status()['Subvolumes']).toBe('2');
      expect(b.status()['Backing Filesystem']).toBe('btrfs');
      expect(snapshot(b.dir('top'))).toEqual(snapshot(v.dir('top')));
      expect(snapshot(b.dir('base'))).toEqual(snapshot(v.dir('base')));
      expect(existsSync(`${b.dir('top')}/del.txt`)).toBe(false);

      const diff = await collect(b.diff('top'));
      const names = (await listTar(diff)).map((e) => e.name);
      expect(names).toContain('.wh.del.txt');
      expect(names).toContain('opq/.wh.old'); // a full-tree diff names what went, as docker's naive diff
      expect(names).toContain('etc/conf');
      expect(names).not.toContain('bin/busy');
      // the diff re-applied on a copy of base gives the same tree
      await b.create('again', 'base');
      await b.applyDiff('again', tarStreamOf(diff));
      expect(snapshot(b.dir('again'))).toEqual(snapshot(b.dir('top')));
      expect(await collect(b.diff('again'))).toEqual(diff);

      const { spec, target } = b.mountSpec('top');
      expect(spec).toEqual({ type: 'bind', source: b.dir('top'), data: 'rbind' });
      expect(target).toBe(b.dir('top'));

      // removal deletes the subvolume, also when something inside made subvolumes of its own
      await sh('btrfs', ['subvolume', 'create', `${b.dir('again')}/inner`]);
      await sh('btrfs', ['subvolume', 'create', `${b.dir('again')}/inner/deeper`]);
      for (const id of ['again', 'top', 'base']) await b.remove(id);
      await b.remove('never-made');
      expect(b.list()).toEqual([]);
      expect((await subvolumes()).filter((p) => p.includes('drv1/btrfs'))).toEqual([]);
    });

    it('stacks 50 layers, each a snapshot of the one below', async () => {
      const b = new BtrfsDriver(join(mnt, 'drv2', 'btrfs'));
      let parent: string | null = null;
      for (let i = 0; i < 50; i++) {
        const id = `l${i}`;
        await b.create(id, parent);
        const entries: TarEntry[] = [{ name: `f${i}`, content: `layer ${i}\n`, mtime: T }];
        if (i > 0) entries.push({ name: `.wh.f${i - 1}` });
        await b.applyDiff(id, tarStreamOf(await makeTar(entries)));
        parent = id;
      }
      expect(readdirSync(b.dir('l49'))).toEqual(['f49']);
      expect(readFileSync(`${b.dir('l49')}/f49`, 'utf8')).toBe('layer 49\n');
      expect((await listTar(await collect(b.diff('l49')))).map((e) => e.name).sort()).toEqual(['.wh.f48', 'f49']);
      expect(b.status()['Subvolumes']).toBe('50');
      for (let i = 49; i >= 0; i--) await b.remove(`l${i}`);
      expect(b.status()['Subvolumes']).toBe('0');
    }, 120_000);
  });

  describe('CLI', () => {
    const run = (args: string[], opts?: { timeout?: number }) => t!.run(['--storage-driver', 'btrfs', ...args], opts);
    const ok = async (args: string[], opts?: { timeout?: number }) => {
      const r = await run(args, opts);
      expect(r.exitCode, `${args.join(' ')}: ${r.stderr}`).toBe(0);
      return r.stdout;
    };
    const layersDir = () => join(t!.root, 'btrfs', 'subvolumes');

    it('runs busybox on btrfs and shows the subvolume count in info', async () => {
      expect(await ok(['run', '--rm', '--network', 'none', 'busybox', 'echo', 'hi'])).toBe('hi');
      const df = await ok(['run', '--rm', '--network', 'none', 'busybox', 'stat', '-f', '-c', '%t', '/']);
      expect(df).toBe('9123683e'); // BTRFS_SUPER_MAGIC
      const info = JSON.parse(await ok(['info', '--format', 'json'])) as Record<string, unknown>;
      expect(info['Storage Driver']).toBe('btrfs');
      const st = info['Storage Status'] as Record<string, string>;
      expect(st['Backing Filesystem']).toBe('btrfs');
      expect((info['Storage Drivers'] as Record<string, string>)['btrfs']).toBe('usable');
      expect(Number(st['Subvolumes'])).toBe(readdirSync(layersDir()).length);
      // without --storage-driver the driver already in use wins; another one is one clear error
      expect((await t!.run(['info'])).stdout).toMatch(/^Storage Driver: btrfs$/m);
      const wrong = await t!.run(['--storage-driver', 'overlay', 'info']);
      expect(wrong.exitCode).toBe(125);
      expect(wrong.stderr.trim().split('\n')).toHaveLength(1);
      expect(wrong.stderr).toMatch(/"btrfs" storage driver, so it cannot use "overlay"/);
    });

    it('run -d, exec, stop, rm; the container layers go with the container', async () => {
      const before = readdirSync(layersDir()).length;
      const id = (await ok(['run', '-d', '--name', 'b1', '--network', 'none', 'busybox', 'sleep', '100'])).trim();
      expect(readdirSync(layersDir()).length).toBe(before + 2); // -init and rw
      await ok(['exec', 'b1', 'sh', '-c', 'echo from-exec > /note']);
      expect(await ok(['exec', 'b1', 'cat', '/note'])).toBe('from-exec');
      await ok(['stop', '-t', '1', 'b1']);
      await ok(['rm', id]);
      expect(readdirSync(layersDir()).length).toBe(before);
    }, 120_000);

    it('a container writes 200 MB; its rw layer diffs as a layer tar; removal frees the subvolumes', async () => {
      const before = await subvolumes();
      await ok(
        [
          'run',
          '--name',
          'w1',
          '--network',
          'none',
          'busybox',
          'sh',
          '-c',
          'dd if=/dev/zero of=/big bs=1M count=200 2>/dev/null && sync && rm /etc/passwd && ls -l /big',
        ],
        { timeout: 180_000 },
      );
      const dir = (await ok(['inspect', '--format', '{{.GraphDriver.Data.Dir}}', 'w1'])).trim();
      expect(dir.startsWith(layersDir())).toBe(true);
      expect(lstatSync(join(dir, 'big')).size).toBe(200 * 1024 * 1024);
      const d = new BtrfsDriver(join(t!.root, 'btrfs'));
      const entries = await listTar(await collect(d.diff(basename(dir))));
      const names = entries.map((e) => e.name);
      expect(names).toContain('big');
      expect(names).toContain('etc/.wh.passwd');
      await ok(['rm', 'w1']);
      expect(existsSync(dir)).toBe(false);
      expect(await subvolumes()).toEqual(before.filter((p) => !p.includes(basename(dir))));
    }, 240_000);

    it('runs a 50-layer image', async () => {
      const db = openDb(join(t!.root, 'state.db'));
      try {
        const busybox = getImage(db, imageIdForTag(db, 'docker.io/library/busybox:latest')!)!;
        let parent = getLayer(db, busybox.top_layer!)!;
        const driver = new BtrfsDriver(join(t!.root, 'btrfs'));
        for (let i = 0; i < 50; i++) {
          const entries: TarEntry[] = [{ name: `deep/f${i}`, content: `${i}\n`, mtime: T }];
          if (i > 0) entries.push({ name: `deep/.wh.f${i - 1}` });
          parent = (await registerLayer(db, driver, { parent, source: tarStreamOf(await makeTar(entries)) })).layer;
        }
        const diffIds = layerChain(db, parent.chain_id)
          .reverse()
          .map((l) => l.diff_id);
        expect(diffIds).toHaveLength(50 + layerChain(db, busybox.top_layer!).length);
        commitImage(db, serializeConfig(newImageConfig({ diffIds })), parent, ['docker.io/library/deep:50']);
      } finally {
        db.close();
      }
      expect(await ok(['run', '--rm', '--network', 'none', 'deep:50', 'sh', '-c', 'ls /deep; cat /deep/f49'])).toBe('f49\n49');
      await ok(['rmi', 'deep:50']);
    }, 240_000);

    it('kill -9 of the CLI during a layer create leaves a subvolume that system prune removes', async () => {
      const before = new Set(readdirSync(layersDir()));
      // a layer tar that streams 1 GiB of zeros, far more than arrives before the kill
      const cli = spawn('node', [CLI, '--storage-driver', 'btrfs', 'import', '-', 'crash:1'], {
        env: t!.env,
        stdio: ['pipe', 'ignore', 'ignore'],
      });
      cli.stdin.on('error', () => undefined);
      const pack = tarStream.pack();
      pack.on('error', () => undefined);
      pack.pipe(cli.stdin);
      const size = 1024 * 1024 * 1024;
      const entry = pack.entry({ name: 'zeros', size }, () => undefined);
      entry.on('error', () => undefined);
      const chunk = Buffer.alloc(1024 * 1024);
      let killed = false;
      const exited = new Promise<void>((res) => cli.on('exit', () => res()));
      const writer = (async () => {
        for (let sent = 0; sent < size && !killed; sent += chunk.length) {
          if (!entry.write(chunk)) await new Promise((r) => setTimeout(r, 5));
        }
      })();
      let made: string[] = [];
      for (let i = 0; i < 600 && made.length === 0; i++) {
        await new Promise((r) => setTimeout(r, 50));
        if (existsSync(layersDir())) made = readdirSync(layersDir()).filter((n) => !before.has(n));
      }
      expect(made).toHaveLength(1);
      await new Promise((r) => setTimeout(r, 500)); // well inside applyDiff
      cli.kill('SIGKILL');
      killed = true;
      await exited;
      await writer;
      const orphan = join(layersDir(), made[0]!);
      expect(lstatSync(orphan).ino).toBe(256);
      expect((await run(['images', '--format', '{{.Repository}}'])).stdout).not.toContain('crash');

      // young garbage stays (another CLI may be filling it); old garbage goes
      await ok(['system', 'prune', '-f']);
      expect(existsSync(orphan)).toBe(true);
      const old = new Date(Date.now() - 2 * 3600_000);
      utimesSync(orphan, old, old);
      utimesSync(join(t!.root, 'btrfs', 'meta', `${made[0]}.json`), old, old);
      await ok(['system', 'prune', '-f']);
      expect(existsSync(orphan)).toBe(false);
      expect(existsSync(join(t!.root, 'btrfs', 'meta', `${made[0]}.json`))).toBe(false);
      expect((await subvolumes()).some((p) => p.includes(made[0]!))).toBe(false);
      expect(await ok(['run', '--rm', '--network', 'none', 'busybox', 'echo', 'still fine'])).toBe('still fine');
    }, 180_000);
  });
});
