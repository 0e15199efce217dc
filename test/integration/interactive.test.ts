// The interactive half of issue 3 on the real kernel: -it through a real pseudo-terminal,
// stdin pipes, exec (namespaces, cgroups, -e/-u/-w, errors), user names resolved in the
// container, the monitor's exit command (run -d --rm, detached exits), loopback without ip.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, readlinkSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, containerCgroupDir, freezeDirect, makeRoot, scaled, type TestRoot } from './support/cli.js';
import { PtySession } from './support/pty.js';

let t: TestRoot;
const sessions: PtySession[] = [];

beforeAll(async () => {
  t = makeRoot('inter');
  const r = await t.run(['run', '--rm', 'busybox', 'true']);
  expect(r.exitCode, r.stderr).toBe(0);
});

afterAll(async () => {
  for (const s of sessions) s.kill();
  const leaks = await t.cleanup();
  expect(leaks).toEqual([]);
});

function pty(args: string[], rows = 24, cols = 80): PtySession {
  const s = new PtySession(['node', CLI, ...args], { env: t.env, rows, cols });
  sessions.push(s);
  return s;
}

// busybox ash's prompt: it always ends with a cursor-position query when on a terminal
const PROMPT = /# \x1b\[6n$/;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` until it returns true, or fails after `ms`. */
async function eventually(fn: () => boolean | Promise<boolean>, ms = 8000): Promise<void> {
  const deadline = Date.now() + scaled(ms);
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(50);
  }
}

/** The container's cgroup directories (v1: one per controller), wherever they exist. */
function cgroupDirsOf(id: string): string[] {
  const base = '/sys/fs/cgroup';
  const dirs = [join(base, t.cgroupParent, id)];
  for (const c of ['memory', 'pids', 'cpu', 'freezer']) dirs.push(join(base, c, t.cgroupParent, id));
  return dirs.filter((d) => existsSync(d));
}

const ids = new Map<string, string>();

async function startWeb(name: string): Promise<string> {
  const r = await t.run(['run', '-d', '--name', name, 'busybox', 'sh', '-c', 'while true; do sleep 1; done']);
  expect(r.exitCode, r.stderr).toBe(0);
  ids.set(name, r.stdout.trim());
  return r.stdout.trim();
}

async function pidOf(name: string): Promise<number> {
  const r = await t.run(['inspect', '--format', '{{.State.Pid}}', name]);
  if (r.exitCode === 0 && /^\d+$/.test(r.stdout.trim())) return Number(r.stdout.trim());
  // without inspect: the row
  const { default: Database } = await import('better-sqlite3');
  const db = new Database(join(t.root, 'state.db'), { readonly: true });
  try {
    return (db.prepare('SELECT pid FROM containers WHERE name = ?').get(name) as { pid: number }).pid;
  } finally {
    db.close();
  }
}

describe('run -it through a real terminal', () => {
  it('gives a shell: prompt, output, line editing, Ctrl-C inside, window size, Ctrl-D', async () => {
    const s = pty(['run', '-it', '--rm', '--network', 'none', 'busybox', 'sh'], 30, 100);
    await s.waitFor(PROMPT);
    await s.line("echo hel''lo", /\r\nhello\r\n/);
    // line editing: a backspace removes the X before Enter
    await s.line('echo abX\x7fc', /\r\nabc\r\n/);
    await s.line('tty', /\/dev\/pts\/0/);
    await s.line('stty size', /30 100/);
    // Ctrl-C stops the foreground command inside; the shell (and the CLI) survive
    await sleep(150);
    const from = s.output.length;
    s.type('sleep 100\r');
    await sleep(500);
    s.type('\x03');
    await s.waitFor(PROMPT, from, 5000);
    await s.line('echo alive $?', /alive 130/);
    // the window follows: the CLI gets SIGWINCH and the monitor copies the size
    s.resize(40, 120);
    await eventually(async () => {
      try {
        await s.line('stty size', /40 120/, 500);
        return true;
      } catch {
        return false;
      }
    });
    await sleep(150);
    s.type('\x04');
    expect(await s.exited).toBe(0);
  });

  it('passes the exit code of the shell', async () => {
    const s = pty(['run', '-it', '--rm', '--network', 'none', 'busybox', 'sh']);
    await s.waitFor(PROMPT);
    await sleep(150);
    s.type('exit 3\r');
    expect(await s.exited).toBe(3);
  });
});

