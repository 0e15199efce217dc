// Issue 8, archives: save and load in docker-archive, OCI archive and OCI layout form, round
// trips, compressed layers, image indexes, and the archives skopeo and podman write and read
// (their storage in temporary directories, never the host's).
import { execa } from 'execa';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, makeRoot, REPO, type CliResult, type TestRoot } from './support/cli.js';
import { buildImage, manifestDescriptor, sha, tarOf, writeOciDir } from './support/oci.js';

const haveSkopeo = existsSync('/usr/bin/skopeo');
const havePodman = existsSync('/usr/bin/podman');
const isRoot = process.getuid?.() === 0;

let t: TestRoot;
let work: string;
const extraRoots: TestRoot[] = [];
let busyboxTar: Buffer;

function fresh(label: string): TestRoot {
  const r = makeRoot(label);
  extraRoots.push(r);
  return r;
}

function ok(r: CliResult): string {
  expect(r.stderr, r.stderr).toBe('');
  expect(r.exitCode).toBe(0);
  return r.stdout;
}

async function runWithStdin(root: TestRoot, args: string[], file: string): Promise<CliResult> {
  const r = await execa('node', [CLI, ...args], { env: root.env, inputFile: file, reject: false, timeout: 60_000 });
  return { exitCode: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function fileDigest(p: string): string {
  return `sha256:${createHash('sha256').update(readFileSync(p)).digest('hex')}`;
}

beforeAll(async () => {
  if (!isRoot) return;
  t = makeRoot('archive');
  work = mkdtempSync(join(tmpdir(), 'tsc-archive-work-'));
  ok(await t.run(['image', 'build-builtin']));
  busyboxTar = readFileSync(join(REPO, 'images', 'busybox', 'out', 'layer.tar'));
}, 120_000);

afterAll(async () => {
  if (!isRoot) return;
  for (const r of [t, ...extraRoots]) expect(await r.cleanup()).toEqual([]);
  rmSync(work, { recursive: true, force: true });
});

describe.skipIf(!isRoot)('save and load (needs root: layers keep file owners)', () => {
  it('round-trips busybox through docker-archive, oci-archive and oci-dir, and the loaded image runs', async () => {
    const ids = new Set<string>();
    for (const format of ['docker-archive', 'oci-archive', 'oci-dir']) {
      const out = join(work, `bb-${format}`);
      ok(await t.run(['save', '--format', format, '-o', out, 'busybox']));
      const t2 = fresh('archive2');
      const loaded = ok(await t2.run(['load', '-i', out]));
      expect(loaded).toBe('Loaded image: busybox:latest');
      const id = ok(await t2.run(['images', '--no-trunc', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}']));
      expect(id).toMatch(/^busybox:latest sha256:[0-9a-f]{64}$/);
      ids.add(id);
      expect(ok(await t2.run(['run', '--rm', '--network', 'none', 'busybox', 'echo', `ran-${format}`]))).toBe(`ran-${format}`);
      if (format === 'docker-archive') {
        // saving the loaded image again gives the same bytes: save after load is lossless
        const again = join(work, 'bb-again.tar');
        ok(await t2.run(['save', '-o', again, 'busybox:latest']));
        expect(fileDigest(again)).toBe(fileDigest(out));
      }
    }
    expect(ids.size).toBe(1);
    // the layer comes back byte for byte (its tar-split record), so the image keeps its id
    const original = ok(await t.run(['images', '--no-trunc', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}', 'busybox']));
    expect([...ids]).toEqual([original]);
  });

  it('a layer tar made by GNU tar (PAX headers, long names, hard links) survives load -> save -> load exactly', async () => {
    const src = join(work, 'gnu-src');
    fs.mkdirSync(join(src, 'a'.repeat(120), 'deep'), { recursive: true });
    writeFileSync(join(src, 'a'.repeat(120), 'deep', 'file-with-a-long-name-' + 'x'.repeat(80)), 'long\n');
    writeFileSync(join(src, 'big.bin'), Buffer.alloc(3 * 1024 * 1024 + 17, 7));
    fs.linkSync(join(src, 'big.bin'), join(src, 'hard.bin'));
    fs.symlinkSync('big.bin', join(src, 'sym'));
    writeFileSync(join(src, 'empty'), '');
    const layer = join(work, 'gnu.tar');
    await execa('tar', ['--format=posix', '-C', src, '-cf', layer, '.']);
    const img = buildImage({
      layers: [
        { tar: busyboxTar, compression: 'gzip' },
        { tar: readFileSync(layer), compression: 'gzip' },
      ],
    });
    const dir = join(work, 'gnu-oci');
    writeOciDir(dir, img.blobs, { schemaVersion: 2, manifests: [manifestDescriptor(img, 'example.com/gnu:1')] });
    const t2 = fresh('archive-gnu');
    ok(await t2.run(['load', '-i', dir]));
    const saved = join(work, 'gnu-saved.tar');
    ok(await t2.run(['save', '-o', saved, 'example.com/gnu:1']));
    const t3 = fresh('archive-gnu2');
    ok(await t3.run(['load', '-i', saved]));
    expect(ok(await t3.run(['image', 'inspect', '--format', '{{.Id}}', 'example.com/gnu:1']))).toBe(img.configDigest);
    // the saved layer is the very tar GNU tar wrote
    const listing = (await execa('tar', ['-tf', saved])).stdout.split('\n');
    expect(listing).toContain(`${sha(readFileSync(layer)).slice(7)}.tar`);
  });

  it('loads from stdin, plain and gzip-compressed; -q prints the image id; loading twice changes nothing', async () => {
    const plain = join(work, 'stdin.tar');
    ok(await t.run(['save', '-o', plain, 'busybox']));
    await execa('sh', ['-c', `gzip -1 -c ${plain} > ${plain}.gz`]);
    const t2 = fresh('archive-stdin');
    expect(ok(await runWithStdin(t2, ['load'], `${plain}.gz`))).toBe('Loaded image: busybox:latest');
    const id = ok(await runWithStdin(t2, ['load', '-q'], plain));
    expect(id).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(ok(await t2.run(['images', '-q', '--no-trunc']))).toBe(id);
    expect(existsSync(join(t2.root, 'tmp')) ? readdirNames(join(t2.root, 'tmp')) : []).toEqual([]);
  });

  it('loads a hand-made OCI layout: gzip and zstd layers, a whiteout, an index with two platforms', async () => {
    const top = await tarOf([
      { header: { name: 'etc/', type: 'directory', mode: 0o755 } },
      { header: { name: 'etc/greeting' }, body: 'hello from zstd\n' },
      { header: { name: 'etc/.wh.motd' } },
    ]);
    const mid = await tarOf([{ header: { name: 'etc/motd' }, body: 'to be deleted\n' }]);
    const amd = buildImage({
      layers: [
        { tar: busyboxTar, compression: 'gzip' },
        { tar: mid, compression: 'none' },
        { tar: top, compression: 'zstd' },
      ],
    });
    const arm = buildImage({ layers: [{ tar: mid, compression: 'gzip' }], architecture: 'arm64' });
    const indexBlob = JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        manifestDescriptor(amd, undefined, { os: 'linux', architecture: 'amd64' }),
        manifestDescriptor(arm, undefined, { os: 'linux', architecture: 'arm64' }),
      ],
    });
    const blobs = new Map([...amd.blobs, ...arm.blobs, [sha(indexBlob), Buffer.from(indexBlob)]]);
    const dir = join(work, 'multi');
    writeOciDir(dir, blobs, {
      schemaVersion: 2,
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.index.v1+json',
          digest: sha(indexBlob),
          size: Buffer.byteLength(indexBlob),
          annotations: { 'org.opencontainers.image.ref.name': 'example.com/team/multi:1' },
        },
      ],
    });
    const t2 = fresh('archive-oci');
    expect(ok(await t2.run(['load', '-i', dir]))).toBe('Loaded image: example.com/team/multi:1');
    expect(ok(await t2.run(['image', 'inspect', '--format', '{{.Id}} {{.Architecture}}', 'example.com/team/multi:1']))).toBe(
      `${amd.configDigest} amd64`,
    );
    const r = ok(
      await t2.run([
        'run',
        '--rm',
        '--network',
        'none',
        'example.com/team/multi:1',
        'sh',
        '-c',
        'cat /etc/greeting; ls /etc/motd 2>&1 || true',
      ]),
    );
    expect(r).toMatch(/^hello from zstd\n.*No such file/s);
    // the other platform, on request; its layer is the same as the amd64 image's second one, but
    // as a base layer it has another chainID, so it is a new layer
    const t3 = fresh('archive-arm');
    ok(await t3.run(['load', '--platform', 'linux/arm64', '-i', dir]));
    expect(ok(await t3.run(['image', 'inspect', '--format', '{{.Architecture}}', 'example.com/team/multi:1']))).toBe('arm64');
    const none = await t3.run(['load', '--platform', 'linux/s390x', '-i', dir]);
    expect(none.exitCode).toBe(125);
    expect(none.stderr).toMatch(/no image for linux\/s390x \(it has linux\/amd64, linux\/arm64\)/);
  });
});

function readdirNames(d: string): string[] {
  return fs.readdirSync(d);
}

describe.skipIf(!isRoot || !haveSkopeo)(
  `skopeo reads what save writes, and what it writes loads here${haveSkopeo ? '' : ' (skipped: skopeo is not installed)'}`,
  () => {
    it('skopeo inspects and copies our docker-archive and OCI archive; its zstd OCI layout loads and runs', async () => {
      const da = join(work, 'sk.tar');
      const oa = join(work, 'sk.oci.tar');
      ok(await t.run(['save', '-o', da, 'busybox']));
      ok(await t.run(['save', '--format', 'oci-archive', '-o', oa, 'busybox']));
      const a = JSON.parse((await execa('skopeo', ['inspect', `docker-archive:${da}`])).stdout) as {
        Layers: string[];
        Os: string;
      };
      expect(a.Os).toBe('linux');
      expect(a.Layers).toHaveLength(1);
      const b = JSON.parse((await execa('skopeo', ['inspect', `oci-archive:${oa}:docker.io/library/busybox:latest`])).stdout) as {
        Layers: string[];
      };
      expect(b.Layers).toHaveLength(1);
      const zdir = join(work, 'sk-zstd');
      await execa('skopeo', ['copy', '-q', '--dest-compress-format', 'zstd', `docker-archive:${da}`, `oci:${zdir}:zimg`]);
      const t2 = fresh('archive-skopeo');
      const loaded = ok(await t2.run(['load', '-q', '-i', zdir]));
      expect(ok(await t2.run(['run', '--rm', '--network', 'none', loaded, 'echo', 'zstd-ok']))).toBe('zstd-ok');
      const dl = join(work, 'sk-copy.tar');
      await execa('skopeo', [
        'copy',
        '-q',
        `oci-archive:${oa}:docker.io/library/busybox:latest`,
        `docker-archive:${dl}:skopeo/copied:1`,
      ]);
      expect(ok(await t2.run(['load', '-i', dl]))).toBe('Loaded image: skopeo/copied:1');
    });
  },
);

describe.skipIf(!isRoot || !havePodman)(
  `podman loads and runs what save writes, and its archives load here${havePodman ? '' : ' (skipped: podman is not installed)'}`,
  () => {
    it('save -> podman load -> podman run; podman save (docker and OCI) -> load -> run', async () => {
      const p = mkdtempSync(join(tmpdir(), 'tsc-podman-'));
      const cgroupParent = `/tsc-podman-test-${p.slice(-6).toLowerCase()}`;
      writeFileSync(
        join(p, 'containers.conf'),
        '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\nruntime = "runc"\n',
      );
      const podman = (args: string[]) =>
        execa(
          'podman',
          [
            '--root',
            join(p, 'root'),
            '--runroot',
            join(p, 'run'),
            '--tmpdir',
            join(p, 'tmp'),
            '--storage-driver',
            'vfs',
            ...args,
          ],
          {
            env: { ...process.env, CONTAINERS_CONF: join(p, 'containers.conf') },
            reject: false,
          },
        );
      try {
        const da = join(work, 'pm.tar');
        ok(await t.run(['tag', 'busybox', 'example.com/pm/box:1']));
        ok(await t.run(['save', '-o', da, 'example.com/pm/box:1']));
        const l = await podman(['load', '-q', '-i', da]);
        expect(l.stdout).toContain('example.com/pm/box:1');
        const r = await podman([
          'run',
          '--pull',
          'never',
          '--rm',
          '--network',
          'none',
          '--cgroup-parent',
          cgroupParent,
          'example.com/pm/box:1',
          'echo',
          'podman-ran-it',
        ]);
        expect(r.stdout).toBe('podman-ran-it');
        for (const format of ['docker-archive', 'oci-archive']) {
          const out = join(p, `podman-${format}.tar`);
          expect((await podman(['save', '--format', format, '-o', out, 'example.com/pm/box:1'])).exitCode).toBe(0);
          const t2 = fresh('archive-podman');
          expect(ok(await t2.run(['load', '-i', out]))).toBe('Loaded image: example.com/pm/box:1');
          expect(ok(await t2.run(['run', '--rm', '--network', 'none', 'example.com/pm/box:1', 'echo', format]))).toBe(format);
        }
      } finally {
        await podman(['rm', '-af']);
        for (const ctrl of fs.readdirSync('/sys/fs/cgroup')) {
          const d = join('/sys/fs/cgroup', ctrl, cgroupParent);
          if (fs.existsSync(d)) await execa('find', [d, '-depth', '-type', 'd', '-exec', 'rmdir', '{}', ';'], { reject: false });
        }
        await execa('umount', ['-R', join(p, 'root')], { reject: false });
        rmSync(p, { recursive: true, force: true });
      }
    }, 120_000);
  },
);
