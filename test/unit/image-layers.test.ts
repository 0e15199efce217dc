// registerLayer / releaseLayerRows against a real SQLite store and a fake driver (no root).
import { execFileSync } from 'node:child_process';
import { createReadStream, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import type { ApplyResult, GraphDriver } from '../../src/graph/driver.js';
import { chainId } from '../../src/image/digest.js';
import { registerLayer, releaseLayerRows, removeLayerDirs } from '../../src/image/layers.js';
import { commitImage } from '../../src/image/store.js';
import { openDb, writeTx, type DB } from '../../src/store/db.js';
import { allLayers, getLayer } from '../../src/store/layers.js';

const root = mkdtempSync(join(tmpdir(), 'tsc-image-layers-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A driver that keeps one directory per layer and extracts only regular files, refusing `..`. */
class FakeDriver implements GraphDriver {
  constructor(
    readonly home: string,
    readonly name: string = 'fake',
  ) {
    mkdirSync(home, { recursive: true });
  }
  status() {
    return {};
  }
  list() {
    return readdirSync(this.home).map((id) => ({ id, modifiedMs: 0 }));
  }
  diffSize() {
    return 0;
  }
  async create(id: string): Promise<void> {
    mkdirSync(join(this.home, id));
  }
  applyDiff(id: string, stream: Readable): Promise<ApplyResult> {
    return new Promise((resolve, reject) => {
      const ex = tar.extract();
      let size = 0;
      ex.on('entry', (h, s, next) => {
        s.on('error', () => {});
        if (h.name.split('/').includes('..')) {
          ex.destroy(new Error(`refusing "${h.name}": it leaves the layer`));
          return;
        }
        const chunks: Buffer[] = [];
        s.on('data', (c: unknown) => chunks.push(c as Buffer));
        s.on('end', () => {
          if (h.type === 'file') {
            const p = join(this.home, id, h.name.replace(/\//g, '_'));
            writeFileSync(p, Buffer.concat(chunks));
            size += h.size ?? 0;
          }
          next();
        });
      });
      ex.on('finish', () => resolve({ size }));
      ex.on('error', reject);
      stream.on('error', (e) => ex.destroy(e));
      stream.pipe(ex);
    });
  }
  diff(): Readable {
    throw new Error('not used');
  }
  async populate(): Promise<void> {}
  mountSpec(id: string) {
    return { spec: { type: 'bind', source: join(this.home, id), data: 'rbind' }, target: '' };
  }
  async mount(id: string): Promise<string> {
    return join(this.home, id);
  }
  async unmount(): Promise<void> {}
  exists(id: string): boolean {
    return existsSync(join(this.home, id));
  }
  async remove(id: string): Promise<void> {
    rmSync(join(this.home, id), { recursive: true, force: true });
  }
}

let db: DB;
let driver: FakeDriver;
let n = 0;
beforeEach(() => {
  n++;
  db = openDb(join(root, `state${n}`, 'state.db'));
  driver = new FakeDriver(join(root, `state${n}`, 'fake'));
});

function makeTar(files: Record<string, string>): string {
  const src = join(root, `src${n}-${Math.random().toString(16).slice(2)}`);
  mkdirSync(src);
  for (const [name, body] of Object.entries(files)) writeFileSync(join(src, name), body);
  const out = `${src}.tar`;
  execFileSync('tar', ['--sort=name', '--mtime=@0', '--owner=0', '--group=0', '-C', src, '-cf', out, '.']);
  return out;
}

function sha256sum(file: string): string {
  return 'sha256:' + execFileSync('sha256sum', [file], { encoding: 'utf8' }).split(' ')[0]!;
}

describe('registerLayer', () => {
  it('diffID is sha256 of the uncompressed tar, chainID follows the parent', async () => {
    const t1 = makeTar({ a: 'one' });
    const t2 = makeTar({ b: 'two' });
    const base = await registerLayer(db, driver, { parent: null, source: createReadStream(t1) });
    expect(base.created).toBe(true);
    expect(base.layer.diff_id).toBe(sha256sum(t1));
    expect(base.layer.chain_id).toBe(base.layer.diff_id);
    expect(base.layer.cache_id).toMatch(/^[0-9a-f]{32}$/);
    expect(base.layer.driver).toBe('fake');
    expect(base.layer.size).toBe(3);
    expect(readFileSync(join(driver.home, base.layer.cache_id, '._a'), 'utf8')).toBe('one');
    const up = await registerLayer(db, driver, { parent: base.layer, source: createReadStream(t2) });
    expect(up.layer.diff_id).toBe(sha256sum(t2));
    expect(up.layer.chain_id).toBe(chainId(base.layer.chain_id, up.layer.diff_id));
    expect(up.layer.parent).toBe(base.layer.chain_id);
  });

  it('gunzips a gzip layer and gives the same diffID', async () => {
    const t = makeTar({ a: 'gz' });
    const gz = `${t}.gz`;
    writeFileSync(gz, gzipSync(readFileSync(t)));
    const r = await registerLayer(db, driver, { parent: null, source: createReadStream(gz) });
    expect(r.layer.diff_id).toBe(sha256sum(t));
  });

  it('reuses an existing chainID and removes the new directory', async () => {
    const t = makeTar({ a: 'same' });
    const first = await registerLayer(db, driver, { parent: null, source: createReadStream(t) });
    const second = await registerLayer(db, driver, { parent: null, source: createReadStream(t) });
    expect(second.created).toBe(false);
    expect(second.layer.cache_id).toBe(first.layer.cache_id);
    expect(allLayers(db)).toHaveLength(1);
    expect(readdirSync(driver.home)).toEqual([first.layer.cache_id]);
  });

  it('a refused archive leaves no row and no directory', async () => {
    const h = tar.pack();
    h.entry({ name: '../escape', size: 1 }, 'x');
    h.finalize();
    await expect(registerLayer(db, driver, { parent: null, source: h as unknown as Readable })).rejects.toThrow(
      /invalid layer archive: refusing/,
    );
    expect(allLayers(db)).toHaveLength(0);
    expect(readdirSync(driver.home)).toEqual([]);
  });

  it('a corrupt gzip leaves nothing behind', async () => {
    const t = makeTar({ a: 'x'.repeat(100000) });
    const gz = gzipSync(readFileSync(t));
    const broken = join(root, `broken${n}.tgz`);
    writeFileSync(broken, Buffer.concat([gz.subarray(0, 40), Buffer.alloc(100, 0xee)]));
    await expect(registerLayer(db, driver, { parent: null, source: createReadStream(broken) })).rejects.toThrow(
      /invalid layer archive/,
    );
    expect(allLayers(db)).toHaveLength(0);
    expect(readdirSync(driver.home)).toEqual([]);
  });

  it('an empty input is refused', async () => {
    const empty = join(root, `empty${n}`);
    writeFileSync(empty, '');
    await expect(registerLayer(db, driver, { parent: null, source: createReadStream(empty) })).rejects.toThrow(/empty/);
    expect(readdirSync(driver.home)).toEqual([]);
  });

  it('refuses to mix drivers in one state root', async () => {
    const t = makeTar({ a: '1' });
    await registerLayer(db, driver, { parent: null, source: createReadStream(t) });
    const other = new FakeDriver(join(root, `state${n}`, 'other'), 'other');
    await expect(registerLayer(db, other, { parent: null, source: createReadStream(makeTar({ b: '2' })) })).rejects.toThrow(
      /already holds layers of the "fake" storage driver/,
    );
    expect(readdirSync(other.home)).toEqual([]);
  });
});

describe('releaseLayerRows', () => {
  it('deletes the chain down to the first layer still needed', async () => {
    const base = (await registerLayer(db, driver, { parent: null, source: createReadStream(makeTar({ a: '1' })) })).layer;
    const mid = (await registerLayer(db, driver, { parent: base, source: createReadStream(makeTar({ b: '2' })) })).layer;
    const topA = (await registerLayer(db, driver, { parent: mid, source: createReadStream(makeTar({ c: '3' })) })).layer;
    const topB = (await registerLayer(db, driver, { parent: base, source: createReadStream(makeTar({ d: '4' })) })).layer;
    const cfg = (d: string) => JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [d] } });
    writeTx(db, () => {
      commitImage(db, cfg('a'), topA);
      commitImage(db, cfg('b'), topB);
    });
    // topA is still used by an image: nothing goes
    expect(writeTx(db, () => releaseLayerRows(db, topA.chain_id))).toEqual([]);
    writeTx(db, () => db.prepare('DELETE FROM images WHERE top_layer = ?').run(topA.chain_id));
    const gone = writeTx(db, () => releaseLayerRows(db, topA.chain_id));
    expect(gone.map((l) => l.chain_id)).toEqual([topA.chain_id, mid.chain_id]); // base is topB's parent
    await removeLayerDirs(driver, gone);
    expect(driver.exists(topA.cache_id)).toBe(false);
    expect(driver.exists(mid.cache_id)).toBe(false);
    expect(driver.exists(base.cache_id)).toBe(true);
    expect(getLayer(db, base.chain_id)).toBeDefined();
  });
});