describe('stdin and terminals without a terminal', () => {
  it('pipes stdin through with -i, EOF ends it', async () => {
    const r = await t.run(['run', '-i', '--rm', '--network', 'none', 'busybox', 'cat'], { input: 'hi\nthere\n' });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe('hi\nthere');
  });

  it('-t without -i works when stdin is not a terminal', async () => {
    const r = await t.run(['run', '-t', '--rm', '--network', 'none', 'busybox', 'sh', '-c', 'tty; echo ok']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe('/dev/pts/0\r\nok');
  });

  it('-it with a stdin that is not a terminal is one line, 125', async () => {
    const r = await t.run(['run', '-it', '--rm', 'busybox', 'true']);
    expect(r.exitCode).toBe(125);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('not a TTY');
  });
});

describe('exec', () => {
  it('joins every namespace and the cgroups of the container, and sees only its processes', async () => {
    await startWeb('ex1');
    const pid = await pidOf('ex1');
    const r = await t.run([
      'exec',
      'ex1',
      'sh',
      '-c',
      'for n in cgroup ipc mnt net pid uts; do readlink /proc/self/ns/$n; done; echo; ps -o pid,comm',
    ]);
    expect(r.exitCode, r.stderr).toBe(0);
    const [nsPart, psPart] = r.stdout.split('\n\n');
    const inside = nsPart!.split('\n');
    const init = ['cgroup', 'ipc', 'mnt', 'net', 'pid', 'uts'].map((n) => readlinkSync(`/proc/${pid}/ns/${n}`));
    expect(inside).toEqual(init);
    expect(init).not.toEqual(['cgroup', 'ipc', 'mnt', 'net', 'pid', 'uts'].map((n) => readlinkSync(`/proc/self/ns/${n}`)));
    // the container's processes only: its init is 1
    const pids = psPart!
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => Number(l.trim().split(/\s+/)[0]));
    expect(pids).toContain(1);
    expect(pids.length).toBeLessThan(6);
    // same cgroup as the init (a long-running exec'd process, seen from the host)
    const d = await t.run(['exec', '-d', 'ex1', 'sleep', '30']);
    expect(d.exitCode, d.stderr).toBe(0);
    expect(d.stdout).toBe('');
    const hostCg = (p: number) =>
      readFileSync(`/proc/${p}/cgroup`, 'utf8')
        .split('\n')
        .filter((l) => /memory|pids|^0::/.test(l))
        .sort();
    let sleeper = 0;
    await eventually(() => {
      const procs = readFileSync(join(containerCgroupDir(t.cgroupParent, ids.get('ex1')!, 'pids'), 'cgroup.procs'), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map(Number);
      sleeper = procs.find((p) => p !== pid && readFileSync(`/proc/${p}/cmdline`, 'utf8').startsWith('sleep\u000030')) ?? 0;
      return sleeper > 0;
    });
    expect(hostCg(sleeper)).toEqual(hostCg(pid));
  });

  it('-e, -u (id and name), -w; HOME from passwd; exit codes', async () => {
    const r = await t.run([
      'exec',
      '-e',
      'X=1',
      '-u',
      '1000',
      '-w',
      '/tmp',
      'ex1',
      'sh',
      '-c',
      'echo $X; id -u; pwd; echo $HOME',
    ]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout.split('\n')).toEqual(['1', '1000', '/tmp', '/home/user']);
    const n = await t.run(['exec', '-u', 'nobody', 'ex1', 'id']);
    expect(n.stdout).toBe('uid=65534(nobody) gid=65534(nogroup)');
    expect((await t.run(['exec', 'ex1', 'sh', '-c', 'exit 7'])).exitCode).toBe(7);
    const nf = await t.run(['exec', 'ex1', 'nosuchcmd']);
    expect(nf.exitCode).toBe(127);
    expect(nf.stderr.trim().split('\n')).toHaveLength(1);
    const piped = await t.run(['exec', '-i', 'ex1', 'cat'], { input: 'through\n' });
    expect(piped.stdout).toBe('through');
  });

  it('exec -it gives a terminal from the container', async () => {
    const s = pty(['exec', '-it', 'ex1', 'sh']);
    await s.waitFor(PROMPT);
    await s.line('tty', /\/dev\/pts\/\d+/);
    await s.line('echo $TERM', /xterm/);
    await sleep(150);
    s.type('exit 5\r');
    expect(await s.exited).toBe(5);
  });

  it('refuses an unknown, a paused and a stopped container in one line, exit 1', async () => {
    const u = await t.run(['exec', 'nosuchcontainer', 'true']);
    expect(u.exitCode).toBe(1);
    expect(u.stderr.trim()).toMatch(/No such container: nosuchcontainer/);

    // freeze through the cgroup freezer directly (what `pause` does)
    freezeDirect(t.cgroupParent, ids.get('ex1')!, true);
    try {
      const p = await t.run(['exec', 'ex1', 'true']);
      expect(p.exitCode).toBe(1);
      expect(p.stderr.trim()).toBe('tscontainer: container ex1 is paused, unpause it first');
    } finally {
      freezeDirect(t.cgroupParent, ids.get('ex1')!, false);
    }
    await t.run(['rm', '-f', 'ex1']);
    await t.run(['create', '--name', 'ex2', 'busybox', 'true']);
    const s = await t.run(['exec', 'ex2', 'true']);
    expect(s.exitCode).toBe(1);
    expect(s.stderr.trim()).toBe('tscontainer: container ex2 is not running');
    await t.run(['rm', 'ex2']);
  });
});

describe('users by name', () => {
  it("resolves names and groups in the container; unknown is docker's sentence, 125", async () => {
    const r = await t.run(['run', '--rm', '--network', 'none', '-u', 'nobody', 'busybox', 'sh', '-c', 'id; echo $HOME']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout.split('\n')).toEqual(['uid=65534(nobody) gid=65534(nogroup)', '/nonexistent']);
    const g = await t.run(['run', '--rm', '--network', 'none', '-u', 'user:daemon', 'busybox', 'id']);
    expect(g.stdout).toBe('uid=1000(user) gid=1(daemon)');
    const n = await t.run([
      'run',
      '--rm',
      '--network',
      'none',
      '-u',
      '4242:4243',
      'busybox',
      'sh',
      '-c',
      'id -u; id -g; echo $HOME',
    ]);
    expect(n.stdout.split('\n')).toEqual(['4242', '4243', '/']);
    const caps = await t.run([
      'run',
      '--rm',
      '--network',
      'none',
      '-u',
      'user',
      'busybox',
      'grep',
      'CapEff',
      '/proc/self/status',
    ]);
    expect(caps.stdout).toMatch(/CapEff:\s+0+$/);
    const bad = await t.run(['run', '--rm', '--network', 'none', '-u', 'nosuchuser', 'busybox', 'true']);
    expect(bad.exitCode).toBe(125);
    expect(bad.stderr.trim()).toBe('tscontainer: unable to find user nosuchuser: no matching entries in passwd file');
  });
});

describe('the monitor cleans up after a detached container', () => {
  it('run -d --rm: gone from ps -a with no cgroup, row or directory left', async () => {
    const r = await t.run(['run', '-d', '--rm', 'busybox', 'sh', '-c', `sleep ${scaled(1000) / 1000}`]);
    expect(r.exitCode, r.stderr).toBe(0);
    const id = r.stdout.trim();
    expect(cgroupDirsOf(id).length).toBeGreaterThan(0);
    await eventually(() => cgroupDirsOf(id).length === 0 && !existsSync(join(t.root, 'containers', id)));
    const ps = await t.run(['ps', '-aq', '--no-trunc']);
    expect(ps.stdout).not.toContain(id);
    expect(existsSync(join(t.root, 'run', 'containers', id))).toBe(false);
  });

  it('a detached container that exits on its own: cgroup gone with no CLI call, then Exited (4)', async () => {
    const port = String(20000 + Math.floor(Math.random() * 20000));
    const r = await t.run(['run', '-d', '-p', `${port}:80`, 'busybox', 'sh', '-c', `sleep ${scaled(1000) / 1000}; exit 4`]);
    expect(r.exitCode, r.stderr).toBe(0);
    const id = r.stdout.trim();
    expect(cgroupDirsOf(id).length).toBeGreaterThan(0);
    expect(spawnSync('nft', ['list', 'table', 'ip', t.env['TSCONTAINER_NFT_TABLE']!], { encoding: 'utf8' }).stdout).toMatch(
      /dnat to/,
    );
    // cgroups and the DNAT rule of its published port go with it, with no CLI call
    const dnat = () =>
      /dnat to/.test(
        spawnSync('nft', ['list', 'table', 'ip', t.env['TSCONTAINER_NFT_TABLE']!], { encoding: 'utf8' }).stdout ?? '',
      );
    await eventually(() => cgroupDirsOf(id).length === 0 && !dnat());
    const ps = await t.run(['ps', '-a', '--no-trunc', '--format', 'json']);
    const row = ps.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { ID: string; State: string; Status: string })
      .find((x) => id.startsWith(x.ID));
    expect(row?.State).toBe('exited');
    expect(row?.Status).toMatch(/^Exited \(4\)/);
    await t.run(['rm', id]);
  });
});

