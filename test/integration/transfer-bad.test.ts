// Issue 8, bad input: truncated, malformed and hostile archives and registry answers end with
// one line naming what is wrong, exit 125, and leave no row, layer directory or temporary
// file. A hostile registry is a small HTTP server in this process on 127.0.0.1.
import { execa } from 'execa';
import Database from 'better-sqlite3';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, makeRoot, REPO, type CliResult, type TestRoot } from './support/cli.js';
import { buildImage, dockerArchive, manifestDescriptor, sha, tarOf, writeOciDir, type BuiltImage } from './support/oci.js';

const isRoot = process.getuid?.() === 0;
let t: TestRoot;
let work: string;
let busyboxTar: Buffer;
let good: BuiltImage;

function count(root: string, table: string): number {
  const f = join(root, 'state.db');
  if (!existsSync(f)) return 0;
  const db = new Database(f, { readonly: true });
  try {
    return (db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
  } finally {
    db.close();
  }
}

/** Layer directories of every driver (overlay keeps short links in l/). */
function layerDirs(root: string): string[] {
  const out: string[] = [];
  for (const d of ['overlay', 'vfs']) {
    const home = join(root, d);
    if (!existsSync(home)) continue;
    for (const n of readdirSync(home)) {
      if (n === 'l') out.push(...readdirSync(join(home, 'l')).map((x) => `l/${x}`));
      else out.push(n);
    }
  }
  return out;
}

function nothingLeft(root: string): void {
  expect(count(root, 'images')).toBe(0);
  expect(count(root, 'layers')).toBe(0);
  expect(layerDirs(root)).toEqual([]);
  expect(existsSync(join(root, 'tmp')) ? readdirSync(join(root, 'tmp')) : []).toEqual([]);
}

function fails(r: CliResult, re: RegExp): void {
  expect(r.stderr).toMatch(re);
  expect(r.exitCode).toBe(125);
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  nothingLeft(t.root);
}

function dir(name: string): string {
  return join(work, name);
}

beforeAll(async () => {
  if (!isRoot) return;
  t = makeRoot('bad');
  work = mkdtempSync(join(tmpdir(), 'tsc-bad-'));
  busyboxTar = readFileSync(join(REPO, 'images', 'busybox', 'out', 'layer.tar'));
  good = buildImage({
    layers: [
      { tar: busyboxTar, compression: 'gzip' },
      { tar: await tarOf([{ header: { name: 'two' }, body: 'second layer\n' }]), compression: 'gzip' },
    ],
  });
});

afterAll(async () => {
  if (!isRoot) return;
  expect(await t.cleanup()).toEqual([]);
  rmSync(work, { recursive: true, force: true });
});

function ociIndex(img: BuiltImage): unknown {
  return { schemaVersion: 2, manifests: [manifestDescriptor(img, 'example.com/bad:1')] };
}

describe.skipIf(!isRoot)('hostile and broken archives', () => {
  it('path traversal in manifest.json', async () => {
    const a = dir('traversal.tar');
    writeFileSync(
      a,
      await dockerArchive(
        good,
        ['bad:1'],
        [{ Config: `${good.configDigest.slice(7)}.json`, RepoTags: ['bad:1'], Layers: ['../../../etc/passwd', 'x'] }],
      ),
    );
    fails(await t.run(['load', '-i', a]), /names a path outside the archive: "\.\.\/\.\.\/\.\.\/etc\/passwd"/);
  });

  it('a tar member whose own name leaves the archive, and a symlinked layer pointing out of it', async () => {
    const a = dir('member.tar');
    writeFileSync(
      a,
      await tarOf([
        { header: { name: '../escape' }, body: 'x' },
        { header: { name: 'manifest.json' }, body: '[]' },
      ]),
    );
    fails(await t.run(['load', '-i', a]), /holds an entry whose name leaves the archive: "\.\.\/escape"/);
    const b = dir('symlayer.tar');
    const cfgName = `${good.configDigest.slice(7)}.json`;
    writeFileSync(
      b,
      await tarOf([
        { header: { name: cfgName }, body: good.config },
        { header: { name: 'l1/layer.tar', type: 'symlink', linkname: '../../../../etc/shadow' } },
        {
          header: { name: 'manifest.json' },
          body: JSON.stringify([{ Config: cfgName, RepoTags: null, Layers: ['l1/layer.tar', 'l1/layer.tar'] }]),
        },
      ]),
    );
    fails(await t.run(['load', '-i', b]), /"l1\/layer\.tar" is a link that points outside the archive/);
  });

  it('a blob whose bytes do not match its digest, and one larger than its descriptor', async () => {
    const d = dir('mismatch');
    const blobs = new Map(good.blobs);
    const layer = JSON.parse(good.manifest).layers[1].digest as string;
    const bytes = Buffer.from(blobs.get(layer)!);
    bytes[bytes.length - 5] ^= 0xff;
    blobs.set(layer, bytes);
    writeOciDir(d, blobs, ociIndex(good));
    // the flipped byte is in the gzip trailer: the digest check or gunzip's CRC check, whichever ends first, names it
    fails(await t.run(['load', '-i', d]), /layer 2 \(sha256:[0-9a-f]{64}\) (does not match its digest|is not valid gzip data)/);

    const e = dir('oversize');
    const big = new Map(good.blobs);
    big.set(layer, Buffer.concat([good.blobs.get(layer)!, Buffer.alloc(4096)]));
    writeOciDir(e, big, ociIndex(good));
    fails(await t.run(['load', '-i', e]), /layer 2 \(sha256:[0-9a-f]{64}\) is \d+ bytes, its descriptor declares \d+/);
  });

  it('a layer whose content is not the config diff_id: the first layer, already stored, is removed again', async () => {
    const wrong = buildImage({
      layers: [
        { tar: busyboxTar, compression: 'gzip' },
        { tar: await tarOf([{ header: { name: 'x' }, body: 'x' }]), compression: 'none' },
      ],
    });
    const cfg = JSON.parse(wrong.config) as { rootfs: { diff_ids: string[] } };
    cfg.rootfs.diff_ids[1] = sha('something else');
    const raw = JSON.stringify(cfg);
    const m = JSON.parse(wrong.manifest);
    m.config = { ...m.config, digest: sha(raw), size: Buffer.byteLength(raw) };
    const manifest = JSON.stringify(m);
    const blobs = new Map(wrong.blobs);
    blobs.delete(wrong.configDigest);
    blobs.delete(wrong.manifestDigest);
    blobs.set(sha(raw), Buffer.from(raw));
    blobs.set(sha(manifest), Buffer.from(manifest));
    const d = dir('diffid');
    writeOciDir(d, blobs, {
      schemaVersion: 2,
      manifests: [
        { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha(manifest), size: Buffer.byteLength(manifest) },
      ],
    });
    fails(
      await t.run(['load', '-i', d]),
      /layer 2 .* does not match the image config: its content is sha256:[0-9a-f]{64}, the config says/,
    );
  });

  it('a decompression bomb', async () => {
    // 300 MB of zeros in one file, about 300 KB gzipped: refused at 256 MiB
    const header = (await tarOf([{ header: { name: 'zeros', size: 300 * 1024 * 1024 }, body: Buffer.alloc(0) }])).subarray(
      0,
      512,
    );
    const gz = join(work, 'bomb.gz');
    writeFileSync(join(work, 'hdr'), header);
    await execa('sh', [
      '-c',
      `{ cat ${join(work, 'hdr')}; head -c ${300 * 1024 * 1024} /dev/zero; head -c 1024 /dev/zero; } | gzip -1 > ${gz}`,
    ]);
    const blob = readFileSync(gz);
    const bomb = buildImage({ layers: [{ tar: Buffer.alloc(0), compression: 'none' }] });
    // rebuild by hand: the diff_id of the bomb does not matter, it never gets that far
    const cfg = JSON.parse(bomb.config);
    cfg.rootfs.diff_ids = [sha('never')];
    const raw = JSON.stringify(cfg);
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(raw), size: Buffer.byteLength(raw) },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha(blob), size: blob.length }],
    });
    const d = dir('bomb');
    writeOciDir(
      d,
      new Map([
        [sha(raw), Buffer.from(raw)],
        [sha(blob), blob],
        [sha(manifest), Buffer.from(manifest)],
      ]),
      {
        schemaVersion: 2,
        manifests: [
          { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha(manifest), size: Buffer.byteLength(manifest) },
        ],
      },
    );
    fails(await t.run(['load', '-i', d]), /expands to more than \d+ bytes: refusing a likely decompression bomb/);
  }, 60_000);

  it('a symlinked blob in an OCI layout directory', async () => {
    const d = dir('symblob');
    writeOciDir(d, good.blobs, ociIndex(good));
    const layer = (JSON.parse(good.manifest).layers[0].digest as string).slice(7);
    const p = join(d, 'blobs', 'sha256', layer);
    rmSync(p);
    writeFileSync(join(work, 'outside'), good.blobs.get(`sha256:${layer}`)!);
    symlinkSync(join(work, 'outside'), p);
    fails(await t.run(['load', '-i', d]), /is a symbolic link, refusing to follow it/);
  });

  it('unknown media types for a layer and for the config', async () => {
    for (const [field, re] of [
      ['layer', /layer 1 has the unknown media type application\/x-evil/],
      ['config', /the config has the unknown media type application\/x-evil \(not a container image\)/],
    ] as const) {
      const m = JSON.parse(good.manifest);
      if (field === 'layer') m.layers[0].mediaType = 'application/x-evil';
      else m.config.mediaType = 'application/x-evil';
      const manifest = JSON.stringify(m);
      const blobs = new Map(good.blobs);
      blobs.set(sha(manifest), Buffer.from(manifest));
      const d = dir(`mt-${field}`);
      writeOciDir(d, blobs, {
        schemaVersion: 2,
        manifests: [
          { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha(manifest), size: Buffer.byteLength(manifest) },
        ],
      });
      fails(await t.run(['load', '-i', d]), re);
    }
  });

  it('a truncated archive, malformed JSON, and something that is no archive at all', async () => {
    const a = dir('trunc.tar');
    writeFileSync(a, await dockerArchive(good, ['bad:1']));
    truncateSync(a, 1024 * 1024);
    fails(await t.run(['load', '-i', a]), /is truncated/);
    const b = dir('json.tar');
    writeFileSync(b, await tarOf([{ header: { name: 'manifest.json' }, body: '[{"Config": ' }]));
    fails(await t.run(['load', '-i', b]), /manifest\.json is not valid JSON/);
    const c = dir('noise.bin');
    writeFileSync(c, gzipSync(Buffer.from('hello, this is not a tar archive at all'.repeat(40))));
    fails(await t.run(['load', '-i', c]), /is not a valid tar archive|is truncated or not a tar archive|empty or not a tar/);
    const r = await execa('node', [CLI, 'load'], { env: t.env, input: 'not an archive', reject: false });
    fails({ exitCode: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr }, /the archive on stdin/);
  });
});

