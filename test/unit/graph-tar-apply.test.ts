// Safe extraction on a plain directory ("delete" whiteouts, as vfs uses). Runs without root
// except where it says so (ownership and device nodes need root).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createGzip } from 'node:zlib';
import { Readable } from 'node:stream';
import { applyLayerTar } from '../../src/graph/tar-apply.js';
import { FsOps } from '../../src/graph/fsops.js';
import { TscError } from '../../src/util/errors.js';
import { cleanupDir, makeTar, tarStreamOf, tempDir, type TarEntry } from '../fixtures/graph/tars.js';

const isRoot = process.getuid?.() === 0;

let sandbox = '';
let layer = '';
let outside = '';

function sandboxListing(): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const n of readdirSync(`${sandbox}/${rel}`)) {
      const r = rel ? `${rel}/${n}` : n;
      if (r === 'layer') continue;
      out.push(r);
      if (lstatSync(`${sandbox}/${r}`).isDirectory()) walk(r);
    }
  };
  walk('');
  return out.sort();
}

beforeEach(() => {
  sandbox = tempDir();
  layer = `${sandbox}/layer`;
  outside = `${sandbox}/outside`;
  mkdirSync(layer);
  mkdirSync(outside);
  writeFileSync(`${outside}/victim`, 'original');
});

afterEach(async () => {
  await cleanupDir(sandbox);
});

async function apply(entries: TarEntry[]) {
  return applyLayerTar(layer, tarStreamOf(await makeTar(entries)), { whiteouts: 'delete' });
}

async function expectRefused(entries: TarEntry[], message: RegExp) {
  const before = sandboxListing();
  const err = await apply(entries).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TscError);
  expect((err as Error).message).toMatch(/^layer tar: /);
  expect((err as Error).message).toMatch(message);
  expect((err as Error).message).not.toContain('\n');
  expect(sandboxListing()).toEqual(before);
  expect(readFileSync(`${outside}/victim`, 'utf8')).toBe('original');
}

