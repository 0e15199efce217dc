import { describe, expect, it } from 'vitest';
import { normalizeEntryName, parsePaxRecords } from '../../src/graph/tar-apply.js';
import { classifyName, isValidWhiteoutTarget, isOverlayPrivateXattr } from '../../src/graph/whiteout.js';
import { checkLayerId, decodeMountinfoPath, randomName } from '../../src/graph/fsutil.js';
import { openDriver, defaultDriverName } from '../../src/graph/index.js';
import { UnsupportedError, UsageError } from '../../src/util/errors.js';

describe('tar entry names', () => {
  it('strips leading slashes and dots, applies ..', () => {
    expect(normalizeEntryName('/etc/passwd')).toBe('etc/passwd');
    expect(normalizeEntryName('./a//b/./c/')).toBe('a/b/c');
    expect(normalizeEntryName('a/../b')).toBe('b');
    expect(normalizeEntryName('./')).toBe('');
    expect(normalizeEntryName('/')).toBe('');
  });
  it('reports names that climb above the root', () => {
    expect(normalizeEntryName('../x')).toBeNull();
    expect(normalizeEntryName('a/../../x')).toBeNull();
    expect(normalizeEntryName('/../etc/passwd')).toBeNull();
    expect(normalizeEntryName('..')).toBeNull();
  });
});

describe('whiteout names', () => {
  it('classifies aufs names', () => {
    expect(classifyName('foo')).toEqual({ kind: 'none' });
    expect(classifyName('.wh.foo')).toEqual({ kind: 'whiteout', name: 'foo' });
    expect(classifyName('.wh..wh..opq')).toEqual({ kind: 'opaque' });
    expect(classifyName('.wh..wh.plnk')).toEqual({ kind: 'meta' });
    expect(classifyName('.wh...')).toEqual({ kind: 'whiteout', name: '..' });
  });
  it('accepts only one real component as a whiteout target', () => {
    expect(isValidWhiteoutTarget('foo')).toBe(true);
    expect(isValidWhiteoutTarget('.hidden')).toBe(true);
    for (const bad of ['', '.', '..', 'a/b']) expect(isValidWhiteoutTarget(bad)).toBe(false);
  });
  it('knows overlay private xattrs', () => {
    expect(isOverlayPrivateXattr('trusted.overlay.opaque')).toBe(true);
    expect(isOverlayPrivateXattr('user.overlay.redirect')).toBe(true);
    expect(isOverlayPrivateXattr('security.capability')).toBe(false);
  });
});

describe('PAX records', () => {
  it('keeps binary values', () => {
    const value = Buffer.from([0x01, 0x00, 0x00, 0x02, 0xff, 0x80, 0x0a]);
    const rec = (k: string, v: Buffer) => {
      const body = Buffer.concat([Buffer.from(` ${k}=`), v, Buffer.from('\n')]);
      let n = body.length + 2;
      while (String(n).length + body.length !== n) n = String(n).length + body.length;
      return Buffer.concat([Buffer.from(String(n)), body]);
    };
    const buf = Buffer.concat([rec('path', Buffer.from('é/long')), rec('SCHILY.xattr.security.capability', value)]);
    const m = parsePaxRecords(buf);
    expect(m.get('path')!.toString()).toBe('é/long');
    expect(m.get('SCHILY.xattr.security.capability')).toEqual(value);
  });
});

describe('fsutil', () => {
  it('decodes mountinfo escapes', () => {
    expect(decodeMountinfoPath('/a\\040b')).toBe('/a b');
    expect(decodeMountinfoPath('/x\\303\\251')).toBe('/xé');
  });
  it('makes base32 short names', () => {
    const n = randomName(16);
    expect(n).toMatch(/^[A-Z2-7]{16}$/);
    expect(randomName(16)).not.toBe(n);
  });
  it('refuses ids that are not one safe component', () => {
    expect(() => checkLayerId('overlay', '../x')).toThrow(UsageError);
    expect(() => checkLayerId('overlay', 'a/b')).toThrow(UsageError);
    expect(() => checkLayerId('overlay', 'l', ['l'])).toThrow(UsageError);
    expect(() => checkLayerId('overlay', 'a'.repeat(64) + '-init')).not.toThrow();
  });
});

describe('openDriver', () => {
  it('names unknown and unimplemented drivers', () => {
    expect(() => openDriver('zfs', '/tmp/none')).toThrow(UsageError);
    expect(() => openDriver('zfs', '/tmp/none')).toThrow(/unknown graph driver "zfs"/);
    expect(() => openDriver('aufs', '/tmp/none')).toThrow(UnsupportedError);
  });
  it('picks overlay or vfs', () => {
    expect(['overlay', 'vfs']).toContain(defaultDriverName());
  });
});
