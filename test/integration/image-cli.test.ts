// The image commands end to end, as root: the CLI (`node dist/tscontainer.cjs --root DIR ...`) and
// the module functions, each test with its own state root under /tmp/tsc-image-*, removed even
// when the test fails.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import tar, { type Header } from 'tar-stream';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { scaled } from './support/cli.js';
import { openDriver } from '../../src/graph/index.js';
import type { ImageContext } from '../../src/image/context.js';
import { resolveImage } from '../../src/image/resolve.js';
import { insertContainer } from '../../src/store/containers.js';
import { openDb, type DB } from '../../src/store/db.js';
import { layoutOf, resolveRoots } from '../../src/util/paths.js';

const REPO = resolve(new URL('../../', import.meta.url).pathname);
const CLI = join(REPO, 'bin', 'tscontainer');
const isRoot = process.getuid?.() === 0;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

const roots: string[] = [];
const dbs: DB[] = [];

function newRoot(): string {
  const r = mkdtempSync('/tmp/tsc-image-');
  roots.push(r);
  return r;
}

afterEach(() => {
  for (const d of dbs.splice(0)) d.close();
  for (const r of roots.splice(0)) {
    // vfs and overlay layers are plain directories here: nothing of ours is mounted.
    rmSync(r, { recursive: true, force: true });
  }
});

