// Issue 8, registries: pull, push, login and logout against a real registry (Debian's
// docker-registry, started here on 127.0.0.1 with its own storage) over plain HTTP, over TLS
// with a CA made here, and with htpasswd auth. Credentials go to temporary DOCKER_CONFIG /
// REGISTRY_AUTH_FILE paths; nothing but loopback is ever contacted.
import { execa } from 'execa';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeRoot, REPO, type CliResult, type TestRoot } from './support/cli.js';
import { buildImage, manifestDescriptor, sha, tarOf, writeOciDir } from './support/oci.js';
import { freePort, haveRegistry, pushRaw, startRegistry, type TestRegistry } from './support/registry.js';

const isRoot = process.getuid?.() === 0;
const roots: TestRoot[] = [];
let cfgDir: string;
let busyboxTar: Buffer;

function fresh(label: string): TestRoot {
  const r = makeRoot(label);
  // never the user's own credentials
  r.env['DOCKER_CONFIG'] = join(cfgDir, label + roots.length);
  r.env['REGISTRY_AUTH_FILE'] = join(cfgDir, `none-${roots.length}.json`);
  roots.push(r);
  return r;
}

function ok(r: CliResult): string {
  expect(r.stderr, r.stderr).toBe('');
  expect(r.exitCode).toBe(0);
  return r.stdout;
}

function fails(r: CliResult, re: RegExp): void {
  expect(r.exitCode, r.stderr).toBe(125);
  expect(r.stderr).toMatch(re);
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
}

beforeAll(() => {
  cfgDir = mkdtempSync(join(tmpdir(), 'tsc-creds-'));
  busyboxTar = readFileSync(join(REPO, 'images', 'busybox', 'out', 'layer.tar'));
});

afterAll(async () => {
  for (const r of roots) expect(await r.cleanup()).toEqual([]);
  rmSync(cfgDir, { recursive: true, force: true });
});

const skip = !isRoot || !haveRegistry;
const why = haveRegistry ? '' : ' (skipped: docker-registry is not installed)';

