import { describe, expect, it } from 'vitest';
import {
  familiarName,
  familiarString,
  formatReference,
  idPrefixOf,
  normalizeReference,
  parseReference,
} from '../../src/image/reference.js';
import { UsageError } from '../../src/util/errors.js';

const D = 'sha256:' + 'a'.repeat(64);

describe('parseReference', () => {
  const good: [string, string, string][] = [
    // input, normalized, familiar
    ['busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
    ['busybox:1.36', 'docker.io/library/busybox:1.36', 'busybox:1.36'],
    ['library/busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
    ['docker.io/busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
    ['index.docker.io/library/busybox:x', 'docker.io/library/busybox:x', 'busybox:x'],
    ['myuser/app:1', 'docker.io/myuser/app:1', 'myuser/app:1'],
    ['repo/name:tag', 'docker.io/repo/name:tag', 'repo/name:tag'],
    ['host:5000/a/b:tag', 'host:5000/a/b:tag', 'host:5000/a/b:tag'],
    ['localhost/x', 'localhost/x:latest', 'localhost/x:latest'],
    ['localhost:5000/x', 'localhost:5000/x:latest', 'localhost:5000/x:latest'],
    ['quay.io/org/img:v1.2-rc_3', 'quay.io/org/img:v1.2-rc_3', 'quay.io/org/img:v1.2-rc_3'],
    ['a_b-c__d/f.g---h', 'docker.io/a_b-c__d/f.g---h:latest', 'a_b-c__d/f.g---h:latest'],
    [`name@${D}`, `docker.io/library/name@${D}`, `name@${D}`],
    [`name:tag@${D}`, `docker.io/library/name:tag@${D}`, `name:tag@${D}`],
    ['myimg:1', 'docker.io/library/myimg:1', 'myimg:1'],
    ['x:' + 'a'.repeat(128), 'docker.io/library/x:' + 'a'.repeat(128), 'x:' + 'a'.repeat(128)],
  ];
  it.each(good)('%s', (input, normalized, familiar) => {
    const ref = parseReference(input);
    expect(formatReference(ref)).toBe(normalized);
    expect(familiarString(ref)).toBe(familiar);
    expect(normalizeReference(input)).toBe(normalized);
    expect(familiarName(normalized)).toBe(familiar);
  });

  const bad: string[] = [
    '',
    'UPPER',
    'Busybox:latest',
    'a::b',
    '-x',
    'x-',
    '_x',
    'a//b',
    '/a',
    'a/',
    'name:',
    'name:-tag',
    'name:.tag',
    'x:' + 'a'.repeat(129),
    'name@sha256:abc',
    'name@sha256:' + 'A'.repeat(64),
    'name@',
    '@' + D,
    ' busybox',
    'bus box',
    'a'.repeat(64),
    'a:b:c',
    'a/B',
    'a_b.c/x', // a first component with a dot is a host, and hosts have no underscores
  ];
  it.each(bad)('refuses %j', (input) => {
    let err: unknown;
    try {
      parseReference(input);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).exitCode).toBe(125);
    expect((err as UsageError).message).toMatch(/^invalid reference format: ".*"/);
    expect((err as UsageError).message).not.toContain('\n');
    expect((err as UsageError).message).toContain(JSON.stringify(input));
  });

  it('keeps a bare name untagged when asked', () => {
    expect(parseReference('busybox', { defaultTag: false }).tag).toBeUndefined();
  });

  it('says why an upper-case name is refused', () => {
    expect(() => parseReference('UPPER')).toThrow(/must be lowercase/);
  });
});

describe('idPrefixOf', () => {
  it('recognizes ids and sha256: prefixes only', () => {
    expect(idPrefixOf(D)).toBe('a'.repeat(64));
    expect(idPrefixOf('sha256:abc')).toBe('abc');
    expect(idPrefixOf('b'.repeat(64))).toBe('b'.repeat(64));
    expect(idPrefixOf('abc')).toBeUndefined();
    expect(idPrefixOf('sha256:xyz')).toBeUndefined();
  });
});
