// Our image config against podman's (buildah's builder) for the same Dockerfile on the same
// busybox, field by field. podman gets its own storage, run root and containers.conf in a
// temporary directory (never the host's), runc as its runtime (crun needs a hugetlb v1
// hierarchy on this hybrid layout), and --network none; all of it is removed afterwards.
import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeRoot, REPO } from './support/cli.js';

const isRoot = process.getuid?.() === 0;
const podmanPath = ['/usr/bin/podman', '/usr/local/bin/podman'].find((p) => {
  try {
    readFileSync(p);
    return true;
  } catch {
    return false;
  }
});
const skipReason = !isRoot ? 'needs root' : podmanPath === undefined ? 'podman is not installed' : '';

const DOCKERFILE = [
  'FROM busybox AS base',
  'ARG VERSION=1.2',
  'ENV APP_HOME=/srv/app APP_VERSION=$VERSION',
  'LABEL org.example.name="demo app" org.example.version=${VERSION}',
  'RUN mkdir -p $APP_HOME && echo built > $APP_HOME/built',
  'WORKDIR $APP_HOME',
  'COPY app.txt ./',
  'USER 1000:1000',
  'EXPOSE 8080 53/udp',
  'VOLUME /data',
  'STOPSIGNAL SIGINT',
  'HEALTHCHECK --interval=30s --timeout=5s --retries=2 CMD wget -q -O- localhost:8080 || exit 1',
  'SHELL ["/bin/sh", "-ec"]',
  'ONBUILD RUN echo child',
  'ENTRYPOINT ["/bin/sh"]',
  'CMD ["-c", "cat built app.txt"]',
].join('\n');

type Json = Record<string, unknown>;

describe.skipIf(skipReason !== '')(
  `build: image config as podman makes it${skipReason ? ` (skipped: ${skipReason})` : ''}`,
  () => {
    const work = mkdtempSync(join(tmpdir(), 'tsc-build-cmp-'));
    const env = { ...process.env, CONTAINERS_CONF: join(work, 'containers.conf') };
    const podman = (args: string[]) =>
      execa('podman', ['--root', join(work, 'root'), '--runroot', join(work, 'run'), '--storage-driver', 'overlay', ...args], {
        env,
        reject: false,
        timeout: 120_000,
      });

    afterAll(async () => {
      await podman(['system', 'reset', '-f']);
      for (const m of readFileSync('/proc/self/mounts', 'utf8').split('\n')) {
        const p = m.split(' ')[1];
        if (p?.startsWith(work)) await execa('umount', ['-l', p], { reject: false });
      }
      rmSync(work, { recursive: true, force: true });
    });

    it('gives the same Config, history shape and layer count', async () => {
      writeFileSync(
        join(work, 'containers.conf'),
        [
          '[containers]',
          'default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]',
          '[engine]',
          'cgroup_manager = "cgroupfs"',
          'events_logger = "file"',
          `events_logfile_path = "${work}/events.log"`,
          'runtime = "runc"',
          '[network]',
          `network_config_dir = "${work}/networks"`,
          '',
        ].join('\n'),
      );
      // our built-in busybox as a docker-archive, so both builds start from the same image
      const out = join(REPO, 'images', 'busybox', 'out');
      const arch = join(work, 'arch');
      mkdirSync(arch);
      copyFileSync(join(out, 'layer.tar'), join(arch, 'layer.tar'));
      const diffId = `sha256:${createHash('sha256')
        .update(readFileSync(join(arch, 'layer.tar')))
        .digest('hex')}`;
      const cfg = {
        ...(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as Json),
        rootfs: { type: 'layers', diff_ids: [diffId] },
      };
      const raw = JSON.stringify(cfg);
      const cfgName = `${createHash('sha256').update(raw).digest('hex')}.json`;
      writeFileSync(join(arch, cfgName), raw);
      writeFileSync(
        join(arch, 'manifest.json'),
        JSON.stringify([{ Config: cfgName, RepoTags: ['docker.io/library/busybox:latest'], Layers: ['layer.tar'] }]),
      );
      await execa('tar', ['-C', arch, '-cf', join(work, 'busybox.tar'), ...readdirSync(arch)]);
      const load = await podman(['load', '-i', join(work, 'busybox.tar')]);
      expect(load.exitCode, load.stderr).toBe(0);

      const ctx = join(work, 'ctx');
      mkdirSync(ctx);
      writeFileSync(join(ctx, 'app.txt'), 'app\n');
      writeFileSync(join(ctx, 'Dockerfile'), DOCKERFILE);
      const pb = await podman(['build', '--network', 'none', '--format', 'docker', '-t', 'cmp', ctx]);
      expect(pb.exitCode, pb.stderr).toBe(0);
      const theirs = JSON.parse((await podman(['image', 'inspect', 'cmp'])).stdout) as Json[];
      // podman's inspect shows the OCI view; buildah's has the docker config podman wrote
      // (Healthcheck, OnBuild, Shell) and the docker history
      const bi = await execa(
        'buildah',
        [
          '--root',
          join(work, 'root'),
          '--runroot',
          join(work, 'run'),
          '--storage-driver',
          'overlay',
          'inspect',
          '--type',
          'image',
          'cmp',
        ],
        {
          env,
          reject: false,
        },
      );
      expect(bi.exitCode, bi.stderr).toBe(0);
      const docker = (JSON.parse(bi.stdout) as { Docker: { config: Json; history: { empty_layer?: boolean }[] } }).Docker;

      const r = makeRoot('build-cmp');
      try {
        const ob = await r.run(['build', '--network', 'none', '-t', 'cmp', ctx]);
        expect(ob.exitCode, ob.stderr).toBe(0);
        const ours = JSON.parse((await r.run(['image', 'inspect', 'cmp'])).stdout) as Json[];
        const tc = docker.config;
        const oc = ours[0]!['Config'] as Json;
        const labels = { ...(tc['Labels'] as Record<string, string>) };
        delete labels['io.buildah.version'];
        for (const field of [
          'Env',
          'Cmd',
          'Entrypoint',
          'WorkingDir',
          'User',
          'ExposedPorts',
          'Volumes',
          'StopSignal',
          'OnBuild',
          'Shell',
        ]) {
          expect(oc[field] ?? null, field).toEqual(tc[field] ?? null);
        }
        expect(oc['Labels'], 'Labels').toEqual(labels);
        expect(oc['Healthcheck'], 'Healthcheck').toEqual(tc['Healthcheck']);
        // the same layers are made (RUN and COPY), metadata steps are empty
        const layersOf = (i: Json) => ((i['RootFS'] as { Layers: string[] }).Layers ?? []).length;
        expect(layersOf(ours[0]!)).toBe(layersOf(theirs[0]!));
        const theirsHist = docker.history.map((e) => e.empty_layer === true);
        const ourConfig = (
          await execa('sqlite3', [
            join(r.root, 'state.db'),
            "SELECT config FROM images JOIN tags ON tags.image_id = images.id WHERE tags.name LIKE '%/cmp:latest'",
          ])
        ).stdout;
        const oursHist = (JSON.parse(ourConfig) as { history: { empty_layer?: boolean }[] }).history.map(
          (e) => e.empty_layer === true,
        );
        expect(oursHist).toEqual(theirsHist);
        expect(ours[0]!['Author'] ?? '').toBe('');
      } finally {
        expect(await r.cleanup()).toEqual([]);
      }
    });
  },
);