describe.skipIf(skip)(`a plain-HTTP registry on loopback${why}`, () => {
  let reg: TestRegistry;
  beforeAll(async () => {
    reg = await startRegistry();
  });
  afterAll(async () => {
    await reg?.stop();
  });

  it('push -> pull -> run -> tag -> push (blobs skipped or mounted) -> pull by digest', async () => {
    const a = fresh('reg-a');
    const web = `${reg.host}/team/web:1`;
    ok(await a.run(['tag', 'busybox', web]));
    const pushed = ok(await a.run(['push', web]));
    const digest = /digest: (sha256:[0-9a-f]{64})/.exec(pushed)![1]!;
    expect(pushed).toMatch(/Pushed/);
    expect(ok(await a.run(['push', web]))).toMatch(/Layer already exists/);
    expect(ok(await a.run(['image', 'inspect', '--format', '{{json .RepoDigests}}', web]))).toBe(
      JSON.stringify([`${reg.host}/team/web@${digest}`]),
    );

    const b = fresh('reg-b');
    const pulled = ok(await b.run(['pull', web]));
    expect(pulled).toContain(`Digest: ${digest}`);
    expect(pulled).toContain(`Status: Downloaded newer image for ${web}`);
    expect(pulled).toMatch(/: Pull complete/);
    expect(ok(await b.run(['pull', web]))).toContain('Status: Image is up to date');
    expect(ok(await b.run(['images', '--digests', '--format', '{{.Repository}} {{.Tag}} {{.Digest}}']))).toBe(
      `${reg.host}/team/web 1 ${digest}`,
    );
    expect(ok(await b.run(['run', '--rm', '--network', 'none', web, 'echo', 'pulled-and-ran']))).toBe('pulled-and-ran');

    const copy = `${reg.host}/other/copy:2`;
    ok(await b.run(['tag', web, copy]));
    const again = ok(await b.run(['push', copy]));
    expect(again).toMatch(/Mounted from team\/web|Layer already exists/);
    expect(again).not.toMatch(/Pushed/);
    const copyDigest = /digest: (sha256:[0-9a-f]{64})/.exec(again)![1]!;
    expect(copyDigest).toBe(digest); // same config and layers, so the same manifest

    const c = fresh('reg-c');
    const byDigest = `${reg.host}/other/copy@${copyDigest}`;
    expect(ok(await c.run(['pull', '-q', byDigest]))).toBe(byDigest);
    const idB = ok(await b.run(['image', 'inspect', '--format', '{{.Id}}', web]));
    expect(ok(await c.run(['image', 'inspect', '--format', '{{.Id}}', byDigest]))).toBe(idB);
    expect(ok(await c.run(['images', '--digests', '--format', '{{.Repository}} {{.Tag}} {{.Digest}}']))).toBe(
      `${reg.host}/other/copy <none> ${copyDigest}`,
    );
    expect(ok(await c.run(['run', '--rm', '--network', 'none', byDigest, 'echo', 'by-digest']))).toBe('by-digest');
  });

  it('pull resumes from the layers already present: 4 of 5 exist, one is fetched', async () => {
    const small = await Promise.all([1, 2, 3, 4].map((i) => tarOf([{ header: { name: `layer${i}` }, body: `content ${i}\n` }])));
    const layers = [busyboxTar, ...small].map((tar) => ({ tar, compression: 'gzip' as const }));
    const five = buildImage({ layers });
    const four = buildImage({ layers: layers.slice(0, 4) });
    await pushRaw(`http://${reg.host}`, 'team/five', five.blobs, [
      { ref: '1', body: five.manifest, mediaType: 'application/vnd.oci.image.manifest.v1+json' },
    ]);
    const d = fresh('reg-resume');
    const dir = mkdtempSync(join(tmpdir(), 'tsc-four-'));
    try {
      writeOciDir(dir, four.blobs, { schemaVersion: 2, manifests: [manifestDescriptor(four, 'example.com/four:1')] });
      ok(await d.run(['load', '-i', dir]));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const out = ok(await d.run(['pull', `${reg.host}/team/five:1`]));
    expect(out.match(/: Already exists/g)).toHaveLength(4);
    expect(out.match(/: Pull complete/g)).toHaveLength(1);
    expect(ok(await d.run(['run', '--rm', '--network', 'none', `${reg.host}/team/five:1`, 'cat', '/layer1', '/layer4']))).toBe(
      'content 1\ncontent 4',
    );
  });

  it('an index we push ourselves: the host platform by default, --platform linux/arm64 on request', async () => {
    const amd = buildImage({ layers: [{ tar: busyboxTar, compression: 'gzip' }], cmd: ['echo', 'amd64'] });
    const arm = buildImage({ layers: [{ tar: busyboxTar, compression: 'gzip' }], architecture: 'arm64' });
    const index = JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        manifestDescriptor(arm, undefined, { os: 'linux', architecture: 'arm64' }),
        manifestDescriptor(amd, undefined, { os: 'linux', architecture: 'amd64' }),
      ],
    });
    const blobs = new Map([...amd.blobs, ...arm.blobs]);
    for (const m of [amd.manifestDigest, arm.manifestDigest]) blobs.delete(m);
    await pushRaw(`http://${reg.host}`, 'team/multi', blobs, [
      { ref: amd.manifestDigest, body: amd.manifest, mediaType: 'application/vnd.oci.image.manifest.v1+json' },
      { ref: arm.manifestDigest, body: arm.manifest, mediaType: 'application/vnd.oci.image.manifest.v1+json' },
      { ref: 'latest', body: index, mediaType: 'application/vnd.oci.image.index.v1+json' },
    ]);
    const e = fresh('reg-index');
    ok(await e.run(['pull', '-q', `${reg.host}/team/multi`]));
    expect(
      ok(await e.run(['image', 'inspect', '--format', '{{.Architecture}} {{json .RepoDigests}}', `${reg.host}/team/multi`])),
    ).toBe(`amd64 ${JSON.stringify([`${reg.host}/team/multi@${sha(index)}`])}`);
    expect(ok(await e.run(['run', '--rm', '--network', 'none', `${reg.host}/team/multi`]))).toBe('amd64');
    const f = fresh('reg-index-arm');
    ok(await f.run(['pull', '-q', '--platform', 'linux/arm64', `${reg.host}/team/multi`]));
    expect(ok(await f.run(['image', 'inspect', '--format', '{{.Id}} {{.Architecture}}', `${reg.host}/team/multi`]))).toBe(
      `${arm.configDigest} arm64`,
    );
    fails(await f.run(['pull', '--platform', 'linux/riscv64', `${reg.host}/team/multi`]), /has no image for linux\/riscv64/);
  });

  it('run and create pull a missing image (--pull missing), --pull never refuses, --pull always pulls again', async () => {
    const h = fresh('reg-runpull');
    const web = `${reg.host}/team/web:1`;
    fails(await h.run(['run', '--rm', '--pull', 'never', '--network', 'none', web, 'true']), /Unable to find image .* locally/);
    const r = await h.run(['run', '--rm', '--network', 'none', web, 'echo', 'pulled-by-run']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe('pulled-by-run');
    expect(r.stderr).toMatch(new RegExp(`^Unable to find image '${web}' locally\n`));
    expect(r.stderr).toMatch(/Status: Downloaded newer image/);
    const again = await h.run(['create', '--pull', 'always', '--network', 'none', web, 'true']);
    expect(again.exitCode, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/Status: Downloaded newer image|Already exists/);
    expect(ok(await h.run(['rm', again.stdout.trim()]))).toBe(again.stdout.trim());
    fails(await h.run(['run', '--pull', 'sometimes', web]), /invalid --pull "sometimes"/);
  });

  it.skipIf(!existsSync('/usr/bin/skopeo'))(
    `docker v2 schema 2 manifests that skopeo pushes pull and run${existsSync('/usr/bin/skopeo') ? '' : ' (skipped: skopeo is not installed)'}`,
    async () => {
      const a = fresh('reg-v2s2');
      const archive = join(cfgDir, 'v2s2.tar');
      ok(await a.run(['save', '-o', archive, 'busybox']));
      await execa('skopeo', [
        'copy',
        '-q',
        '--dest-tls-verify=false',
        '--format',
        'v2s2',
        `docker-archive:${archive}`,
        `docker://${reg.host}/team/v2s2:1`,
      ]);
      const m = await fetch(`http://${reg.host}/v2/team/v2s2/manifests/1`, {
        headers: { accept: 'application/vnd.docker.distribution.manifest.v2+json' },
      });
      expect(m.headers.get('content-type')).toBe('application/vnd.docker.distribution.manifest.v2+json');
      const b = fresh('reg-v2s2-pull');
      ok(await b.run(['pull', '-q', `${reg.host}/team/v2s2:1`]));
      const id = ok(await a.run(['image', 'inspect', '--format', '{{.Id}}', 'busybox']));
      expect(ok(await b.run(['image', 'inspect', '--format', '{{.Id}}', `${reg.host}/team/v2s2:1`]))).toBe(id);
      expect(ok(await b.run(['run', '--rm', '--network', 'none', `${reg.host}/team/v2s2:1`, 'echo', 'v2s2']))).toBe('v2s2');
    },
  );

  it('a missing tag, a missing repository and a closed port each end in one line and exit 125', async () => {
    const g = fresh('reg-miss');
    fails(await g.run(['pull', `${reg.host}/team/web:nope`]), /not found/);
    fails(await g.run(['pull', `${reg.host}/no/such:1`]), /not found/);
    const closed = await freePort();
    fails(await g.run(['pull', `127.0.0.1:${closed}/x/y:1`]), /cannot reach the registry 127\.0\.0\.1:\d+: ECONNREFUSED/);
    fails(await g.run(['push', `${reg.host}/team/absent:1`]), /No such image/);
    expect(ok(await g.run(['images', '-q']))).toBe('');
  });
});