describe('malicious layer tars', () => {
  it('refuses ../ escapes', async () => {
    await expectRefused([{ name: '../x', content: 'evil' }], /entry "\.\.\/x" escapes the layer directory/);
    await expectRefused([{ name: 'a/../../x', content: 'evil' }], /escapes the layer directory/);
    await expectRefused([{ name: '../outside/victim', content: 'evil' }], /escapes/);
    expect(existsSync(`${sandbox}/x`)).toBe(false);
  });

  it('treats absolute names as relative to the layer root', async () => {
    await apply([
      { name: '/abs/file', content: 'in' },
      { name: '/', type: 'directory', mode: 0o755 },
    ]);
    expect(readFileSync(`${layer}/abs/file`, 'utf8')).toBe('in');
    expect(existsSync('/abs/file')).toBe(false);
  });

  it('refuses to write through a symlink to an absolute path', async () => {
    await expectRefused(
      [
        { name: 'a', type: 'symlink', linkname: outside },
        { name: 'a/victim', content: 'evil' },
      ],
      /"a\/victim" would be written through the symbolic link "a"/,
    );
  });

  it('refuses to write through a relative symlink climbing out', async () => {
    await expectRefused(
      [
        { name: 'up', type: 'symlink', linkname: '../..' },
        { name: 'up/tmp/evil', content: 'evil' },
      ],
      /symbolic link "up"/,
    );
    await expectRefused(
      [
        { name: 'rel', type: 'symlink', linkname: '../outside' },
        { name: 'rel/sub/', type: 'directory' },
      ],
      /symbolic link "rel"/,
    );
  });

  it('refuses a symlink that was already in the layer (vfs copy of a parent)', async () => {
    symlinkSync(outside, `${layer}/etc`);
    await expectRefused([{ name: 'etc/victim', content: 'evil' }], /symbolic link "etc"/);
    await expectRefused([{ name: 'etc/.wh.victim' }], /symbolic link "etc"/);
    await expectRefused([{ name: 'etc/.wh..wh..opq' }], /symbolic link "etc"/);
  });

  it('refuses hard links that leave the layer', async () => {
    await expectRefused(
      [{ name: 'h', type: 'link', linkname: '../outside/victim' }],
      /hard link "h" points to "\.\.\/outside\/victim", outside the layer/,
    );
    await expectRefused([{ name: 'h', type: 'link', linkname: `${outside}/victim` }], /not in the layer/);
    await expectRefused(
      [
        { name: 's', type: 'symlink', linkname: outside },
        { name: 'h', type: 'link', linkname: 's/victim' },
      ],
      /symbolic link "s"/,
    );
    await expectRefused(
      [
        { name: 'd/', type: 'directory' },
        { name: 'h', type: 'link', linkname: 'd' },
      ],
      /points to the directory/,
    );
  });

  it('refuses whiteouts of . and ..', async () => {
    await expectRefused([{ name: '.wh...' }], /whiteout "\.wh\.\.\." names an invalid file "\.\."/);
    await expectRefused([{ name: 'sub/.wh..' }], /invalid file "\."/);
    expect(existsSync(sandbox)).toBe(true);
  });

  it('replaces a symlink at the entry name instead of following it', async () => {
    await apply([
      { name: 'f', type: 'symlink', linkname: `${outside}/victim` },
      { name: 'f', content: 'evil' },
      { name: 'd', type: 'symlink', linkname: outside },
      { name: 'd/', type: 'directory', mode: 0o700 },
      { name: 'd/victim', content: 'evil' },
    ]);
    expect(readFileSync(`${outside}/victim`, 'utf8')).toBe('original');
    expect(lstatSync(`${layer}/f`).isFile()).toBe(true);
    expect(lstatSync(`${layer}/d`).isDirectory()).toBe(true);
    expect(readFileSync(`${layer}/d/victim`, 'utf8')).toBe('evil');
    expect(sandboxListing()).toEqual(['outside', 'outside/victim']);
  });

  it('refuses a root entry that is not a directory', async () => {
    await expectRefused([{ name: './', type: 'symlink', linkname: '/' }], /layer's root/);
  });

  it('reports truncated and compressed archives in one line', async () => {
    const tar = await makeTar([{ name: 'big', content: Buffer.alloc(5000, 1) }]);
    await expect(applyLayerTar(layer, tarStreamOf(tar.subarray(0, 2048)), { whiteouts: 'delete' })).rejects.toThrow(
      /^layer tar: the archive is truncated/,
    );
    const gz = Readable.from([tar]).pipe(createGzip());
    await expect(applyLayerTar(layer, gz, { whiteouts: 'delete' })).rejects.toThrow(/^layer tar: the archive is gzip-compressed/);
  });
});

describe('applying a layer tar', () => {
  it('creates files, dirs, symlinks, hard links with modes and times; returns the size', async () => {
    const mtime = new Date(1_500_000_000_000);
    const longName = `deep/${'d'.repeat(120)}/${'f'.repeat(150)}`;
    const r = await apply([
      { name: 'bin/', type: 'directory', mode: 0o755, mtime },
      { name: 'bin/tool', content: '#!/bin/sh\necho hi\n', mode: 0o4755, mtime },
      { name: 'bin/alias', type: 'symlink', linkname: 'tool', mtime },
      { name: 'bin/hard', type: 'link', linkname: 'bin/tool' },
      { name: 'etc/conf', content: 'x=1\n', mode: 0o600 },
      { name: 'private/', type: 'directory', mode: 0o700, mtime },
      { name: longName, content: 'long' },
      { name: 'unicodé/naïve.txt', content: 'ü' },
      {
        name: 'xattr-file',
        content: 'x',
        pax: { 'SCHILY.xattr.user.tsc': 'hello', 'SCHILY.xattr.trusted.overlay.redirect': '/etc' },
      },
    ]);
    expect(r.size).toBe(18 + 4 + 4 + Buffer.byteLength('ü') + 1);
    expect(statSync(`${layer}/bin/tool`).mode & 0o7777).toBe(0o4755);
    expect(readlinkSync(`${layer}/bin/alias`)).toBe('tool');
    expect(statSync(`${layer}/bin/hard`).ino).toBe(statSync(`${layer}/bin/tool`).ino);
    expect(statSync(`${layer}/etc/conf`).mode & 0o777).toBe(0o600);
    expect(statSync(`${layer}/etc`).mode & 0o777).toBe(0o755);
    expect(statSync(`${layer}/private`).mode & 0o777).toBe(0o700);
    expect(statSync(`${layer}/bin`).mtimeMs).toBe(mtime.getTime());
    expect(statSync(`${layer}/bin/tool`).mtimeMs).toBe(mtime.getTime());
    expect(lstatSync(`${layer}/bin/alias`).mtimeMs).toBe(mtime.getTime());
    expect(readFileSync(`${layer}/${longName}`, 'utf8')).toBe('long');
    expect(readFileSync(`${layer}/unicodé/naïve.txt`, 'utf8')).toBe('ü');
    const ops = new FsOps();
    try {
      const [x] = await ops.listXattrs([`${layer}/xattr-file`]);
      expect(x!.get('user.tsc')?.toString()).toBe('hello');
      expect(x!.has('trusted.overlay.redirect')).toBe(false);
    } finally {
      await ops.close();
    }
  });

  it('applies whiteouts and opaque dirs by deleting (vfs)', async () => {
    mkdirSync(`${layer}/keep`);
    mkdirSync(`${layer}/gone/sub`, { recursive: true });
    writeFileSync(`${layer}/gone/sub/f`, '1');
    writeFileSync(`${layer}/file`, '1');
    mkdirSync(`${layer}/opq/olddir`, { recursive: true });
    writeFileSync(`${layer}/opq/old`, '1');
    writeFileSync(`${layer}/opq/olddir/x`, '1');
    await apply([
      { name: '.wh.gone' },
      { name: '.wh.file' },
      { name: '.wh.never-existed' },
      { name: 'opq/', type: 'directory' },
      { name: 'opq/.wh..wh..opq' },
      { name: 'opq/new', content: 'n' },
      { name: 'opq/olddir/', type: 'directory' },
      { name: 'opq/olddir/y', content: 'y' },
      { name: '.wh..wh.plnk/123.456', content: 'aufs' },
    ]);
    expect(readdirSync(layer).sort()).toEqual(['keep', 'opq']);
    expect(readdirSync(`${layer}/opq`).sort()).toEqual(['new', 'olddir']);
    expect(readdirSync(`${layer}/opq/olddir`)).toEqual(['y']);
  });

  it.skipIf(!isRoot)('sets owners, makes fifos and device nodes (needs root: chown, mknod)', async () => {
    await apply([
      { name: 'owned', content: 'x', uid: 1234, gid: 5678 },
      { name: 'link-owned', type: 'symlink', linkname: 'owned', uid: 42, gid: 43 },
      { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 },
      { name: 'dev/loop9', type: 'block-device', devmajor: 7, devminor: 9, mode: 0o660 },
      { name: 'run/fifo', type: 'fifo', mode: 0o620 },
    ]);
    expect(statSync(`${layer}/owned`).uid).toBe(1234);
    expect(statSync(`${layer}/owned`).gid).toBe(5678);
    expect(lstatSync(`${layer}/link-owned`).uid).toBe(42);
    const n = statSync(`${layer}/dev/null`);
    expect(n.isCharacterDevice()).toBe(true);
    expect(n.rdev).toBe(0x103);
    expect(n.mode & 0o777).toBe(0o666);
    expect(statSync(`${layer}/dev/loop9`).isBlockDevice()).toBe(true);
    expect(statSync(`${layer}/run/fifo`).isFIFO()).toBe(true);
    expect(statSync(`${layer}/run/fifo`).mode & 0o777).toBe(0o620);
  });
});
