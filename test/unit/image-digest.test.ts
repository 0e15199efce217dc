import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { chainId, chainIds, digestOf, DigestingStream, maybeGunzip, sha256Hex } from '../../src/image/digest.js';

const dir = mkdtempSync(join(tmpdir(), 'tsc-image-digest-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** sha256sum of a string, computed by coreutils (an independent implementation). */
function sha256sum(s: string): string {
  const f = join(dir, 'in');
  writeFileSync(f, s);
  return execFileSync('sha256sum', [f], { encoding: 'utf8' }).split(' ')[0]!;
}

const d1 = 'sha256:' + sha256sum('layer one');
const d2 = 'sha256:' + sha256sum('layer two');
const d3 = 'sha256:' + sha256sum('layer three');

describe('layer identity', () => {
  it('digests like sha256sum', () => {
    expect(sha256Hex('layer one')).toBe(d1.slice(7));
    expect(digestOf('')).toBe('sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });

  it('chainID of the base is its diffID', () => {
    expect(chainId(null, d1)).toBe(d1);
  });

  it('chainID of an upper layer is sha256(parent + " " + diffID)', () => {
    const c2 = 'sha256:' + sha256sum(`${d1} ${d2}`);
    const c3 = 'sha256:' + sha256sum(`${c2} ${d3}`);
    expect(chainId(d1, d2)).toBe(c2);
    expect(chainIds([d1, d2, d3])).toEqual([d1, c2, c3]);
  });

  it('matches a known docker chainID', () => {
    // busybox-like two-layer example computed independently: sha256("<a> <b>")
    const a = 'sha256:' + '1'.repeat(64);
    const b = 'sha256:' + '2'.repeat(64);
    expect(chainId(a, b)).toBe('sha256:' + sha256sum(`${a} ${b}`));
  });
});

describe('streaming', () => {
  it('DigestingStream passes bytes through and hashes them', async () => {
    const s = new DigestingStream();
    const out = text(Readable.from([Buffer.from('layer '), Buffer.from('one')]).pipe(s));
    expect(await out).toBe('layer one');
    expect(s.bytes).toBe(9);
    expect(s.digest()).toBe(d1);
  });

  it('maybeGunzip leaves plain data alone', async () => {
    const r = await maybeGunzip(Readable.from([Buffer.from('p'), Buffer.from('lain data')]));
    expect(await text(r)).toBe('plain data');
  });

  it('maybeGunzip decompresses gzip', async () => {
    const gz = gzipSync(Buffer.from('hello gzip'));
    const r = await maybeGunzip(Readable.from([gz.subarray(0, 1), gz.subarray(1)]));
    expect(await text(r)).toBe('hello gzip');
  });

  it('maybeGunzip handles empty and one-byte input', async () => {
    expect(await text(await maybeGunzip(Readable.from([])))).toBe('');
    expect(await text(await maybeGunzip(Readable.from([Buffer.from('x')])))).toBe('x');
  });

  it('maybeGunzip surfaces corrupt gzip as an error', async () => {
    const gz = gzipSync(Buffer.alloc(10000, 7));
    const broken = Buffer.concat([gz.subarray(0, 20), Buffer.alloc(50, 0xff)]);
    await expect(text(await maybeGunzip(Readable.from([broken])))).rejects.toThrow();
  });
});
