// The tar-split record: replaying it with the layer's files gives back the original tar byte
// for byte; a changed file makes the replay refuse; garbage is not recordable but never hangs.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { afterEach, describe, expect, it } from 'vitest';
import { replayTar, TarSplitRecorder } from '../../src/image/archive/tarsplit.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function collect(s: Readable): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of s) out.push(c as Buffer);
  return Buffer.concat(out);
}

async function record(bytes: Buffer, chunk = 777): Promise<Buffer | undefined> {
  const r = new TarSplitRecorder();
  const parts: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += chunk) parts.push(bytes.subarray(i, i + chunk));
  await collect(Readable.from(parts).pipe(r));
  return r.result();
}

describe('tar-split', () => {
  it('replays a tar with PAX records, long names, links, empty files and trailing zeros exactly', async () => {
    const files: Record<string, Buffer> = {
      ['d/' + 'n'.repeat(150) + '/f']: Buffer.from('long name\n'),
      'big.bin': Buffer.alloc(100_001, 3),
      'ü-utf8': Buffer.from('pax path\n'),
    };
    const p = tar.pack();
    p.entry({ name: 'd/', type: 'directory', mode: 0o755 });
    for (const [name, body] of Object.entries(files)) p.entry({ name, mode: 0o644, pax: { 'SCHILY.xattr.user.x': 'y' } }, body);
    p.entry({ name: 'hard', type: 'link', linkname: 'big.bin' });
    p.entry({ name: 'sym', type: 'symlink', linkname: 'big.bin' });
    p.entry({ name: 'empty' }, '');
    p.finalize();
    const original = Buffer.concat([await collect(p as unknown as Readable), Buffer.alloc(10240)]);
    const rec = await record(original);
    expect(rec).toBeDefined();
    const dir = mkdtempSync(join(tmpdir(), 'tsc-split-'));
    dirs.push(dir);
    for (const [name, body] of Object.entries(files)) {
      mkdirSync(dirname(join(dir, name)), { recursive: true });
      writeFileSync(join(dir, name), body);
    }
    expect((await collect(replayTar(rec!, dir))).equals(original)).toBe(true);
    writeFileSync(join(dir, 'big.bin'), 'changed');
    expect(() => replayTar(rec!, dir)).toThrow(/changed/);
  });

  it('garbage is not recorded, and recording it ends', async () => {
    expect(await record(Buffer.alloc(4096, 1))).toBeUndefined();
    expect(await record(Buffer.from('not a tar'))).toBeUndefined();
  });
});
