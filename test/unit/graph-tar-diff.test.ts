// Layer tars from directories: the vfs comparison, PAX for long names and xattrs, and a reader
// that gives up early.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync, unlinkSync, utimesSync, chmodSync } from 'node:fs';
import { execa } from 'execa';
import { applyLayerTar } from '../../src/graph/tar-apply.js';
import { compareDiffTar } from '../../src/graph/tar-diff.js';
import { FsOps } from '../../src/graph/fsops.js';
import { cleanupDir, collect, listTar, snapshot, tarStreamOf, tempDir } from '../fixtures/graph/tars.js';

let sandbox = '';
beforeEach(() => {
  sandbox = tempDir();
});
afterEach(async () => {
  await cleanupDir(sandbox);
});

function childPythons(): number {
  let n = 0;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === process.pid && stat.includes('(python3')) n++;
    } catch {
      /* gone */
    }
  }
  return n;
}

describe('compareDiffTar', () => {
  it('records additions, changes, deletions and the parents of changes', async () => {
    const p = `${sandbox}/parent`;
    const l = `${sandbox}/layer`;
    mkdirSync(`${p}/a/b`, { recursive: true });
    mkdirSync(`${p}/same`);
    mkdirSync(`${p}/gone/deep`, { recursive: true });
    writeFileSync(`${p}/a/b/file`, 'one');
    writeFileSync(`${p}/a/untouched`, 'u');
    writeFileSync(`${p}/same/s`, 's');
    writeFileSync(`${p}/gone/deep/x`, 'x');
    writeFileSync(`${p}/becomes-dir`, 'f');
    symlinkSync('a', `${p}/link`);
    await execa('cp', ['-a', p, l]); // as the vfs driver copies: times to the nanosecond
    utimesSync(`${l}/a/untouched`, 1_600_000_000, 1_600_000_000);
    utimesSync(`${p}/a/untouched`, 1_600_000_000, 1_600_000_000);

    writeFileSync(`${l}/a/b/file`, 'two!');
    writeFileSync(`${l}/a/b/new`, 'new');
    unlinkSync(`${l}/link`);
    symlinkSync('same', `${l}/link`);
    await cleanupDir(`${l}/gone`);
    unlinkSync(`${l}/becomes-dir`);
    mkdirSync(`${l}/becomes-dir`);
    writeFileSync(`${l}/becomes-dir/inner`, 'i');
    chmodSync(`${l}/same`, 0o700);

    const names = (await listTar(await collect(compareDiffTar(l, p)))).map((e) => e.name);
    expect(names).toEqual([
      'a/',
      'a/b/',
      'a/b/file',
      'a/b/new',
      'becomes-dir/',
      'becomes-dir/inner',
      '.wh.gone',
      'link',
      'same/',
    ]);
  });

  it('round-trips long and non-ASCII names and binary xattrs through PAX', async () => {
    const src = `${sandbox}/src`;
    const long = `${'x'.repeat(120)}/${'y'.repeat(140)}`;
    mkdirSync(`${src}/${long}`, { recursive: true });
    writeFileSync(`${src}/${long}/file-${'z'.repeat(200)}`, 'deep');
    writeFileSync(`${src}/naïve-ünïcode`, 'u');
    symlinkSync(`target-${'t'.repeat(150)}`, `${src}/longlink`);
    const value = Buffer.from([0, 1, 2, 0xff, 0xfe, 0x0a, 0x3d]);
    const ops = new FsOps();
    try {
      await ops.setXattr(`${src}/naïve-ünïcode`, 'user.bin', value);
    } finally {
      await ops.close();
    }
    const tar = await collect(compareDiffTar(src, null));
    const dst = `${sandbox}/dst`;
    mkdirSync(dst);
    await applyLayerTar(dst, tarStreamOf(tar), { whiteouts: 'delete' });
    expect(snapshot(dst)).toEqual(snapshot(src));
    const ops2 = new FsOps();
    try {
      const [x] = await ops2.listXattrs([`${dst}/naïve-ünïcode`]);
      expect(x!.get('user.bin')).toEqual(value);
    } finally {
      await ops2.close();
    }
    // the same tree gives the same bytes
    expect((await collect(compareDiffTar(src, null))).equals(tar)).toBe(true);
  });

  it('stops reading and ends its helper when the reader destroys the stream', async () => {
    const src = `${sandbox}/big`;
    mkdirSync(src);
    for (let i = 0; i < 20; i++) writeFileSync(`${src}/f${i}`, Buffer.alloc(1 << 20, i));
    const s = compareDiffTar(src, null);
    await new Promise<void>((resolve) => s.once('data', () => resolve()));
    s.destroy();
    for (let i = 0; i < 50 && childPythons() > 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect(childPythons()).toBe(0);
  });
});