describe.skipIf(skip)(`a TLS registry with a CA made here${why}`, () => {
  let reg: TestRegistry;
  beforeAll(async () => {
    reg = await startRegistry({ tls: true });
  }, 60_000);
  afterAll(async () => {
    await reg?.stop();
  });

  it('refuses an untrusted certificate, trusts certs.d/<host>/ca.crt, and --tls-verify=false skips the check', async () => {
    const a = fresh('tls-a');
    const ref = `${reg.host}/secure/box:1`;
    ok(await a.run(['tag', 'busybox', ref]));
    fails(await a.run(['push', ref]), /TLS certificate is not trusted/);
    const env = { TSCONTAINER_CERTS_D: reg.certsD! };
    expect((await a.run(['push', ref], { env })).exitCode).toBe(0);
    const b = fresh('tls-b');
    fails(await b.run(['pull', ref]), /TLS certificate is not trusted/);
    expect(ok(await b.run(['pull', '-q', ref], { env }))).toBe(ref);
    const c = fresh('tls-c');
    expect(ok(await c.run(['pull', '-q', '--tls-verify=false', ref]))).toBe(ref);
    expect(ok(await c.run(['run', '--rm', '--network', 'none', ref, 'echo', 'tls-ok']))).toBe('tls-ok');
  });
});