function cli(root: string, args: string[], input?: string | Buffer): Run {
  const r = spawnSync('node', [CLI, '--root', root, ...args], {
    input: input ?? '',
    encoding: 'utf8',
    env: { ...process.env, TSCONTAINER_STORAGE_DRIVER: '' },
    timeout: 60_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function cliAsync(root: string, args: string[]): Promise<Run> {
  return new Promise((res) => {
    const child = spawn('node', [CLI, '--root', root, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('close', (code) => res({ code: code ?? -1, stdout, stderr }));
  });
}

function ok(r: Run): string {
  expect(r.stderr, r.stderr).toBe('');
  expect(r.code).toBe(0);
  return r.stdout;
}

/** A one-sentence failure with exit 125. */
function fails(r: Run, re: RegExp): void {
  expect(r.code).toBe(125);
  expect(r.stderr).toMatch(re);
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
}

function db(root: string): DB {
  const d = openDb(join(root, 'state.db'));
  dbs.push(d);
  return d;
}

function ctxOf(root: string, storageDriver?: string): ImageContext {
  let handle: DB | undefined;
  return {
    layout: layoutOf(resolveRoots(root)),
    storageDriver,
    db: () => (handle ??= db(root)),
  };
}

function count(root: string, table: string): number {
  return (db(root).prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
}

/** Every path under the driver homes of a state root (what a failed import must not change). */
function graphFiles(root: string): string[] {
  const out: string[] = [];
  for (const drv of ['overlay', 'vfs']) {
    const home = join(root, drv);
    if (!existsSync(home)) continue;
    const walk = (dir: string, depth: number) => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const p = join(dir, e.name);
        out.push(p);
        if (e.isDirectory() && depth < 2) walk(p, depth + 1);
      }
    };
    walk(home, 0);
  }
  return out.sort();
}

/** Names that look like cache ids (32 hex) anywhere in the top two levels of a driver home. */
function cacheDirs(root: string, driver: string): string[] {
  return graphFiles(root)
    .filter((p) => p.startsWith(join(root, driver) + '/'))
    .map((p) => p.split('/').pop()!)
    .filter((n) => /^[0-9a-f]{32}$/.test(n))
    .sort();
}

/** A small rootfs tar made by GNU tar. */
function rootfsTar(dir: string, files: Record<string, string>): string {
  const src = join(dir, `rootfs-${Math.random().toString(16).slice(2)}`);
  for (const [name, body] of Object.entries(files)) {
    mkdirSync(join(src, name, '..'), { recursive: true });
    writeFileSync(join(src, name), body);
  }
  const out = `${src}.tar`;
  execFileSync('tar', ['--sort=name', '--mtime=@0', '--owner=0', '--group=0', '--numeric-owner', '-C', src, '-cf', out, '.']);
  return out;
}

function sha256sum(file: string): string {
  return 'sha256:' + execFileSync('sha256sum', [file], { encoding: 'utf8' }).split(' ')[0]!;
}

async function packTar(entries: { header: Partial<Header> & Pick<Header, 'name'>; body?: string }[]): Promise<Buffer> {
  const p = tar.pack();
  for (const e of entries) p.entry(e.header, e.body ?? '');
  p.finalize();
  const chunks: Buffer[] = [];
  for await (const c of p) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

beforeAll(() => {
  if (!isRoot) return;
  // One build at a time across test files running in parallel.
  spawnSync('flock', ['/tmp/tsc-build.lock', 'npx', 'tsc', '-p', 'tsconfig.json'], { cwd: REPO, stdio: 'ignore' });
  expect(existsSync(CLI)).toBe(true);
}, scaled(180_000));

describe.skipIf(!isRoot)('built-in busybox (needs root: image layers keep file owners, overlay mounts)', () => {
  it('builds reproducibly', () => {
    const script = join(REPO, 'images', 'busybox', 'build.sh');
    execFileSync('bash', [script, '--force'], { stdio: 'ignore' });
    const out = join(REPO, 'images', 'busybox', 'out');
    const first = sha256sum(join(out, 'layer.tar'));
    execFileSync('bash', [script, '--force'], { stdio: 'ignore' });
    expect(sha256sum(join(out, 'layer.tar'))).toBe(first);
    // up to date: a second run without --force changes nothing
    const mtime = statSync(join(out, 'layer.tar')).mtimeMs;
    const r = spawnSync('node', [CLI, 'image', 'build-builtin'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe(out);
    expect(statSync(join(out, 'layer.tar')).mtimeMs).toBe(mtime);
    const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as { config: { Cmd: string[]; Env: string[] } };
    expect(cfg.config.Cmd).toEqual(['sh']);
    expect(cfg.config.Env).toEqual(['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin']);
    const names = execFileSync('tar', ['-tvf', join(out, 'layer.tar')], { encoding: 'utf8' });
    expect(names).toMatch(/^-rwxr-xr-x 0\/0 .* bin\/busybox$/m);
    expect(names).toMatch(/^lrwxrwxrwx 0\/0 .* bin\/sh -> busybox$/m);
    expect(names).toMatch(/^drwxrwxrwt 0\/0 .* tmp\/$/m);
    expect(names).toMatch(/ etc\/passwd$/m);
    expect(names).toMatch(/ proc\/$/m);
    // two builds fork ~1000 processes each: seconds on the host, minutes under QEMU's TCG
  }, scaled(150_000));

  it('every fresh state root gets the same busybox image on first use', async () => {
    const a = newRoot();
    const b = newRoot();
    expect(ok(cli(a, ['images', '-q']))).toBe('');
    const ra = await resolveImage(ctxOf(a), 'busybox');
    const rb = await resolveImage(ctxOf(b), 'docker.io/library/busybox:latest');
    expect(ra.id).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(rb.id).toBe(ra.id);
    expect(ra.config.config?.Cmd).toEqual(['sh']);
    expect(ra.chain).toHaveLength(1);
    expect(ra.topLayer?.diff_id).toBe(sha256sum(join(REPO, 'images', 'busybox', 'out', 'layer.tar')));
    expect(ra.config.rootfs.diff_ids).toEqual([ra.topLayer?.diff_id]);
    expect(ra.driver).toBe(ra.topLayer?.driver);
    const table = ok(cli(a, ['images']));
    expect(table.split('\n')[0]).toMatch(/^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE$/);
    expect(table).toMatch(new RegExp(`^busybox\\s+latest\\s+${ra.id.slice(7, 19)}\\s+`, 'm'));
    // resolving again reuses it
    expect((await resolveImage(ctxOf(a), 'busybox:latest')).id).toBe(ra.id);
    expect(count(a, 'layers')).toBe(1);
  });

  it('parallel first uses in a fresh root end with one busybox image and one layer', async () => {
    const r = newRoot();
    const results = await Promise.all([1, 2, 3, 4].map(() => cliAsync(r, ['image', 'inspect', '-f', '{{.Id}}', 'busybox'])));
    for (const res of results) {
      expect(res.stderr).toBe('');
      expect(res.code).toBe(0);
    }
    expect(new Set(results.map((x) => x.stdout)).size).toBe(1);
    expect(count(r, 'images')).toBe(1);
    expect(count(r, 'layers')).toBe(1);
    const layer = db(r).prepare('SELECT * FROM layers').get() as { cache_id: string; driver: string };
    expect(cacheDirs(r, layer.driver)).toEqual([layer.cache_id]);
  });

  it('image inspect gives docker-like JSON', () => {
    const r = newRoot();
    const arr = JSON.parse(ok(cli(r, ['image', 'inspect', 'busybox']))) as Record<string, unknown>[];
    expect(arr).toHaveLength(1);
    const i = arr[0]!;
    expect(i['Id']).toMatch(/^sha256:/);
    expect(i['RepoTags']).toEqual(['busybox:latest']);
    expect((i['Config'] as { Cmd: string[] }).Cmd).toEqual(['sh']);
    expect((i['RootFS'] as { Type: string; Layers: string[] }).Type).toBe('layers');
    expect((i['GraphDriver'] as { Name: string }).Name).toMatch(/^(overlay|vfs)$/);
    expect(i['Size']).toBeGreaterThan(1_000_000);
    expect(ok(cli(r, ['image', 'inspect', '-f', '{{.Id}} {{json .Config.Cmd}}', 'busybox'])).trim()).toBe(`${i['Id']} ["sh"]`);
  });
});

describe.skipIf(!isRoot)('import (needs root: image layers keep file owners)', () => {
  it('imports plain and gzip tars: same diffID, default PATH, no Cmd', () => {
    const r = newRoot();
    const t = rootfsTar(r, { 'bin/hello': 'hi\n', 'etc/motd': 'welcome\n' });
    const gz = `${t}.gz`;
    writeFileSync(gz, gzipSync(readFileSync(t)));
    const id1 = ok(cli(r, ['import', t, 'myimg:1'])).trim();
    expect(id1).toMatch(/^sha256:[0-9a-f]{64}$/);
    const id2 = ok(cli(r, ['import', gz])).trim();
    const [a, b] = JSON.parse(ok(cli(r, ['image', 'inspect', id1, id2]))) as {
      RootFS: { Layers: string[] };
      Config: { Env: string[]; Cmd?: string[] };
      RepoTags: string[];
    }[];
    expect(a!.RootFS.Layers).toEqual([sha256sum(t)]);
    expect(b!.RootFS.Layers).toEqual([sha256sum(t)]);
    expect(a!.Config.Env).toEqual(['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin']);
    expect(a!.Config.Cmd).toBeUndefined();
    expect(a!.RepoTags).toEqual(['myimg:1']);
    expect(b!.RepoTags).toEqual([]);
    expect(count(r, 'layers')).toBe(1);
    const rows = ok(cli(r, ['images']))
      .trim()
      .split('\n');
    expect(rows).toHaveLength(3);
    expect(rows.some((l) => /^myimg\s+1\s+/.test(l))).toBe(true);
    expect(rows.some((l) => /^<none>\s+<none>\s+/.test(l))).toBe(true);
    const json = ok(cli(r, ['images', '--format', 'json']))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, string>);
    expect(json.find((j) => j['Repository'] === 'myimg')).toMatchObject({ Tag: '1', ID: id1.slice(7, 19) });
    expect(ok(cli(r, ['images', '--format', '{{.Repository}}:{{.Tag}}', 'myimg'])).trim()).toBe('myimg:1');
  });

  it('imports from stdin with --change', () => {
    const r = newRoot();
    const t = rootfsTar(r, { x: 'y' });
    const id = ok(cli(r, ['import', '-c', 'CMD ["/x"]', '-c', 'ENV A=b', '-', 'fromstdin'], readFileSync(t))).trim();
    const [i] = JSON.parse(ok(cli(r, ['image', 'inspect', 'fromstdin']))) as {
      Id: string;
      Config: { Cmd: string[]; Env: string[] };
    }[];
    expect(i!.Id).toBe(id);
    expect(i!.Config.Cmd).toEqual(['/x']);
    expect(i!.Config.Env).toContain('A=b');
  });

  it('a malicious or corrupt tar leaves no row and no directory', async () => {
    const r = newRoot();
    ok(cli(r, ['import', rootfsTar(r, { a: 'b' })])); // the driver home exists now
    const before = graphFiles(r);
    const bad: Buffer[] = [
      await packTar([{ header: { name: '../../escape', size: 2 }, body: 'x\n' }]),
      await packTar([{ header: { name: '/abs/../../etc/evil', size: 2 }, body: 'x\n' }]),
      await packTar([
        { header: { name: 'link', type: 'symlink', linkname: '/' } },
        { header: { name: 'link/tmp/tsc-image-pwned', size: 2 }, body: 'x\n' },
      ]),
      gzipSync(Buffer.alloc(4096, 1)).subarray(0, 30),
      Buffer.from('this is not a tar archive at all, just some text\n'.repeat(20)),
      Buffer.alloc(0),
    ];
    for (const [k, buf] of bad.entries()) {
      const f = join(r, `bad${k}.tar`);
      writeFileSync(f, buf);
      const res = cli(r, ['import', f, `bad:${k}`]);
      expect(res.code, `case ${k}: ${res.stdout}${res.stderr}`).toBe(125);
      expect(res.stderr.trim().split('\n'), `case ${k}`).toHaveLength(1);
      expect(graphFiles(r), `case ${k}`).toEqual(before);
      expect(count(r, 'layers')).toBe(1);
      expect(count(r, 'images')).toBe(1);
    }
    expect(existsSync('/tmp/tsc-image-pwned')).toBe(false);
    expect(existsSync(join(r, '..', 'escape'))).toBe(false);
    fails(cli(r, ['import', join(r, 'does-not-exist.tar')]), /no such file/);
    fails(cli(r, ['import', rootfsTar(r, { a: 'c' }), 'Bad:Ref']), /invalid reference format: "Bad:Ref"/);
    expect(count(r, 'layers')).toBe(1);
  });

  it('parallel imports of the same tar all succeed and share one layer', async () => {
    const r = newRoot();
    const t = rootfsTar(r, { big: 'z'.repeat(2_000_000), small: 's' });
    ok(cli(r, ['images'])); // create the database first so the processes race on layers, not migrations
    const results = await Promise.all([1, 2, 3, 4, 5].map((k) => cliAsync(r, ['import', t, `par:${k}`])));
    for (const res of results) {
      expect(res.stderr).toBe('');
      expect(res.code).toBe(0);
    }
    expect(count(r, 'layers')).toBe(1);
    const layer = db(r).prepare('SELECT * FROM layers').get() as { cache_id: string; driver: string };
    expect(cacheDirs(r, layer.driver)).toEqual([layer.cache_id]);
  });
});

describe.skipIf(!isRoot)('tag, rmi, resolve (needs root: image layers keep file owners)', () => {
  it('tags, untags, deletes the image with its layers and their directories', async () => {
    const r = newRoot();
    const bb = await resolveImage(ctxOf(r), 'busybox');
    ok(cli(r, ['tag', 'busybox', 'myimg:1']));
    ok(cli(r, ['tag', bb.id.slice(7, 15), 'localhost:5000/a/b:v2']));
    const tags = ok(cli(r, ['images', '--format', '{{.Repository}}:{{.Tag}}']))
      .trim()
      .split('\n')
      .sort();
    expect(tags).toEqual(['busybox:latest', 'localhost:5000/a/b:v2', 'myimg:1']);
    expect(ok(cli(r, ['rmi', 'myimg:1']))).toBe('Untagged: myimg:1\n');
    // an id with tags in two repositories needs -f
    fails(cli(r, ['rmi', bb.id]), /must be forced.*multiple repositories/);
    expect(ok(cli(r, ['rmi', 'localhost:5000/a/b:v2']))).toBe('Untagged: localhost:5000/a/b:v2\n');
    const top = bb.topLayer!;
    const driver = openDriver(top.driver, join(r, top.driver));
    expect(driver.exists(top.cache_id)).toBe(true);
    const out = ok(cli(r, ['rmi', 'busybox']));
    expect(out).toBe(`Untagged: busybox:latest\nDeleted: ${bb.id}\nDeleted: ${top.chain_id}\n`);
    expect(count(r, 'images')).toBe(0);
    expect(count(r, 'layers')).toBe(0);
    expect(driver.exists(top.cache_id)).toBe(false);
    expect(cacheDirs(r, top.driver)).toEqual([]);
    fails(cli(r, ['rmi', 'busybox']), /^tscontainer: No such image: busybox:latest$/m);
  });

  it('image prune removes dangling images, -a every unused one', async () => {
    const r = newRoot();
    await resolveImage(ctxOf(r), 'busybox');
    const t = rootfsTar(r, { a: 'dangling' });
    const dangling = ok(cli(r, ['import', t])).trim();
    const out = ok(cli(r, ['image', 'prune', '-f']));
    expect(out).toContain(`deleted: ${dangling}`);
    expect(out).toMatch(/Total reclaimed space: /);
    expect(count(r, 'images')).toBe(1);
    expect(count(r, 'layers')).toBe(1);
    expect(ok(cli(r, ['image', 'prune', '-f']))).toBe('Total reclaimed space: 0B\n');
    // without -f it asks first, as docker does; no answer (closed stdin) means no
    const declined = cli(r, ['image', 'prune', '-a']);
    expect(declined.code).toBe(0);
    expect(declined.stderr).toContain('Are you sure you want to continue? [y/N]');
    expect(count(r, 'images')).toBe(1);
    const agreed = cli(r, ['image', 'prune', '-a'], 'y\n');
    expect(agreed.code).toBe(0);
    expect(agreed.stdout).toContain('untagged: busybox:latest');
    expect(count(r, 'images')).toBe(0);
    expect(count(r, 'layers')).toBe(0);
  });

  it('rmi -f of an id removes every tag', async () => {
    const r = newRoot();
    const bb = await resolveImage(ctxOf(r), 'busybox');
    ok(cli(r, ['tag', 'busybox', 'other/repo:x']));
    const out = ok(cli(r, ['rmi', '-f', bb.id.slice(7, 19)]));
    expect(out.split('\n')).toEqual(
      expect.arrayContaining(['Untagged: busybox:latest', 'Untagged: other/repo:x', `Deleted: ${bb.id}`]),
    );
    expect(count(r, 'layers')).toBe(0);
  });

  it('rmi refuses an image a container uses; -f only untags it', async () => {
    const r = newRoot();
    const bb = await resolveImage(ctxOf(r), 'busybox');
    insertContainer(db(r), {
      id: 'c'.repeat(64),
      name: 'user1',
      image_id: bb.id,
      image_ref: 'busybox',
      config: '{}',
      driver: bb.driver,
      init_layer: 'i'.repeat(32),
      rw_layer: 'w'.repeat(32),
      created_at: new Date().toISOString(),
    });
    fails(
      cli(r, ['rmi', 'busybox']),
      /conflict: unable to remove repository reference "busybox" \(must force\) - container cccccccccccc is using its referenced image/,
    );
    fails(cli(r, ['rmi', bb.id]), /must be forced\) - image is being used by stopped container cccccccccccc/);
    expect(ok(cli(r, ['rmi', '-f', 'busybox']))).toBe('Untagged: busybox:latest\n');
    expect(count(r, 'images')).toBe(1);
    expect(count(r, 'layers')).toBe(1);
    expect(
      ok(cli(r, ['images']))
        .trim()
        .split('\n')[1],
    ).toMatch(/^<none>\s+<none>\s+/);
    db(r).prepare("UPDATE containers SET state = 'running'").run();
    fails(cli(r, ['rmi', '-f', bb.id]), /cannot be forced\) - image is being used by running container/);
    db(r).prepare('DELETE FROM containers').run();
    expect(ok(cli(r, ['rmi', bb.id]))).toBe(`Deleted: ${bb.id}\nDeleted: ${bb.topLayer!.chain_id}\n`);
  });

  it('resolves ids, prefixes, and refuses bad, missing and ambiguous names', async () => {
    const r = newRoot();
    const ctx = ctxOf(r);
    const bb = await resolveImage(ctx, 'busybox');
    expect((await resolveImage(ctx, bb.id)).id).toBe(bb.id);
    expect((await resolveImage(ctx, bb.id.slice(0, 12))).id).toBe(bb.id);
    expect((await resolveImage(ctx, bb.id.slice(7, 11))).id).toBe(bb.id);
    await expect(resolveImage(ctx, 'nosuch')).rejects.toThrow("Unable to find image 'nosuch:latest' locally");
    await expect(resolveImage(ctx, 'nosuch')).rejects.toMatchObject({ exitCode: 125 });
    await expect(resolveImage(ctx, 'a::b')).rejects.toThrow(/^invalid reference format: "a::b"/);
    fails(cli(r, ['tag', 'busybox', 'UPPER']), /^tscontainer: invalid reference format: "UPPER"/);
    fails(cli(r, ['tag', 'busybox', '--', '-x']), /invalid reference format: "-x"/);
    fails(cli(r, ['tag', 'nosuch', 'x']), /Unable to find image 'nosuch:latest' locally/);
    fails(cli(r, ['image', 'inspect', 'nosuch']), /No such image: nosuch:latest/);
    // make two images whose ids share the first hex digit
    const byFirst = new Map<string, string>([[bb.id[7]!, bb.id]]);
    let pair: [string, string] | undefined;
    for (let k = 0; k < 40 && !pair; k++) {
      const id = ok(cli(r, ['import', rootfsTar(r, { f: String(k) })])).trim();
      const seen = byFirst.get(id[7]!);
      if (seen) pair = [seen, id];
      byFirst.set(id[7]!, id);
    }
    expect(pair).toBeDefined();
    const prefix = pair![0].slice(7, 8);
    await expect(resolveImage(ctx, `sha256:${prefix}`)).rejects.toThrow(/ambiguous/);
    fails(cli(r, ['rmi', `sha256:${prefix}`]), /ambiguous/);
  });

  it('refuses to mix storage drivers in one state root', async () => {
    const r = newRoot();
    const bb = await resolveImage(ctxOf(r), 'busybox');
    const other = bb.driver === 'vfs' ? 'overlay' : 'vfs';
    const res = cli(r, ['--storage-driver', other, 'import', rootfsTar(r, { a: 'b' })]);
    fails(res, new RegExp(`already holds layers or containers of the "${bb.driver}" storage driver`));
    expect(count(r, 'layers')).toBe(1);
    // the same driver named explicitly is fine
    ok(cli(r, ['--storage-driver', bb.driver, 'import', rootfsTar(r, { a: 'b' })]));
  });

  it('vfs works as an explicit driver from the start', async () => {
    const r = newRoot();
    const bb = await resolveImage(ctxOf(r, 'vfs'), 'busybox');
    expect(bb.driver).toBe('vfs');
    const vfs = openDriver('vfs', join(r, 'vfs'));
    expect(vfs.exists(bb.topLayer!.cache_id)).toBe(true);
    expect(ok(cli(r, ['rmi', 'busybox']))).toContain('Deleted: ');
    expect(vfs.exists(bb.topLayer!.cache_id)).toBe(false);
    expect(count(r, 'layers')).toBe(0);
  });
});
