// User namespaces (issue 9): --userns=auto gives a container root inside and a range of the
// `tscontainer` subordinate ids outside, allocated per container in SQLite; the rootfs is the
// overlay on idmapped image layers, which are never chowned. The runtime adds the tscontainer
// entries to /etc/subuid and /etc/subgid when they are missing (src/runtime/subids.ts), so this
// file puts both back exactly as it found them (content, mode, owner, or absence).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmodSync, chownSync, existsSync, lstatSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { CLI, makeRoot, type TestRoot } from './support/cli.js';

interface Saved {
  file: string;
  text?: string;
  mode?: number;
  uid?: number;
  gid?: number;
}

const SUBID_FILES = ['/etc/subuid', '/etc/subgid'];
let saved: Saved[] = [];
let t: TestRoot;

beforeAll(async () => {
  saved = SUBID_FILES.map((file) => {
    if (!existsSync(file)) return { file };
    const st = statSync(file);
    return { file, text: readFileSync(file, 'utf8'), mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
  });
  t = makeRoot('userns');
  const r = await t.run(['run', '--rm', '--network', 'none', 'busybox', 'true']);
  expect(r.exitCode, r.stderr).toBe(0);
}, 120_000);

afterAll(async () => {
  const leaks = await t.cleanup();
  for (const s of saved) {
    if (s.text === undefined) {
      rmSync(s.file, { force: true });
      continue;
    }
    writeFileSync(s.file, s.text);
    chmodSync(s.file, s.mode!);
    chownSync(s.file, s.uid!, s.gid!);
  }
  expect(leaks).toEqual([]);
});

interface Range {
  uidBase: number;
  gidBase: number;
  size: number;
}

async function inspect(name: string): Promise<{ pid: number; range: Range | null; upper: string }> {
  const r = await t.run(['inspect', name]);
  expect(r.exitCode, r.stderr).toBe(0);
  const [c] = JSON.parse(r.stdout) as {
    State: { Pid: number };
    GraphDriver: { Data: { UpperDir?: string } };
    Tscontainer: { UsernsRange: Range | null };
  }[];
  return { pid: c!.State.Pid, range: c!.Tscontainer.UsernsRange, upper: c!.GraphDriver.Data.UpperDir ?? '' };
}

/** `run -d --userns=auto` a container that makes a file and waits. */
async function startAuto(name: string): Promise<void> {
  const r = await t.run([
    'run',
    '-d',
    '--name',
    name,
    '--network',
    'none',
    '--userns=auto',
    'busybox',
    'sh',
    '-c',
    'echo hi > /made-inside; sleep 120',
  ]);
  expect(r.exitCode, r.stderr).toBe(0);
}

async function waitFor(path: string): Promise<void> {
  for (let i = 0; i < 100 && !existsSync(path); i++) await new Promise((res) => setTimeout(res, 50));
  expect(existsSync(path), path).toBe(true);
}

/** The tscontainer ranges /etc/subuid (or subgid) now holds. */
function subids(file: string): { start: number; count: number }[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('tscontainer:'))
    .map((l) => ({ start: Number(l.split(':')[1]), count: Number(l.split(':')[2]) }));
}

/** uid and gid of every file of the image's layers (never the containers' own). */
function imageLayerOwners(): Map<string, string> {
  const home = join(t.root, 'overlay');
  const out = new Map<string, string>();
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      const st = lstatSync(p);
      out.set(p, `${st.uid}:${st.gid}:${st.ctimeMs}`);
      if (e.isDirectory()) walk(p);
    }
  };
  for (const id of readdirSync(home)) {
    const diff = join(home, id, 'diff');
    if (existsSync(join(diff, 'bin', 'busybox'))) walk(diff);
  }
  return out;
}