describe.skipIf(skip)(`a registry with htpasswd auth${why}`, () => {
  let reg: TestRegistry;
  beforeAll(async () => {
    reg = await startRegistry({ users: { alice: 's3cret pass' } });
  }, 60_000);
  afterAll(async () => {
    await reg?.stop();
  });

  it('login stores docker-compatible credentials (mode 0600) that push and pull use; logout removes them', async () => {
    const a = fresh('auth-a');
    const ref = `${reg.host}/private/box:1`;
    ok(await a.run(['tag', 'busybox', ref]));
    fails(await a.run(['push', ref]), /authentication required; run tscontainer login/);
    fails(await a.run(['login', '-u', 'alice', '--password-stdin', reg.host], { input: 'wrong\n' }), /authentication required/);
    expect(ok(await a.run(['login', '-u', 'alice', '--password-stdin', reg.host], { input: 's3cret pass\n' }))).toBe(
      'Login Succeeded',
    );
    const cfg = join(a.env['DOCKER_CONFIG']!, 'config.json');
    expect(statSync(cfg).mode & 0o777).toBe(0o600);
    const saved = JSON.parse(readFileSync(cfg, 'utf8')) as { auths: Record<string, { auth: string }> };
    expect(Buffer.from(saved.auths[reg.host]!.auth, 'base64').toString()).toBe('alice:s3cret pass');
    expect(ok(await a.run(['push', ref]))).toMatch(/digest: sha256:/);
    expect(ok(await a.run(['logout', reg.host]))).toBe(`Removing login credentials for ${reg.host}`);
    expect(JSON.parse(readFileSync(cfg, 'utf8'))).toEqual({ auths: {} });
    expect(ok(await a.run(['logout', reg.host]))).toBe(`Not logged in to ${reg.host}`);

    // podman's auth.json is read too
    const b = fresh('auth-b');
    fails(await b.run(['pull', ref]), /authentication required/);
    writeFileSync(
      b.env['REGISTRY_AUTH_FILE']!,
      JSON.stringify({ auths: { [reg.host]: { auth: Buffer.from('alice:s3cret pass').toString('base64') } } }),
    );
    expect(ok(await b.run(['pull', '-q', ref]))).toBe(ref);
  });
});
