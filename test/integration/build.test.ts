// `tscontainer build` end to end on the built-in busybox, as root: each test has its own state
// root (makeRoot) and context directory, and cleanup() checks that no mount, cgroup or veth is
// left. RUN steps use --network none except in the one test of the default network.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { afterEach, describe, expect, it } from 'vitest';
import { CLI, makeRoot, type TestRoot } from './support/cli.js';

const isRoot = process.getuid?.() === 0;
const roots: TestRoot[] = [];
const dirs: string[] = [];

function root(): TestRoot {
  const r = makeRoot('build');
  roots.push(r);
  return r;
}

function context(files: Record<string, string | Buffer>): string {
  const d = mkdtempSync(join(tmpdir(), 'tsc-build-ctx-'));
  dirs.push(d);
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(join(d, name, '..'), { recursive: true });
    writeFileSync(join(d, name), content);
  }
  return d;
}

afterEach(async () => {
  for (const r of roots.splice(0)) expect(await r.cleanup()).toEqual([]);
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** The step lines of a build's progress: "[3/7] CACHED ..." → { step: '3/7', cached: true } */
function steps(stderr: string): { step: string; cached: boolean }[] {
  const out: { step: string; cached: boolean }[] = [];
  for (const l of stderr.split('\n')) {
    const m = /^\[(?:\S+ )?(\d+\/\d+)\] (CACHED|DONE)/.exec(l);
    if (m) out.push({ step: m[1]!, cached: m[2] === 'CACHED' });
  }
  return out;
}

async function sql(r: TestRoot, query: string): Promise<string> {
  const { execa } = await import('execa');
  return (await execa('sqlite3', [join(r.root, 'state.db'), query])).stdout;
}

async function tarOf(files: Record<string, string>): Promise<Buffer> {
  const pack = tar.pack();
  for (const [name, content] of Object.entries(files)) pack.entry({ name, mode: 0o640, uid: 7, gid: 8 }, content);
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe.skipIf(!isRoot)('build (needs root)', () => {
  it('builds with ARG/ENV substitution, COPY, WORKDIR/USER, caches every step, and rebuilds exactly from a changed file', async () => {
    const r = root();
    const dir = context({
      'app/a.txt': 'alpha\n',
      'app/b.txt': 'beta\n',
      'conf.txt': 'conf\n',
      Dockerfile: [
        'FROM busybox',
        'ARG WHO=world',
        'ENV GREETING="hello ${WHO}" HOME_DIR=/srv/app',
        'LABEL org.example.who=$WHO',
        'RUN mkdir -p $HOME_DIR && echo "$GREETING" > $HOME_DIR/greeting && echo app:x:1234:1234::/srv/app:/bin/sh >> /etc/passwd && echo app:x:1234: >> /etc/group && chown 1234 $HOME_DIR',
        'WORKDIR $HOME_DIR',
        'COPY app ./',
        'COPY --chown=app:1234 --chmod=600 conf.txt conf/',
        'USER app',
        'RUN id -u > uid && cat conf/conf.txt',
        'EXPOSE 8080',
        'CMD ["sh", "-c", "cat greeting a.txt b.txt uid; pwd"]',
      ].join('\n'),
    });
    const b1 = await r.run(['build', '--network', 'none', '--build-arg', 'WHO=there', '-t', 'app:1', dir]);
    expect(b1.stderr).toContain('[5/12] RUN mkdir');
    expect(b1.exitCode, b1.stderr).toBe(0);
    const id = b1.stdout.trim();
    expect(id).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(steps(b1.stderr).every((s) => !s.cached)).toBe(true);

    const run = await r.run(['run', '--rm', '--network', 'none', 'app:1']);
    expect(run.stdout.split('\n')).toEqual(['hello there', 'alpha', 'beta', '1234', '/srv/app']);
    const ls = await r.run(['run', '--rm', '--network', 'none', '-u', '0', 'app:1', 'ls', '-ln', 'conf/conf.txt']);
    expect(ls.stdout).toMatch(/^-rw------- +1 1234 +1234 /);

    const inspect = JSON.parse((await r.run(['image', 'inspect', 'app:1'])).stdout) as { Config: Record<string, unknown> }[];
    expect(inspect[0]!.Config).toMatchObject({
      User: 'app',
      WorkingDir: '/srv/app',
      ExposedPorts: { '8080/tcp': {} },
      Labels: { 'org.example.who': 'there' },
      Cmd: ['sh', '-c', 'cat greeting a.txt b.txt uid; pwd'],
    });
    expect(inspect[0]!.Config['Env']).toContain('GREETING=hello there');

    // history: newest first, metadata steps 0B, the id on the top row
    const hist = (await r.run(['history', '--no-trunc', '--format', 'json', 'app:1'])).stdout
      .split('\n')
      .map((l) => JSON.parse(l) as { ID: string; CreatedBy: string; Size: string });
    expect(hist[0]!.ID).toBe(id);
    expect(hist[0]!.CreatedBy).toBe('CMD ["sh","-c","cat greeting a.txt b.txt uid; pwd"]');
    expect(hist.find((h) => h.CreatedBy.startsWith('ENV '))!.Size).toBe('0B');
    expect(hist.find((h) => h.CreatedBy.startsWith('RUN |1 WHO=there /bin/sh -c mkdir'))!.Size).not.toBe('0B');
    expect((await r.run(['history', 'app:1'])).stdout.split('\n')[0]).toMatch(/^IMAGE +CREATED +CREATED BY +SIZE +COMMENT$/);

    // unchanged: every step cached, the same id
    const b2 = await r.run(['build', '--network', 'none', '--build-arg', 'WHO=there', '-t', 'app:1', dir]);
    expect(b2.exitCode, b2.stderr).toBe(0);
    expect(b2.stdout.trim()).toBe(id);
    expect(steps(b2.stderr)).toHaveLength(11);
    expect(steps(b2.stderr).every((s) => s.cached)).toBe(true);

    // one byte changed in one copied file: that COPY (step 7) and everything after it rebuild
    writeFileSync(join(dir, 'app/b.txt'), 'betA\n');
    const b3 = await r.run(['build', '--network', 'none', '--build-arg', 'WHO=there', '-t', 'app:2', dir]);
    expect(b3.exitCode, b3.stderr).toBe(0);
    expect(steps(b3.stderr).map((s) => s.cached)).toEqual([
      true,
      true,
      true,
      true,
      true,
      false,
      false,
      false,
      false,
      false,
      false,
    ]);
    expect(b3.stdout.trim()).not.toBe(id);
    expect((await r.run(['run', '--rm', '--network', 'none', 'app:2'])).stdout).toContain('betA');

    // another build arg value changes the steps that use it
    const b4 = await r.run(['build', '--network', 'none', '--build-arg', 'WHO=you', '-t', 'app:3', dir]);
    expect(steps(b4.stderr)[0]!.cached).toBe(false);

    // --no-cache runs every step again
    const b5 = await r.run(['build', '--no-cache', '-q', '--network', 'none', '--build-arg', 'WHO=there', dir]);
    expect(b5.exitCode, b5.stderr).toBe(0);
    expect(b5.stderr).toBe('');
    expect(b5.stdout.trim()).not.toBe(id);
    expect(await sql(r, 'SELECT count(*) FROM containers')).toBe('0');
  });

  it('multi-stage: COPY --from, --target, only the stages needed are built, and ONBUILD triggers', async () => {
    const r = root();
    const dir = context({
      'src.txt': 'source\n',
      Dockerfile: [
        'FROM busybox AS build',
        'COPY src.txt /src/',
        'RUN mkdir /out && tr a-z A-Z < /src/src.txt > /out/result',
        '',
        'FROM busybox AS broken',
        'RUN exit 1',
        '',
        'FROM scratch AS runtime',
        'COPY --from=build /out/result /bin/busybox /',
        'COPY --from=0 /src /copied/',
        'ENTRYPOINT ["/busybox"]',
        'CMD ["cat", "/result"]',
        '',
        'FROM runtime AS extra',
        'LABEL extra=1',
      ].join('\n'),
    });
    const b = await r.run(['build', '--network', 'none', '--target', 'runtime', '-t', 'multi', dir]);
    expect(b.exitCode, b.stderr).toBe(0);
    expect(b.stderr).not.toContain('exit 1');
    expect(b.stderr).toContain('[runtime 2/5] COPY --from=build');
    const run = await r.run(['run', '--rm', '--network', 'none', 'multi']);
    expect(run.stdout).toBe('SOURCE');
    expect((await r.run(['run', '--rm', '--network', 'none', 'multi', 'ls', '/copied'])).stdout).toBe('src.txt');
    const cfg = JSON.parse((await r.run(['image', 'inspect', '-f', '{{json .Config}}', 'multi'])).stdout) as Record<
      string,
      unknown
    >;
    expect(cfg['Entrypoint']).toEqual(['/busybox']);
    expect(cfg['Cmd']).toEqual(['cat', '/result']);
    const rootfs = JSON.parse((await r.run(['image', 'inspect', '-f', '{{json .RootFS}}', 'multi'])).stdout) as {
      Layers: string[];
    };
    expect(rootfs.Layers).toHaveLength(2);

    // ONBUILD: stored in the image, run when another build starts from it
    const base = context({ Dockerfile: 'FROM busybox\nONBUILD RUN echo triggered > /onbuild\nONBUILD COPY x.txt /x.txt\n' });
    const bb = await r.run(['build', '-q', '--network', 'none', '-t', 'onbase', base]);
    expect(bb.exitCode, bb.stderr).toBe(0);
    const ob = JSON.parse((await r.run(['image', 'inspect', '-f', '{{json .Config.OnBuild}}', 'onbase'])).stdout) as string[];
    expect(ob).toEqual(['RUN echo triggered > /onbuild', 'COPY x.txt /x.txt']);
    const child = context({ 'x.txt': 'from child\n', Dockerfile: 'FROM onbase\nCMD cat /onbuild /x.txt\n' });
    const cb = await r.run(['build', '--network', 'none', '-t', 'onchild', child]);
    expect(cb.exitCode, cb.stderr).toBe(0);
    expect((await r.run(['run', '--rm', '--network', 'none', 'onchild'])).stdout).toBe('triggered\nfrom child');
    const childOb = (await r.run(['image', 'inspect', '-f', '{{json .Config.OnBuild}}', 'onchild'])).stdout;
    expect(childOb === 'null' || childOb === '').toBe(true);

    // builder prune drops the cache and the layers only it kept (the build stage's); images stay
    const pr = await r.run(['builder', 'prune', '-f']);
    expect(pr.exitCode, pr.stderr).toBe(0);
    expect(pr.stdout).toMatch(/^Deleted build cache entries: \d+, layers: [1-9]\d*\nTotal reclaimed space: /);
    expect(await sql(r, 'SELECT count(*) FROM build_cache')).toBe('0');
    expect((await r.run(['run', '--rm', '--network', 'none', 'multi'])).stdout).toBe('SOURCE');
    expect((await r.run(['run', '--rm', '--network', 'none', 'onchild'])).stdout).toBe('triggered\nfrom child');
  });

  it('.dockerignore, ADD of a tar, heredocs, build - from stdin, --iidfile, and the default network', async () => {
    const r = root();
    const layerTar = await tarOf({ 'pkg/one': '1\n', 'pkg/two': '2\n' });
    const dir = context({
      '.dockerignore': '# comment\n*.log\nsecret/**\n!secret/keep.txt\nDockerfile\n',
      'keep.txt': 'kept\n',
      'debug.log': 'no\n',
      'secret/key': 'no\n',
      'secret/keep.txt': 'yes\n',
      'archive.tar.gz': gzipSync(layerTar),
      'plain.tar': layerTar,
      Dockerfile: [
        'FROM busybox',
        'COPY . /ctx/',
        'ADD archive.tar.gz /opt/',
        'ADD plain.tar /plain/',
        'COPY <<EOF /etc/motd',
        'hello $HOSTNAME_UNSET-x',
        'EOF',
        'RUN <<EOF',
        'echo line1 > /here',
        'echo line2 >> /here',
        'EOF',
        'RUN ip -4 addr show eth0 | grep -q inet && echo has-network',
      ].join('\n'),
    });
    const iid = join(dir, 'iid.txt');
    const b = await r.run(['build', '--iidfile', iid, '-t', 'ctx', dir]);
    expect(b.exitCode, b.stderr).toBe(0);
    expect(b.stderr).toContain('has-network');
    expect(readFileSync(iid, 'utf8')).toBe(b.stdout.trim());
    const ls = await r.run(['run', '--rm', '--network', 'none', 'ctx', 'sh', '-c', 'cd /ctx && find . -type f | sort']);
    expect(ls.stdout.split('\n')).toEqual([
      './.dockerignore',
      './archive.tar.gz',
      './keep.txt',
      './plain.tar',
      './secret/keep.txt',
    ]);
    const opt = await r.run([
      'run',
      '--rm',
      '--network',
      'none',
      'ctx',
      'sh',
      '-c',
      'cat /opt/pkg/one /plain/pkg/two /etc/motd /here; ls -ln /opt/pkg/one',
    ]);
    expect(opt.stdout).toMatch(/^1\n2\nhello -x\nline1\nline2\n-rw-r----- +1 7 +8 /);

    // ADD of a URL (a server on loopback): downloaded, mode 0600, not extracted, re-checked each build
    const { createServer } = await import('node:http');
    let body = 'served-1\n';
    const server = createServer((_req, res) => res.end(body));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const port = (server.address() as { port: number }).port;
      const url = context({ Dockerfile: `FROM busybox\nADD http://127.0.0.1:${port}/files/data.txt /dl/\n` });
      const u1 = await r.run(['build', '--network', 'none', '-t', 'dl', url]);
      expect(u1.exitCode, u1.stderr).toBe(0);
      const got = await r.run([
        'run',
        '--rm',
        '--network',
        'none',
        'dl',
        'sh',
        '-c',
        'cat /dl/data.txt; stat -c %a /dl/data.txt',
      ]);
      expect(got.stdout).toBe('served-1\n600');
      expect(steps((await r.run(['build', '--network', 'none', url])).stderr)[0]!.cached).toBe(true);
      body = 'served-2\n';
      expect(steps((await r.run(['build', '--network', 'none', url])).stderr)[0]!.cached).toBe(false);
    } finally {
      server.close();
    }

    // a Dockerfile from stdin has no context
    const s = await r.run(['build', '-q', '--network', 'none', '-'], { input: 'FROM busybox\nRUN echo x > /y\n' });
    expect(s.exitCode, s.stderr).toBe(0);
    const s2 = await r.run(['build', '-q', '--network', 'none', '-'], { input: 'FROM busybox\nCOPY a /a\n' });
    expect(s2.exitCode).toBe(1);
    expect(s2.stderr).toMatch(/Dockerfile:2:1: COPY a: there is no build context/);
    // a source outside the context (or excluded) is not found
    const bad = context({ Dockerfile: 'FROM busybox\nCOPY ../../etc/passwd /x\n', link: '' });
    const o = await r.run(['build', '-q', '--network', 'none', bad]);
    expect(o.exitCode).toBe(1);
    expect(o.stderr).toMatch(/"..\/..\/etc\/passwd" not found in the build context/);
  });

  it('a failing RUN prints its output and exit code, exits 1 and leaves nothing; a bad line names line and column', async () => {
    const r = root();
    await r.run(['image', 'inspect', 'busybox']); // provide busybox first
    const layersBefore = await sql(r, 'SELECT count(*) FROM layers');
    const dir = context({ Dockerfile: 'FROM busybox\nRUN echo partial > /p\nRUN echo to-stdout; echo to-stderr >&2; exit 7\n' });
    const b = await r.run(['build', '--network', 'none', '-t', 'broken', dir]);
    expect(b.exitCode).toBe(1);
    expect(b.stderr).toContain('to-stdout');
    expect(b.stderr).toContain('to-stderr');
    expect(b.stderr).toMatch(
      /process "\/bin\/sh -c echo to-stdout; echo to-stderr >&2; exit 7" did not complete successfully: exit code: 7/,
    );
    expect(await sql(r, 'SELECT count(*) FROM containers')).toBe('0');
    expect(await sql(r, 'SELECT count(*) FROM images WHERE id NOT IN (SELECT image_id FROM tags)')).toBe('0');
    expect((await r.run(['images', '-q'])).stdout.split('\n')).toHaveLength(1);
    // the successful step before it stays cached (as docker's), nothing else
    expect(Number(await sql(r, 'SELECT count(*) FROM layers'))).toBe(Number(layersBefore) + 1);

    const q = await r.run(['build', '-q', '--network', 'none', dir]);
    expect(q.exitCode).toBe(1);
    expect(q.stderr).toContain('to-stderr');

    // independent stages build at the same time; one failing stops the other's step at once
    const par = context({
      Dockerfile:
        'FROM busybox AS slow\nRUN sleep 20\nFROM busybox AS bad\nRUN exit 4\nFROM busybox\nCOPY --from=slow /etc/hostname /a\nCOPY --from=bad /etc/hostname /b\n',
    });
    const t0 = Date.now();
    const pb = await r.run(['build', '--network', 'none', par]);
    expect(pb.exitCode).toBe(1);
    expect(pb.stderr).toMatch(/\[bad 2\/2\] ERROR: process "\/bin\/sh -c exit 4" did not complete successfully: exit code: 4/);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(await sql(r, 'SELECT count(*) FROM containers')).toBe('0');
    expect(await sql(r, 'SELECT count(*) FROM images WHERE id NOT IN (SELECT image_id FROM tags)')).toBe('0');

    const syntax = context({ Dockerfile: 'FROM busybox\n\n  RUNN echo\n' });
    const e = await r.run(['build', syntax]);
    expect(e.exitCode).toBe(1);
    expect(e.stderr.trim()).toBe('tscontainer: Dockerfile:3:3: unknown instruction: RUNN');
    // a bad flag is the CLI's own error (125), as docker's
    expect((await r.run(['build', '-t', 'Bad:Name', syntax])).exitCode).toBe(125);
    expect((await r.run(['build', '--network', 'bridge0', syntax])).exitCode).toBe(125);
  });

  it('Ctrl-C during a RUN stops the build and leaves no container, cgroup or mount', async () => {
    const r = root();
    await r.run(['image', 'inspect', 'busybox']);
    const dir = context({ Dockerfile: 'FROM busybox\nRUN echo started; sleep 30\n' });
    const child = spawn('node', [CLI, 'build', '--network', 'none', dir], { env: r.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    const sawStart = new Promise<void>((resolve) => {
      child.stderr.setEncoding('utf8').on('data', (d: string) => {
        stderr += d;
        if (stderr.includes('started')) resolve();
      });
    });
    await sawStart;
    child.kill('SIGINT');
    const code = await new Promise<number>((resolve) => child.on('exit', (c) => resolve(c ?? -1)));
    expect(code).toBe(130);
    expect(stderr).toContain('the build was interrupted');
    expect(await sql(r, 'SELECT count(*) FROM containers')).toBe('0');
    expect((await r.run(['images', '-q'])).stdout.split('\n')).toHaveLength(1);
  });

  it('system prune unmounts and removes a view a killed build left, and keeps a live one', async () => {
    const r = root();
    await r.run(['images']);
    const src = context({ 'keep.txt': 'keep\n' });
    const dead = join(r.root, 'tmp', 'view-999999-abcdef');
    const live = join(r.root, 'tmp', `view-${process.pid}-abcdef`);
    mkdirSync(dead, { recursive: true });
    mkdirSync(live, { recursive: true });
    const { execa } = await import('execa');
    await execa('mount', ['--bind', '-o', 'ro', src, dead]);
    const p = await r.run(['system', 'prune', '-f']);
    expect(p.exitCode, p.stderr).toBe(0);
    expect(existsSync(dead)).toBe(false);
    expect(existsSync(live)).toBe(true);
    expect(readFileSync(join(src, 'keep.txt'), 'utf8')).toBe('keep\n');
  });

  it('diff, commit, export and cp, for a running and a stopped container', async () => {
    const r = root();
    const run = await r.run(['run', '-d', '--network', 'none', '--name', 'c', 'busybox', 'sleep', '100']);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(
      (await r.run(['exec', 'c', 'sh', '-c', 'touch /new && echo x >> /etc/group && rm /bin/vi && ln -s /etc /tmp/escape']))
        .exitCode,
    ).toBe(0);
    const diff = (await r.run(['diff', 'c'])).stdout.split('\n');
    expect(diff).toEqual(expect.arrayContaining(['A /new', 'C /etc', 'C /etc/group', 'D /bin/vi', 'A /tmp/escape']));
    expect(diff.indexOf('C /etc')).toBeLessThan(diff.indexOf('C /etc/group'));

    const commit = await r.run([
      'commit',
      '-c',
      'CMD ["cat", "/new-file"]',
      '-c',
      'ENV SNAP=1',
      '-m',
      'snapshot',
      '-a',
      'tester',
      'c',
      'snap:1',
    ]);
    expect(commit.exitCode, commit.stderr).toBe(0);
    const cfg = JSON.parse((await r.run(['image', 'inspect', 'snap:1'])).stdout) as {
      Config: { Cmd: string[]; Env: string[] };
      Author: string;
      Comment?: string;
    }[];
    expect(cfg[0]!.Config.Cmd).toEqual(['cat', '/new-file']);
    expect(cfg[0]!.Config.Env).toContain('SNAP=1');
    const hist = (await r.run(['history', '--format', 'json', 'snap:1'])).stdout
      .split('\n')
      .map((l) => JSON.parse(l) as { Comment: string });
    expect(hist[0]!.Comment).toBe('snapshot');
    const check = await r.run([
      'run',
      '--rm',
      '--network',
      'none',
      'snap:1',
      'sh',
      '-c',
      'ls /new; tail -1 /etc/group; ls /bin/vi || echo no-vi',
    ]);
    expect(check.stdout).toBe('/new\nx\nno-vi');

    // cp into a running container: a symlink in the container cannot send the file to the host
    const dir = context({ 'f.txt': 'from host\n', 'd/inner.txt': 'inner\n' });
    expect((await r.run(['cp', join(dir, 'f.txt'), 'c:/tmp/'])).exitCode).toBe(0);
    expect((await r.run(['exec', 'c', 'cat', '/tmp/f.txt'])).stdout).toBe('from host');
    expect((await r.run(['cp', join(dir, 'f.txt'), 'c:/tmp/escape/'])).exitCode).toBe(0);
    expect(() => readFileSync('/etc/f.txt')).toThrow();
    expect((await r.run(['exec', 'c', 'cat', '/etc/f.txt'])).stdout).toBe('from host');
    // and out of it, with its real /etc/hostname
    const out = join(dir, 'out');
    expect((await r.run(['cp', 'c:/etc/hostname', out])).exitCode).toBe(0);
    expect(readFileSync(out, 'utf8').trim()).toMatch(/^[0-9a-f]{12}$/);

    // stopped: cp both ways and export still work
    expect((await r.run(['stop', '-t', '0', 'c'])).exitCode).toBe(0);
    expect((await r.run(['cp', join(dir, 'd'), 'c:/srv'])).exitCode).toBe(0);
    expect((await r.run(['cp', 'c:/srv', join(dir, 'back')])).exitCode).toBe(0);
    expect(readFileSync(join(dir, 'back', 'inner.txt'), 'utf8')).toBe('inner\n');
    const tarFile = join(dir, 'c.tar');
    const exp = await r.run(['export', 'c', '-o', tarFile]);
    expect(exp.exitCode, exp.stderr).toBe(0);
    const { execa } = await import('execa');
    const names = (await execa('tar', ['tf', tarFile])).stdout.split('\n');
    expect(names).toEqual(expect.arrayContaining(['new', 'srv/inner.txt', 'tmp/f.txt', 'bin/busybox']));
    expect(names).not.toContain('bin/vi');
    const imp = await r.run(['import', tarFile, 'exported:1']);
    expect(imp.exitCode, imp.stderr).toBe(0);
    expect((await r.run(['run', '--rm', '--network', 'none', 'exported:1', '/bin/cat', '/srv/inner.txt'])).stdout).toBe('inner');
    expect((await r.run(['cp', 'c:/nope', out])).exitCode).toBe(1);
  });
});

const debianOut = join(CLI, '..', '..', 'images', 'debian', 'out', 'layer.tar');
const debianReason = !isRoot
  ? 'needs root'
  : !existsSync(debianOut)
    ? 'images/debian/out is not built (tscontainer image build-builtin debian)'
    : '';
describe.skipIf(debianReason !== '')(
  `build FROM the built-in debian:bookworm${debianReason ? ` (skipped: ${debianReason})` : ''}`,
  () => {
    it('runs bash and python3 steps offline', async () => {
      const r = root();
      const dir = context({
        Dockerfile: [
          'FROM debian:bookworm',
          'SHELL ["/bin/bash", "-euo", "pipefail", "-c"]',
          'RUN [[ -n "$BASH_VERSION" ]] && python3 -c "import json; print(json.dumps({\'ok\': True}))" > /ok.json',
          'CMD ["python3", "-c", "import json; print(json.load(open(\'/ok.json\'))[\'ok\'])"]',
        ].join('\n'),
      });
      const b = await r.run(['build', '--network', 'none', '-t', 'deb', dir], { timeout: 120_000 });
      expect(b.exitCode, b.stderr).toBe(0);
      expect((await r.run(['run', '--rm', '--network', 'none', 'deb'])).stdout).toBe('True');
    });
  },
);