describe('--userns=auto', () => {
  it('runs the command as root of its own user namespace', async () => {
    const r = await t.run(['run', '--rm', '--network', 'none', '--userns=auto', 'busybox', 'id']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe('uid=0(root) gid=0(root)');
    // the range comes from tscontainer's entries, which the runtime added if they were missing
    expect(subids('/etc/subuid').length).toBeGreaterThan(0);
    expect(subids('/etc/subgid').length).toBeGreaterThan(0);
  });

  it("from the host, the init runs as the range's first uid, and what it writes is owned by it", async () => {
    await startAuto('u-one');
    const { pid, range, upper } = await inspect('u-one');
    expect(range).not.toBeNull();
    const { uidBase, gidBase, size } = range!;
    expect(size).toBe(65536);
    const inUid = subids('/etc/subuid').some((r) => uidBase >= r.start && uidBase + size <= r.start + r.count);
    const inGid = subids('/etc/subgid').some((r) => gidBase >= r.start && gidBase + size <= r.start + r.count);
    expect(inUid && inGid).toBe(true);

    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    expect(status).toMatch(new RegExp(`^Uid:\\s+${uidBase}\\s+${uidBase}\\s+${uidBase}\\s+${uidBase}$`, 'm'));
    expect(status).toMatch(new RegExp(`^Gid:\\s+${gidBase}\\s+${gidBase}\\s+${gidBase}\\s+${gidBase}$`, 'm'));
    expect(readFileSync(`/proc/${pid}/uid_map`, 'utf8').trim().split(/\s+/)).toEqual(['0', String(uidBase), '65536']);
    expect(readFileSync(`/proc/${pid}/gid_map`, 'utf8').trim().split(/\s+/)).toEqual(['0', String(gidBase), '65536']);

    // the file lands in the container's own rw layer, owned by the mapped ids
    const made = join(upper, 'made-inside');
    await waitFor(made);
    const st = statSync(made);
    expect([st.uid, st.gid]).toEqual([uidBase, gidBase]);
    expect(readFileSync(made, 'utf8')).toBe('hi\n');

    // inside, the same file (and the image's) belongs to root
    const ls = await t.run(['exec', 'u-one', 'sh', '-c', 'stat -c "%u:%g" /made-inside /bin/busybox; id -u']);
    expect(ls.exitCode, ls.stderr).toBe(0);
    expect(ls.stdout.split('\n')).toEqual(['0:0', '0:0', '0']);
  });

  it("commit and export give the container's own ids back, not the host range", async () => {
    const c = await t.run(['commit', 'u-one', 'userns-committed:1']);
    expect(c.exitCode, c.stderr).toBe(0);
    const r = await t.run(['run', '--rm', '--network', 'none', 'userns-committed:1', 'stat', '-c', '%u:%g', '/made-inside']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe('0:0');
    const out = join(t.root, 'export.tar');
    const e = await execa('sh', ['-c', `node ${CLI} export u-one > ${out}`], { env: t.env, reject: false });
    expect(e.exitCode, e.stderr).toBe(0);
    const list = await execa('tar', ['-tvnf', out, './made-inside', 'made-inside'], { reject: false });
    expect(list.stdout).toMatch(/^-rw-r--r-- 0\/0 /m);
    expect((await t.run(['rmi', 'userns-committed:1'])).exitCode).toBe(0);
  });

  it("cp into the container gives root's files to its root, cp out as a tar gives the container's ids", async () => {
    const src = join(t.root, 'cp-src');
    writeFileSync(src, 'copied\n');
    const cin = await t.run(['cp', src, 'u-one:/copied-in']);
    expect(cin.exitCode, cin.stderr).toBe(0);
    const st = await t.run(['exec', 'u-one', 'stat', '-c', '%u:%g', '/copied-in', '/']);
    expect(st.stdout.split('\n')).toEqual(['0:0', '0:0']);
    const out = join(t.root, 'cp-out.tar');
    const e = await execa('sh', ['-c', `node ${CLI} cp u-one:/made-inside - > ${out}`], { env: t.env, reject: false });
    expect(e.exitCode, e.stderr).toBe(0);
    expect((await execa('tar', ['-tvnf', out])).stdout).toMatch(/^-rw-r--r-- 0\/0 .* made-inside$/m);
  });

  it('two containers get disjoint ranges, and rm gives a range back', async () => {
    await startAuto('u-two');
    const one = (await inspect('u-one')).range!;
    const two = (await inspect('u-two')).range!;
    const disjoint = (a: number, b: number) => a + 65536 <= b || b + 65536 <= a;
    expect(disjoint(one.uidBase, two.uidBase)).toBe(true);
    expect(disjoint(one.gidBase, two.gidBase)).toBe(true);

    const before = await t.run(['info', '--format', 'json']);
    const count = (out: string) => (JSON.parse(out) as Record<string, unknown>)['User Namespace Ranges In Use'];
    expect(before.exitCode, before.stderr).toBe(0);
    expect(count(before.stdout)).toBe(2);

    const rm = await t.run(['rm', '-f', 'u-two']);
    expect(rm.exitCode, rm.stderr).toBe(0);
    const after = await t.run(['info', '--format', 'json']);
    expect(count(after.stdout)).toBe(1);

    // the freed range is the lowest free one again: the next container gets it
    await startAuto('u-three');
    expect((await inspect('u-three')).range).toEqual(two);
    expect((await t.run(['rm', '-f', 'u-three'])).exitCode).toBe(0);
  });

  it('concurrent creates never share a range (one BEGIN IMMEDIATE allocation each)', async () => {
    const names = ['u-c1', 'u-c2', 'u-c3', 'u-c4'];
    const made = await Promise.all(
      names.map((n) => t.run(['create', '--name', n, '--network', 'none', '--userns=auto', 'busybox', 'true'])),
    );
    for (const r of made) expect(r.exitCode, r.stderr).toBe(0);
    const bases = await Promise.all(names.map(async (n) => (await inspect(n)).range!.uidBase));
    expect(new Set(bases).size).toBe(names.length);
    expect((await t.run(['rm', ...names])).exitCode).toBe(0);
  });

  it('never modifies an image layer (no chown of shared layers)', async () => {
    const before = imageLayerOwners();
    expect(before.size).toBeGreaterThan(10);
    const r = await t.run([
      'run',
      '--rm',
      '--network',
      'none',
      '--userns=auto',
      'busybox',
      'sh',
      '-c',
      'echo changed >> /etc/passwd && rm /bin/true && stat -c %u /etc/passwd',
    ]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe('0');
    const after = imageLayerOwners();
    expect(after).toEqual(before);
    for (const owner of after.values()) expect(owner.startsWith('0:0:')).toBe(true);
  });
});

describe('--userns=host and the default', () => {
  it('--userns=host is the default: no user namespace, the identity map', async () => {
    for (const flags of [[], ['--userns=host']]) {
      const r = await t.run(['run', '--rm', '--network', 'none', ...flags, 'busybox', 'cat', '/proc/self/uid_map']);
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stdout.trim().split(/\s+/)).toEqual(['0', '0', '4294967295']);
    }
  });

  it('TSCONTAINER_USERNS=auto makes auto the default (as --userns-remap), and --userns=host still wins', async () => {
    const env = { TSCONTAINER_USERNS: 'auto' };
    const auto = await t.run(['run', '--rm', '--network', 'none', 'busybox', 'cat', '/proc/self/uid_map'], { env });
    expect(auto.exitCode, auto.stderr).toBe(0);
    expect(auto.stdout.trim().split(/\s+/)[1]).not.toBe('0');
    const host = await t.run(['run', '--rm', '--network', 'none', '--userns=host', 'busybox', 'cat', '/proc/self/uid_map'], {
      env,
    });
    expect(host.stdout.trim().split(/\s+/)).toEqual(['0', '0', '4294967295']);
  });
});

describe('refused combinations', () => {
  it.each([
    [['--privileged', '--userns=auto'], /--privileged cannot be combined with --userns auto/],
    [['--userns=keep-id'], /invalid --userns "keep-id"/],
    [['--userns=auto', '--network', 'container:nope'], /--userns auto cannot be combined with --network container:nope/],
  ])('%j is one clear line, exit 125, nothing created', async (flags, message) => {
    const count = async () => (await t.run(['ps', '-aq'])).stdout.split('\n').filter(Boolean).length;
    const before = await count();
    const network = flags.includes('--network') ? [] : ['--network', 'none'];
    const r = await t.run(['run', '--rm', ...network, ...flags, 'busybox', 'true']);
    expect(r.exitCode).toBe(125);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(await count()).toBe(before);
  });
});