describe('attach and start -a', () => {
  it('attach shows live output and takes input; Ctrl-P Ctrl-Q detaches and leaves it running', async () => {
    const r = await t.run(['run', '-dit', '--name', 'at1', '--network', 'none', 'busybox', 'sh']);
    expect(r.exitCode, r.stderr).toBe(0);
    const s = pty(['attach', 'at1']);
    await sleep(300);
    await s.line('echo at$((40+2))', /at42/);
    await sleep(150);
    s.type('\x10\x11');
    expect(await s.exited).toBe(0);
    expect(s.output).toContain('read escape sequence');
    const ps = await t.run(['ps', '--format', 'json']);
    expect(ps.stdout).toContain('"at1"');
    // attach again, and exit the shell: attach ends with its code
    const s2 = pty(['attach', 'at1']);
    await sleep(300);
    await s2.line('echo again', /again/);
    await sleep(150);
    s2.type('exit 9\r');
    expect(await s2.exited).toBe(9);
    await t.run(['rm', '-f', 'at1']);
  });

  it('attach without a terminal: output from now on, stdin with -i', async () => {
    const r = await t.run([
      'run',
      '-di',
      '--name',
      'at2',
      '--network',
      'none',
      'busybox',
      'sh',
      '-c',
      'while read l; do echo got $l; done; echo bye >&2; exit 6',
    ]);
    expect(r.exitCode, r.stderr).toBe(0);
    const a = await t.run(['attach', 'at2'], { input: 'one\n' });
    // our stdin's EOF ends the attach; the container keeps its stdin open and runs on
    expect(a.exitCode).toBe(0);
    expect(a.stdout).toBe('got one');
    expect((await t.run(['ps', '--format', 'json'])).stdout).toContain('"at2"');
    await t.run(['rm', '-f', 'at2']);
  });

  it('attach refuses a container that is not running', async () => {
    await t.run(['create', '--name', 'at3', 'busybox', 'true']);
    const a = await t.run(['attach', 'at3']);
    expect(a.exitCode).toBe(1);
    expect(a.stderr.trim()).toBe('tscontainer: container at3 is not running');
  });

  it('start -a of a created container streams its output and exits with its code', async () => {
    await t.run(['create', '--name', 'sa1', 'busybox', 'sh', '-c', 'echo made; exit 2']);
    const r = await t.run(['start', '-a', 'sa1']);
    expect(r.stdout).toBe('made');
    expect(r.exitCode).toBe(2);
    const i = await t.run(['create', '-i', '--name', 'sa2', 'busybox', 'cat']);
    expect(i.exitCode).toBe(0);
    const ai = await t.run(['start', '-ai', 'sa2'], { input: 'piped\n' });
    expect(ai.stdout).toBe('piped');
    await t.run(['rm', 'sa1', 'sa2', 'at3']);
  });

  it('start -a of a running container attaches to it (as docker): later output and its exit code', async () => {
    const r = await t.run([
      'run',
      '-d',
      '--name',
      'sa3',
      '--network',
      'none',
      'busybox',
      'sh',
      '-c',
      'sleep 1; echo late; exit 3',
    ]);
    expect(r.exitCode, r.stderr).toBe(0);
    const a = await t.run(['start', '-a', 'sa3']);
    expect(a.stdout).toBe('late');
    expect(a.exitCode, a.stderr).toBe(3);
    await t.run(['rm', '-f', 'sa3']);
  });
});

describe('loopback', () => {
  it('lo is up with --network none, without any ip process', async () => {
    const r = await t.run([
      'run',
      '--rm',
      '--network',
      'none',
      'busybox',
      'sh',
      '-c',
      'ip -o link show lo; ping -c1 -W1 127.0.0.1 >/dev/null && echo pong',
    ]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/<LOOPBACK,UP,LOWER_UP>/);
    expect(r.stdout).toMatch(/pong$/);
  });
});
