// Issue 7's last two pieces end to end, as root: `build` on a real pseudo-terminal (the TTY
// progress, redrawn in place) and `build` pulling its base from a real registry on loopback
// (Debian's docker-registry; FROM of a missing image pulls it, --pull always pulls).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, makeRoot, type CliResult, type TestRoot } from './support/cli.js';
import { PtySession } from './support/pty.js';
import { haveRegistry, startRegistry, type TestRegistry } from './support/registry.js';

const isRoot = process.getuid?.() === 0;
const roots: TestRoot[] = [];
const dirs: string[] = [];
const sessions: PtySession[] = [];
let cfgDir: string;

function fresh(label: string): TestRoot {
  const r = makeRoot(label);
  // never the user's own credentials
  r.env['DOCKER_CONFIG'] = join(cfgDir, label + roots.length);
  r.env['REGISTRY_AUTH_FILE'] = join(cfgDir, `none-${roots.length}.json`);
  roots.push(r);
  return r;
}

function context(dockerfile: string): string {
  const d = mkdtempSync(join(tmpdir(), 'tsc-build-ctx-'));
  dirs.push(d);
  writeFileSync(join(d, 'Dockerfile'), dockerfile);
  writeFileSync(join(d, 'f.txt'), 'f\n');
  return d;
}

function ok(r: CliResult): CliResult {
  expect(r.exitCode, r.stderr).toBe(0);
  return r;
}

// eslint-disable-next-line no-control-regex
const plain = (s: string) => s.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');

beforeAll(() => {
  cfgDir = mkdtempSync(join(tmpdir(), 'tsc-creds-'));
});

afterAll(async () => {
  for (const s of sessions) s.kill();
  for (const r of roots) expect(await r.cleanup()).toEqual([]);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  rmSync(cfgDir, { recursive: true, force: true });
});

