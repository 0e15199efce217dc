import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { IgnoreMatcher, patternToRegExp } from '../../src/build/ignore.js';
import { resolveScoped } from '../../src/build/scoped.js';
import { checksumSources, resolveSources, walkSource, type HashMemo, type SourceRoot } from '../../src/build/sources.js';

const dirs: string[] = [];
function tree(files: Record<string, string>): string {
  const d = mkdtempSync(join(tmpdir(), 'tsc-unit-ctx-'));
  dirs.push(d);
  for (const [n, c] of Object.entries(files)) {
    mkdirSync(join(d, n, '..'), { recursive: true });
    writeFileSync(join(d, n), c);
  }
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const noMemo: HashMemo = { get: () => undefined, put: () => undefined };

describe('.dockerignore patterns', () => {
  const m = (lines: string[]) => new IgnoreMatcher(lines);

  it('matches docker style: *, ?, [..], ** and directories', () => {
    expect(patternToRegExp('*.log').test('a.log')).toBe(true);
    expect(patternToRegExp('*.log').test('dir/a.log')).toBe(false);
    expect(patternToRegExp('**/*.log').test('dir/sub/a.log')).toBe(true);
    expect(patternToRegExp('**/*.log').test('a.log')).toBe(true);
    expect(patternToRegExp('a?c').test('abc')).toBe(true);
    expect(patternToRegExp('a?c').test('a/c')).toBe(false);
    expect(patternToRegExp('[ab]x').test('bx')).toBe(true);
    expect(patternToRegExp('[!ab]x').test('cx')).toBe(true);
    expect(patternToRegExp('docs/**').test('docs/a/b')).toBe(true);
  });

  it('excludes whole directories, lets ! bring files back, last match wins', () => {
    const i = m(['# comment', '', 'node_modules', '/build/', 'secret/**', '!secret/keep.txt', '*.md', '!README.md']);
    expect(i.ignored('node_modules')).toBe(true);
    expect(i.ignored('node_modules/x/y.js')).toBe(true);
    expect(i.ignored('build/out.o')).toBe(true);
    expect(i.ignored('src/build')).toBe(false);
    expect(i.ignored('secret/key')).toBe(true);
    expect(i.ignored('secret/keep.txt')).toBe(false);
    expect(i.ignored('CHANGES.md')).toBe(true);
    expect(i.ignored('README.md')).toBe(false);
    expect(i.ignored('docs/x.md')).toBe(false);
    expect(i.hasExclusions).toBe(true);
    expect(m(['./a/../b']).ignored('b')).toBe(true);
    expect(m([]).empty).toBe(true);
  });
});

describe('scoped path resolution', () => {
  it('follows symlinks inside the root and never leaves it', () => {
    const d = tree({ 'real/file': 'x', 'etc/passwd': 'inside' });
    symlinkSync('/etc', join(d, 'abs'));
    symlinkSync('../../../../..', join(d, 'up'));
    symlinkSync('real', join(d, 'rel'));
    symlinkSync('loop', join(d, 'loop'));
    expect(resolveScoped(d, '/abs/passwd')).toBe(`${d}/etc/passwd`);
    expect(resolveScoped(d, 'up/etc/passwd')).toBe(`${d}/etc/passwd`);
    expect(resolveScoped(d, '../../../etc/passwd')).toBe(`${d}/etc/passwd`);
    expect(resolveScoped(d, 'rel/file')).toBe(`${d}/real/file`);
    expect(resolveScoped(d, 'rel', false)).toBe(`${d}/rel`);
    expect(resolveScoped(d, 'missing/x')).toBe(`${d}/missing/x`);
    expect(() => resolveScoped(d, 'loop')).toThrow(/too many levels/);
  });
});

describe('COPY sources and their checksum', () => {
  it('resolves globs and files, honours .dockerignore, refuses paths outside the context', () => {
    const d = tree({ 'a.txt': 'a', 'b.txt': 'b', 'c.log': 'c', 'dir/x': 'x', 'dir/skip.log': 's' });
    symlinkSync('/etc/passwd', join(d, 'escape'));
    const root: SourceRoot = { dir: d, ignore: new IgnoreMatcher(['*.log', 'dir/*.log']), label: 'build context' };
    expect(resolveSources(root, ['*.txt']).map((i) => i.path)).toEqual(['a.txt', 'b.txt']);
    expect(resolveSources(root, ['dir'])[0]).toMatchObject({ path: 'dir', isDir: true });
    expect([...walkSource(root, resolveSources(root, ['dir'])[0]!)].map((n) => n.rel)).toEqual(['', 'x']);
    expect(() => resolveSources(root, ['c.log'])).toThrow(
      /"c.log" not found in the build context \(or excluded by .dockerignore\)/,
    );
    expect(() => resolveSources(root, ['*.none'])).toThrow(/not found/);
    expect(() => resolveSources(root, ['../../etc/passwd'])).toThrow(/not found/);
    // a symlink to /etc/passwd resolves inside the context, where there is no etc/passwd
    expect(() => resolveSources(root, ['escape'])).toThrow(/not found/);
  });

  it('changes with one byte or a mode, not with a time; reuses remembered digests', async () => {
    const d = tree({ 'a.txt': 'aaaa', 'dir/b': 'bbbb' });
    const root: SourceRoot = { dir: d, ignore: undefined, label: 'build context' };
    const sum = () => checksumSources(root, resolveSources(root, ['a.txt', 'dir']), noMemo);
    const s1 = await sum();
    utimesSync(join(d, 'a.txt'), new Date(1000), new Date(1000));
    expect(await sum()).toBe(s1);
    writeFileSync(join(d, 'dir/b'), 'bbbB');
    const s2 = await sum();
    expect(s2).not.toBe(s1);
    const { chmodSync } = await import('node:fs');
    chmodSync(join(d, 'a.txt'), 0o600);
    expect(await sum()).not.toBe(s2);

    const seen = new Map<string, string>();
    let reads = 0;
    const memo: HashMemo = {
      get: (p) => seen.get(p),
      put: (p, _st, dg) => {
        if (!seen.has(p)) reads++;
        seen.set(p, dg);
      },
    };
    const items = resolveSources(root, ['a.txt', 'dir']);
    const m1 = await checksumSources(root, items, memo);
    const m2 = await checksumSources(root, items, memo);
    expect(m1).toBe(m2);
    expect(reads).toBe(2);
  });
});