// ---------------------------------------------------------------------------------------------

interface Evil {
  server: Server;
  host: string;
  mode: Map<string, string>;
  requests: string[];
}

async function evilRegistry(img: BuiltImage): Promise<Evil> {
  const mode = new Map<string, string>();
  const requests: string[] = [];
  let flaky = 0;
  const manifestType = 'application/vnd.oci.image.manifest.v1+json';
  const send = (res: ServerResponse, status: number, body: Buffer | string, type = 'application/octet-stream') => {
    res.writeHead(status, {
      'content-type': type,
      'content-length': Buffer.byteLength(body),
      'docker-distribution-api-version': 'registry/2.0',
    });
    res.end(body);
  };
  const server = createServer((req, res) => {
    const url = req.url ?? '';
    requests.push(`${req.method} ${url}`);
    const self = `http://${req.headers.host}`;
    if (url.startsWith('/token?')) {
      // the token server: a token for anyone with the right password, scoped as asked
      const q = new URL(url, self).searchParams;
      const basic = Buffer.from('bob:builder').toString('base64');
      if (req.headers.authorization !== `Basic ${basic}`) return send(res, 401, '{}', 'application/json');
      return send(res, 200, JSON.stringify({ token: `tok:${q.get('scope')}:${q.get('service')}` }), 'application/json');
    }
    if (url.startsWith('/v2/evil/bearer/')) {
      const want = `Bearer tok:repository:evil/bearer:pull:evil-service`;
      if (req.headers.authorization !== want) {
        res.writeHead(401, {
          'www-authenticate': `Bearer realm="${self}/token",service="evil-service",scope="repository:evil/bearer:pull"`,
          'content-type': 'application/json',
        });
        return res.end('{"errors":[{"code":"UNAUTHORIZED"}]}');
      }
    }
    if (url === '/v2/') return send(res, 200, '{}', 'application/json');
    const m = /^\/v2\/evil\/(\w+)\/(manifests|blobs)\/(.+)$/.exec(url);
    if (!m) return send(res, 404, '{"errors":[{"code":"NAME_UNKNOWN"}]}', 'application/json');
    const [, repo, kind, ref] = m as unknown as [string, string, string, string];
    if (repo === 'loop') {
      res.writeHead(302, { location: url });
      return res.end();
    }
    if (repo === 'flaky' && flaky++ < 2) return send(res, 503, 'try again');
    if (kind === 'manifests') {
      if (repo === 'unknown') return send(res, 200, JSON.stringify({ schemaVersion: 2, hello: 1 }), 'application/vnd.evil+json');
      return send(res, 200, img.manifest, manifestType);
    }
    const blob = img.blobs.get(ref);
    if (!blob) return send(res, 404, '{"errors":[{"code":"BLOB_UNKNOWN"}]}', 'application/json');
    const layer1 = (JSON.parse(img.manifest) as { layers: { digest: string }[] }).layers[1]!.digest;
    if (ref === layer1 && repo === 'wrongdigest') {
      const b = Buffer.from(blob);
      b[20] ^= 0xff;
      return send(res, 200, b);
    }
    if (ref === layer1 && repo === 'oversize') return send(res, 200, Buffer.concat([blob, Buffer.alloc(100_000)]));
    if (ref === layer1 && repo.startsWith('stall') && mode.get(repo) !== 'off') {
      res.writeHead(200, { 'content-length': blob.length });
      res.write(blob.subarray(0, 10));
      return; // never finishes
    }
    return send(res, 200, blob);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const a = server.address();
  return { server, host: `127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`, mode, requests };
}

describe.skipIf(!isRoot)('hostile registry answers', () => {
  let evil: Evil;
  beforeAll(async () => {
    evil = await evilRegistry(good);
  });
  afterAll(async () => {
    evil.server.closeAllConnections();
    await new Promise((r) => evil.server.close(r));
  });

  it('a redirect loop, a blob that does not match its digest, one larger than declared, an unknown manifest type', async () => {
    fails(await t.run(['pull', `${evil.host}/evil/loop:1`]), /too many redirects \(a redirect loop\)/);
    fails(
      await t.run(['pull', `${evil.host}/evil/wrongdigest:1`]),
      /layer 2 \(sha256:[0-9a-f]{64}\) (does not match its digest|is not valid gzip data)/,
    );
    fails(
      await t.run(['pull', `${evil.host}/evil/oversize:1`]),
      /layer 2 \(sha256:[0-9a-f]{64}\) is larger than the \d+ bytes its descriptor declares/,
    );
    fails(await t.run(['pull', `${evil.host}/evil/unknown:1`]), /unsupported manifest media type application\/vnd\.evil\+json/);
    fails(await t.run(['pull', `${evil.host}/evil/ok@${sha('not this manifest')}`]), /does not match sha256:/);
  });

  it('the Bearer token flow: a token for the repository scope, fetched with the stored credentials', async () => {
    const cfg = mkdtempSync(join(tmpdir(), 'tsc-bearer-'));
    try {
      const env = { DOCKER_CONFIG: cfg, REGISTRY_AUTH_FILE: join(cfg, 'none.json') };
      fails(
        await t.run(['pull', `${evil.host}/evil/bearer:1`], { env }),
        /authentication required or denied \(token server answered 401\)/,
      );
      writeFileSync(
        join(cfg, 'config.json'),
        JSON.stringify({ auths: { [evil.host]: { auth: Buffer.from('bob:builder').toString('base64') } } }),
      );
      const r = await t.run(['pull', '-q', `${evil.host}/evil/bearer:1`], { env });
      expect(r.stderr).toBe('');
      expect(r.stdout).toBe(`${evil.host}/evil/bearer:1`);
      expect((await t.run(['rmi', `${evil.host}/evil/bearer:1`])).exitCode).toBe(0);
      nothingLeft(t.root);
    } finally {
      rmSync(cfg, { recursive: true, force: true });
    }
  });

  it('retries 5xx answers with back-off', async () => {
    const r = await t.run(['pull', '-q', `${evil.host}/evil/flaky:1`]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(`${evil.host}/evil/flaky:1`);
    const rm = await t.run(['rmi', `${evil.host}/evil/flaky:1`]);
    expect(rm.exitCode).toBe(0);
    nothingLeft(t.root);
  });

  it('Ctrl-C (SIGINT) mid-pull exits 130, keeps the finished base layer and removes the unfinished one', async () => {
    const child = execa('node', [CLI, 'pull', `${evil.host}/evil/stallint:1`], { env: t.env, reject: false });
    const layer1 = (JSON.parse(good.manifest) as { layers: { digest: string }[] }).layers[1]!.digest;
    for (let i = 0; i < 200 && !(count(t.root, 'layers') === 1 && evil.requests.some((q) => q.endsWith(layer1))); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill('SIGINT');
    const r = await child;
    expect(r.exitCode).toBe(130);
    expect(r.stderr.trim().split('\n').pop()).toBe('tscontainer: interrupted');
    expect(count(t.root, 'layers')).toBe(1);
    expect(count(t.root, 'images')).toBe(0);
    expect(layerDirs(t.root).filter((d) => !d.startsWith('l/'))).toHaveLength(1);
    // an hour later, image prune removes the layer nobody came back for
    const db = new Database(join(t.root, 'state.db'));
    db.prepare(`UPDATE layers SET created_at = '2000-01-01T00:00:00.000Z'`).run();
    db.close();
    expect((await t.run(['image', 'prune', '-f'])).stdout).toMatch(/deleted: sha256:/);
    nothingLeft(t.root);
    evil.mode.set('stallint', 'off');
    expect((await t.run(['pull', '-q', `${evil.host}/evil/stallint:1`])).exitCode).toBe(0);
    expect((await t.run(['rmi', `${evil.host}/evil/stallint:1`])).exitCode).toBe(0);
    nothingLeft(t.root);
  });

  it('a pull killed with SIGKILL mid-layer leaves only what the next pull reuses', async () => {
    const child = execa('node', [CLI, 'pull', `${evil.host}/evil/stall:1`], { env: t.env, reject: false });
    const layer1 = (JSON.parse(good.manifest) as { layers: { digest: string }[] }).layers[1]!.digest;
    const layer0 = (JSON.parse(good.manifest) as { layers: { digest: string }[] }).layers[0]!.digest;
    for (let i = 0; i < 200 && !(count(t.root, 'layers') === 1 && evil.requests.some((q) => q.endsWith(layer1))); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(count(t.root, 'layers')).toBe(1); // the base layer finished and was committed
    child.kill('SIGKILL');
    await child;
    evil.mode.set('stall', 'off');
    evil.requests.length = 0;
    const again = await t.run(['pull', `${evil.host}/evil/stall:1`]);
    expect(again.exitCode, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/: Already exists/);
    expect(evil.requests.some((q) => q.endsWith(layer0))).toBe(false);
    expect(count(t.root, 'images')).toBe(1);
    expect((await t.run(['rmi', `${evil.host}/evil/stall:1`])).exitCode).toBe(0);
    // the killed pull's half-extracted layer directory is garbage for system prune (after its grace)
    expect(count(t.root, 'layers')).toBe(0);
  });
});