describe.skipIf(!isRoot)('build on a terminal (needs root)', () => {
  it('redraws the running step in place with its output, leaves DONE/CACHED lines, and prints a failing step whole', async () => {
    const r = fresh('bt');
    const dir = context(
      [
        'FROM busybox',
        'RUN for i in 1 2 3 4 5 6 7; do echo "tick $i"; sleep 0.15; done',
        'COPY f.txt /f.txt',
        'CMD ["sh"]',
        '',
      ].join('\n'),
    );
    const build = (args: string[]) => {
      const s = new PtySession(['node', CLI, 'build', '--network', 'none', ...args, dir], { env: r.env, cols: 100 });
      sessions.push(s);
      return s;
    };
    const s = build(['-t', 'tty:1']);
    expect(await s.exited).toBe(0);
    // the live area moved up over and cleared, again and again while RUN printed
    expect(s.output).toContain('\x1b[J');
    expect((s.output.match(/\x1b\[\d+F/g) ?? []).length).toBeGreaterThan(3);
    const out = plain(s.output);
    expect(out).toMatch(/=> tick 3/);
    expect(out).toMatch(/\[1\/4\] FROM busybox DONE \d+\.\ds/);
    expect(out).toMatch(/\[2\/4\] RUN for i in .* DONE (\d+\.\d)s/);
    expect(Number(/\[2\/4\] RUN .* DONE (\d+\.\d)s/.exec(out)![1])).toBeGreaterThanOrEqual(0.9);
    expect(out).toMatch(/\[3\/4\] COPY f\.txt \/f\.txt DONE \d+\.\ds/);
    expect(out).toMatch(/\[4\/4\] CMD \["sh"\] DONE \d+\.\ds/);
    expect(out).toMatch(/naming to tty:1 done\s+sha256:[0-9a-f]{64}\s*$/);

    const again = build(['-t', 'tty:1']);
    expect(await again.exited).toBe(0);
    const cached = plain(again.output);
    for (const n of [2, 3, 4]) expect(cached).toMatch(new RegExp(`\\[${n}/4\\] CACHED `));

    // --progress plain on a terminal: no cursor movement
    const p = build(['--progress', 'plain', '--no-cache']);
    expect(await p.exited).toBe(0);
    expect(p.output).not.toMatch(/\x1b\[\d+F/);
    expect(p.output).toMatch(/\[2\/4\] DONE \d+\.\ds/);

    const bad = context('FROM busybox\nRUN for i in $(seq 1 12); do echo "line $i"; done; exit 3\n');
    const f = new PtySession(['node', CLI, 'build', '--network', 'none', bad], { env: r.env });
    sessions.push(f);
    expect(await f.exited).toBe(1);
    const fo = plain(f.output);
    const err = fo.lastIndexOf('[2/2] ERROR:');
    expect(err, fo).toBeGreaterThan(0);
    // all twelve lines, printed in one piece just before the error, not just the last few
    const before = fo.slice(0, err);
    const block = before.slice(before.lastIndexOf('[2/2] RUN'));
    for (let i = 1; i <= 12; i++) expect(block).toMatch(new RegExp(`line ${i}\r?\n`));
    expect(fo.slice(err)).toMatch(/exit code: 3/);
  });
});

const why = haveRegistry ? '' : ' (skipped: docker-registry is not installed)';
describe.skipIf(!isRoot || !haveRegistry)(`build pulling its base from a loopback registry${why}`, () => {
  let reg: TestRegistry;
  beforeAll(async () => {
    reg = await startRegistry();
  });
  afterAll(async () => {
    await reg?.stop();
  });

  it('FROM a missing image pulls it, a present one is used as is, --pull pulls the newer base', async () => {
    const base = `${reg.host}/team/base:1`;
    const a = fresh('bp-a');
    ok(await a.run(['tag', 'busybox', base]));
    ok(await a.run(['push', base]));

    const b = fresh('bp-b');
    const dir = context(`FROM ${base}\nRUN echo built > /built\nCMD ["cat", "/built"]\n`);
    const first = ok(await b.run(['build', '--network', 'none', '-t', 'app:1', dir]));
    expect(first.stderr).toContain(`pulling ${base}`);
    expect(first.stderr).toContain(`Downloaded newer image for ${base}`);
    expect(ok(await b.run(['run', '--rm', '--network', 'none', 'app:1'])).stdout).toBe('built');

    // present now: no registry needed, every step cached
    const second = ok(await b.run(['build', '--network', 'none', '-t', 'app:1', dir]));
    expect(second.stderr).not.toContain('pulling');
    expect(second.stderr).toMatch(/\[2\/3\] CACHED/);
    expect(second.stdout).toBe(first.stdout);

    // a new base is pushed under the same tag: plain build keeps the old one, --pull takes it
    const v2 = context('FROM busybox\nLABEL version=2\n');
    ok(await a.run(['build', '-t', base, v2]));
    ok(await a.run(['push', base]));
    const stale = ok(await b.run(['build', '--network', 'none', '-t', 'app:1', dir]));
    expect(stale.stdout).toBe(first.stdout);
    const pulled = ok(await b.run(['build', '--pull', '--network', 'none', '-t', 'app:2', dir]));
    expect(pulled.stderr).toContain(`pulling ${base}`);
    expect(pulled.stderr).toContain(`Downloaded newer image for ${base}`);
    expect(pulled.stderr).not.toMatch(/\[2\/3\] CACHED/);
    expect(pulled.stdout).not.toBe(first.stdout);
    expect(ok(await b.run(['image', 'inspect', '--format', '{{json .Config.Labels}}', 'app:2'])).stdout).toBe('{"version":"2"}');
    // --pull again: the registry says up to date, the steps are cached
    const same = ok(await b.run(['build', '--pull', '--network', 'none', '-t', 'app:2', dir]));
    expect(same.stderr).toContain(`Image is up to date for ${base}`);
    expect(same.stdout).toBe(pulled.stdout);

    // a base nobody has: one error, exit 1, nothing left
    const none = context(`FROM ${reg.host}/team/nothing:1\nRUN true\n`);
    const r = await b.run(['build', '--network', 'none', none]);
    expect(r.exitCode, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/nothing/);
  });
});
