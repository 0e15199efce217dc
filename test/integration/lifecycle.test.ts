// Container management without a daemon (issue 3) on the real kernel: logs, stop/kill/wait,
// pause, stats, top, inspect, rename, prune, and the true state after a monitor or container
// process is killed, a pid is reused or the machine "reboots". Every container is removed and
// the host checked.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import Database from 'better-sqlite3';
import { CLI, leftovers, makeRoot, scaled, type TestRoot } from './support/cli.js';

let t: TestRoot;

beforeAll(async () => {
  t = makeRoot('life');
  const r = await t.run(['run', '--rm', '--network', 'none', 'busybox', 'true']);
  expect(r.exitCode, r.stderr).toBe(0);
});

afterAll(async () => {
  const leaks = await t.cleanup();
  expect(leaks).toEqual([]);
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function ok(args: string[]): Promise<string> {
  const r = await t.run(args);
  expect(r.exitCode, `${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

async function field(name: string, tpl: string): Promise<string> {
  return (await ok(['inspect', '-f', tpl, name])).trim();
}

async function psLine(name: string): Promise<{ Names: string; State: string; Status: string } | undefined> {
  const out = await ok(['ps', '-a', '--format', 'json']);
  return out
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { Names: string; State: string; Status: string })
    .find((c) => c.Names === name);
}

function db(): Database.Database {
  return new Database(join(t.root, 'state.db'));
}

/** Runs `fn` until it returns true or `ms` pass. */
async function until(fn: () => boolean | Promise<boolean>, ms = 5000): Promise<boolean> {
  const end = Date.now() + scaled(ms);
  while (Date.now() < end) {
    if (await fn()) return true;
    await sleep(50);
  }
  return fn();
}

describe('logs', () => {
  it('keeps stdout and stderr apart after exit; --tail, --timestamps and --since filter', async () => {
    const r = await t.run([
      'run',
      '--name',
      'lg',
      '--network',
      'none',
      'busybox',
      'sh',
      '-c',
      'for i in 1 2 3; do echo out$i; echo err$i >&2; sleep 0.05; done',
    ]);
    expect(r.exitCode, r.stderr).toBe(0);
    const all = await t.run(['logs', 'lg']);
    expect(all.stdout.split('\n')).toEqual(['out1', 'out2', 'out3']);
    expect(all.stderr.split('\n')).toEqual(['err1', 'err2', 'err3']);
    // tail counts lines of both streams, the last ones
    const tail = await t.run(['logs', '--tail', '2', 'lg']);
    expect(tail.stdout).toBe('out3');
    expect(tail.stderr).toBe('err3');
    const tail3 = await t.run(['logs', '--tail', '3', 'lg']);
    expect(tail3.stdout.split('\n').length + tail3.stderr.split('\n').length).toBe(3);
    expect((await t.run(['logs', '--tail', '0', 'lg'])).stdout).toBe('');
    const ts = await t.run(['logs', '-t', '--tail', '1', 'lg']);
    expect(ts.stderr).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z err3$/);
    expect((await t.run(['logs', '--since', '1h', 'lg'])).stdout.split('\n')).toHaveLength(3);
    const future = String(Math.floor(Date.now() / 1000) + 3600);
    const none = await t.run(['logs', '--since', future, 'lg']);
    expect([none.stdout, none.stderr]).toEqual(['', '']);
    await ok(['rm', 'lg']);
  });

  it('-f prints new lines as they come and ends when the container exits', async () => {
    await ok([
      'run',
      '-d',
      '--name',
      'lf',
      '--network',
      'none',
      'busybox',
      'sh',
      '-c',
      // the lines must still be coming when logs -f (a node start) has connected
      `for i in 1 2 3 4 5 6; do echo line$i; sleep ${scaled(300) / 1000}; done`,
    ]);
    const started = Date.now();
    const seen: { at: number; line: string }[] = [];
    const f = execa('node', [CLI, 'logs', '-f', 'lf'], { env: t.env, reject: false, timeout: scaled(20_000) });
    f.stdout!.on('data', (d: Buffer) => {
      for (const l of d.toString().split('\n').filter(Boolean)) seen.push({ at: Date.now() - started, line: l });
    });
    const r = await f;
    expect(r.exitCode, r.stderr).toBe(0);
    expect(seen.map((s) => s.line)).toEqual(['line1', 'line2', 'line3', 'line4', 'line5', 'line6']);
    // lines arrived while it ran, not all at the end
    expect(seen[5]!.at - seen[1]!.at).toBeGreaterThan(600);
    await ok(['rm', 'lf']);
  });
});

describe('stop, kill, wait, restart', () => {
  it('stop -t 2 escalates to SIGKILL for a process that ignores SIGTERM (exit 137)', async () => {
    await ok([
      'run',
      '-d',
      '--name',
      'stubborn',
      '--network',
      'none',
      'busybox',
      'sh',
      '-c',
      'trap "" TERM; while true; do sleep 1; done',
    ]);
    const t0 = Date.now();
    expect((await ok(['stop', '-t', '2', 'stubborn'])).trim()).toBe('stubborn');
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(2000);
    expect(took).toBeLessThan(scaled(4500));
    expect(await field('stubborn', '{{.State.Status}} {{.State.ExitCode}} {{.State.Running}}')).toBe('exited 137 false');
    await ok(['rm', 'stubborn']);
  });

  it('stop of a container that handles SIGTERM is quick and keeps its exit code', async () => {
    await ok([
      'run',
      '-d',
      '--name',
      'polite',
      '--network',
      'none',
      'busybox',
      'sh',
      '-c',
      'trap "exit 0" TERM; while true; do sleep 0.1; done',
    ]);
    const t0 = Date.now();
    await ok(['stop', 'polite']);
    expect(Date.now() - t0).toBeLessThan(scaled(2000));
    expect(await field('polite', '{{.State.ExitCode}}')).toBe('0');
    // stopping a stopped container is fine, as in docker
    expect((await ok(['stop', 'polite'])).trim()).toBe('polite');
    await ok(['rm', 'polite']);
  });

  it('kill -s USR1 reaches a trap; kill (KILL) ends it; kill of a stopped one is exit 1', async () => {
    await ok([
      'run',
      '-d',
      '--name',
      'sig',
      '--network',
      'none',
      'busybox',
      'sh',
      '-c',
      'trap "echo got-usr1" USR1; echo ready; while true; do sleep 0.1; done',
    ]);
    expect(await until(async () => (await t.run(['logs', 'sig'])).stdout.includes('ready'))).toBe(true);
    await ok(['kill', '-s', 'USR1', 'sig']);
    expect(await until(async () => (await t.run(['logs', 'sig'])).stdout.includes('got-usr1'))).toBe(true);
    expect(await field('sig', '{{.State.Running}}')).toBe('true');
    await ok(['kill', 'sig']);
    expect((await ok(['wait', 'sig'])).trim()).toBe('137');
    const again = await t.run(['kill', 'sig']);
    expect(again.exitCode).toBe(1);
    expect(again.stderr.trim().split('\n')).toHaveLength(1);
    await ok(['rm', 'sig']);
  });

  it('wait, from another CLI process, blocks until a detached container exits and prints its code', async () => {
    await ok(['run', '-d', '--name', 'w1', '--network', 'none', 'busybox', 'sh', '-c', 'sleep 1; exit 7']);
    const t0 = Date.now();
    expect((await ok(['wait', 'w1'])).trim()).toBe('7');
    expect(Date.now() - t0).toBeGreaterThan(400);
    // an exited one answers at once
    expect((await ok(['wait', 'w1'])).trim()).toBe('7');
    await ok(['rm', 'w1']);
  });

  it('restart and start reuse the same read-write layer', async () => {
    await ok([
      'run',
      '-d',
      '--name',
      'rs',
      '--network',
      'none',
      'busybox',
      'sh',
      '-c',
      'test -e /marker && echo saw-marker; echo x >> /marker; echo runs $(wc -l < /marker); sleep 100',
    ]);
    expect(await until(async () => (await t.run(['logs', 'rs'])).stdout.includes('runs 1'))).toBe(true);
    const pid1 = await field('rs', '{{.State.Pid}}');
    await ok(['restart', '-t', '0', 'rs']);
    expect(await field('rs', '{{.State.Status}}')).toBe('running');
    expect(await field('rs', '{{.State.Pid}}')).not.toBe(pid1);
    expect(await until(async () => (await t.run(['logs', 'rs'])).stdout.includes('runs 2'))).toBe(true);
    await ok(['stop', '-t', '0', 'rs']);
    await ok(['start', 'rs']);
    expect(await until(async () => (await t.run(['logs', 'rs'])).stdout.includes('runs 3'))).toBe(true);
    expect((await t.run(['logs', 'rs'])).stdout.match(/saw-marker/g)).toHaveLength(2);
    await ok(['rm', '-f', 'rs']);
  });

  it('unknown or ambiguous names and wrong states are one sentence and exit 1', async () => {
    for (const args of [
      ['stop', 'nosuch'],
      ['kill', 'nosuch'],
      ['wait', 'nosuch'],
      ['pause', 'nosuch'],
      ['logs', 'nosuch'],
      ['inspect', 'nosuch'],
      ['top', 'nosuch'],
      ['rename', 'nosuch', 'x'],
    ]) {
      const r = await t.run(args);
      expect(r.exitCode, args.join(' ')).toBe(1);
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
    }
    await ok(['create', '--name', 'idle', '--network', 'none', 'busybox', 'true']);
    for (const args of [
      ['pause', 'idle'],
      ['unpause', 'idle'],
      ['kill', 'idle'],
      ['top', 'idle'],
    ]) {
      const r = await t.run(args);
      expect(r.exitCode, args.join(' ')).toBe(1);
      expect(r.stderr, args.join(' ')).toMatch(/idle.*not (running|paused)/);
    }
    const rr = await t.run(['run', '--restart', 'on-failure:3', 'busybox', 'true']);
    expect(rr.exitCode).toBe(125);
    expect(rr.stderr).toMatch(/restart policies need a daemon-less design step/);
    await ok(['rm', 'idle']);
  });
});

describe('pause', () => {
  it('freezes the container (a counter stops), ps shows Paused, unpause resumes; stop of a paused one works', async () => {
    const host = mkdtempSync(join(tmpdir(), 'tsc-it-pause-'));
    chmodSync(host, 0o755);
    try {
      await ok([
        'run',
        '-d',
        '--name',
        'pz',
        '--network',
        'none',
        '-v',
        `${host}:/data`,
        'busybox',
        'sh',
        '-c',
        'i=0; while true; do i=$((i+1)); echo $i > /data/c; sleep 0.05; done',
      ]);
      const count = () => Number(readFileSync(join(host, 'c'), 'utf8').trim() || '0');
      expect(await until(() => existsSync(join(host, 'c')) && count() > 2)).toBe(true);
      await ok(['pause', 'pz']);
      const a = count();
      await sleep(600);
      expect(count()).toBe(a);
      expect((await psLine('pz'))?.Status).toMatch(/\(Paused\)$/);
      expect(await field('pz', '{{.State.Status}} {{.State.Paused}} {{.State.Running}}')).toBe('paused true true');
      const twice = await t.run(['pause', 'pz']);
      expect(twice.exitCode).toBe(1);
      expect(twice.stderr).toMatch(/already paused/);
      await ok(['unpause', 'pz']);
      expect(await until(() => count() > a + 3, 3000)).toBe(true);
      expect((await psLine('pz'))?.State).toBe('running');
      await ok(['pause', 'pz']);
      const t0 = Date.now();
      await ok(['stop', '-t', '1', 'pz']);
      expect(Date.now() - t0).toBeLessThan(scaled(4000));
      expect(await field('pz', '{{.State.Status}}')).toBe('exited');
      await ok(['start', 'pz']);
      await ok(['pause', 'pz']);
      await ok(['rm', '-f', 'pz']); // rm -f of a paused container
      expect(leftovers(t.root, t.cgroupParent)).toEqual([]);
    } finally {
      rmSync(host, { recursive: true, force: true });
    }
  });
});

describe('stats, top, inspect', () => {
  it('stats --no-stream --format json: CPU moves with real load; memory, pids are read', async () => {
    // idle first: the first sample must come before the loop starts, however slow this machine is
    const idleFor = scaled(2500) / 1000;
    await ok(['run', '-d', '--name', 'burn', '--network', 'none', 'busybox', 'sh', '-c', `sleep ${idleFor}; while :; do :; done`]);
    type S = { Name: string; CPUPerc: string; MemUsage: string; PIDs: string; NetIO: string; BlockIO: string };
    const stats = async (): Promise<S> =>
      JSON.parse((await ok(['stats', '--no-stream', '--format', 'json', 'burn'])).trim()) as S;
    const idle = await stats();
    expect(idle.Name).toBe('burn');
    expect(parseFloat(idle.CPUPerc)).toBeLessThan(20);
    expect(Number(idle.PIDs)).toBeGreaterThanOrEqual(1);
    expect(idle.MemUsage).toMatch(/^[\d.]+[KMG]?i?B \/ [\d.]+[KMGT]i?B$/);
    let busy = '';
    const burning = await until(async () => parseFloat((busy = (await stats()).CPUPerc)) > 40, 10_000);
    expect(burning, `CPU ${busy}`).toBe(true);
    const table = await ok(['stats', '--no-stream']);
    expect(table.split('\n')[0]).toMatch(
      /^CONTAINER ID\s+NAME\s+CPU %\s+MEM USAGE \/ LIMIT\s+MEM %\s+NET I\/O\s+BLOCK I\/O\s+PIDS$/,
    );
    expect(table).toContain('burn');
    await ok(['rm', '-f', 'burn']);
  });

  it('top lists the processes of the container (host pids in its cgroup)', async () => {
    await ok(['run', '-d', '--name', 'tp', '--network', 'none', 'busybox', 'sh', '-c', 'sleep 1001 & sleep 1002']);
    expect(await until(async () => (await t.run(['top', 'tp'])).stdout.includes('sleep 1002'))).toBe(true);
    const out = (await ok(['top', 'tp'])).split('\n');
    expect(out[0]).toMatch(/^UID\s+PID\s+PPID\s+C\s+STIME\s+TTY\s+TIME\s+CMD$/);
    expect(out.filter((l) => /sleep 100[12]/.test(l))).toHaveLength(2);
    expect(out.some((l) => /node|vitest/.test(l))).toBe(false);
    const custom = (await ok(['top', 'tp', '-o', 'pid,comm'])).split('\n').filter(Boolean);
    expect(custom[0]).toMatch(/PID\s+COMMAND/);
    expect(custom).toHaveLength(3); // header and the two sleeps (sh execs its last command)
    await ok(['rm', '-f', 'tp']);
  });

  it('inspect shows docker-shaped state and config, cgroup paths and namespace inodes', async () => {
    await ok([
      'run',
      '-d',
      '--name',
      'ins',
      '--network',
      'none',
      '-e',
      'A=1',
      '-l',
      'k=v',
      '-m',
      '64m',
      '--stop-signal',
      'SIGUSR2',
      '--stop-timeout',
      '1',
      'busybox',
      'sleep',
      '100',
    ]);
    const [doc] = JSON.parse(await ok(['inspect', 'ins'])) as Record<string, any>[];
    expect(doc!['Name']).toBe('/ins');
    expect(doc!['Path']).toBe('sleep');
    expect(doc!['Args']).toEqual(['100']);
    expect(doc!['State']).toMatchObject({
      Status: 'running',
      Running: true,
      Paused: false,
      Restarting: false,
      OOMKilled: false,
      Dead: false,
      ExitCode: 0,
    });
    const pid = doc!['State'].Pid as number;
    expect(pid).toBeGreaterThan(1);
    expect(doc!['Config'].Env).toContain('A=1');
    expect(doc!['Config'].Labels).toEqual({ k: 'v' });
    expect(doc!['Config'].StopSignal).toBe('SIGUSR2');
    expect(doc!['HostConfig'].Memory).toBe(64 * 1024 * 1024);
    expect(doc!['HostConfig'].NetworkMode).toBe('none');
    expect(doc!['GraphDriver'].Name).toMatch(/overlay|vfs/);
    const ns = doc!['Tscontainer'].Namespaces as Record<string, number>;
    for (const k of ['net', 'pid', 'mnt', 'uts', 'ipc']) {
      expect(`${k}:[${ns[k]}]`).toBe(readlinkSync(`/proc/${pid}/ns/${k}`));
      expect(readlinkSync(`/proc/self/ns/${k}`)).not.toBe(`${k}:[${ns[k]}]`);
    }
    const cg = doc!['Tscontainer'].CgroupPaths as Record<string, string>;
    expect(Object.keys(cg).length).toBeGreaterThan(0);
    for (const dir of Object.values(cg)) expect(readFileSync(join(dir, 'cgroup.procs'), 'utf8')).toContain(String(pid));
    expect(await field('ins', '{{.State.Status}}')).toBe('running');
    expect(doc!['Config'].StopTimeout).toBe(1);
    // sleep as PID 1 has no handler for SIGUSR2, so the kernel drops it: SIGKILL after 1 s
    await ok(['stop', 'ins']);
    expect(await field('ins', '{{.State.Running}} {{.State.Pid}}')).toBe('false 0');
    const stopped = (JSON.parse(await ok(['inspect', 'ins'])) as Record<string, any>[])[0]!;
    expect(stopped['Tscontainer'].Namespaces).toBeNull();
    expect(stopped['State'].FinishedAt).not.toBe('0001-01-01T00:00:00Z');
    await ok(['rm', 'ins']);
  }, scaled(30_000));
});

describe('true state without a daemon', () => {
  it('kill -9 of the monitor: still Running while the process lives; Exited 255 with an Error once it dies; start works again', async () => {
    await ok(['run', '-d', '--name', 'orph', '--network', 'none', 'busybox', 'sleep', '1000']);
    const mon = Number(await field('orph', '{{.Tscontainer.MonitorPid}}'));
    const pid = Number(await field('orph', '{{.State.Pid}}'));
    expect(mon).toBeGreaterThan(1);
    process.kill(mon, 'SIGKILL');
    await sleep(200);
    expect((await psLine('orph'))?.State).toBe('running');
    process.kill(pid, 'SIGKILL');
    expect(await until(async () => (await psLine('orph'))?.State === 'exited')).toBe(true);
    expect(await field('orph', '{{.State.ExitCode}}')).toBe('255');
    expect(await field('orph', '{{.State.Error}}')).toMatch(/monitor was not running/);
    await ok(['start', 'orph']);
    expect((await psLine('orph'))?.State).toBe('running');
    await ok(['rm', '-f', 'orph']);
  });

  it('kill -9 of the container process: the monitor records 137', async () => {
    await ok(['run', '-d', '--name', 'k9', '--network', 'none', 'busybox', 'sleep', '1000']);
    process.kill(Number(await field('k9', '{{.State.Pid}}')), 'SIGKILL');
    expect(await until(async () => (await psLine('k9'))?.State === 'exited')).toBe(true);
    expect(await field('k9', '{{.State.ExitCode}} {{.State.Error}}')).toBe('137');
    await ok(['rm', 'k9']);
  });

  it('a pid whose start time does not match (pid reuse) is not taken for the container', async () => {
    await ok(['run', '-d', '--name', 'reuse', '--network', 'none', 'busybox', 'sleep', '1000']);
    const d = db();
    try {
      d.prepare("UPDATE containers SET pid_start = pid_start + 12345 WHERE name = 'reuse'").run();
    } finally {
      d.close();
    }
    const line = await psLine('reuse');
    expect(line?.State).toBe('exited');
    expect(line?.Status).toMatch(/^Exited \(255\)/);
    expect(leftovers(t.root, t.cgroupParent)).toEqual([]); // its cgroup (and process) are gone
    await ok(['rm', 'reuse']);
  });

  it('after a reboot (another boot id) every running container is Exited', async () => {
    await ok(['run', '-d', '--name', 'boot1', '--network', 'none', 'busybox', 'sleep', '1000']);
    await ok(['run', '-d', '--name', 'boot2', '--network', 'none', 'busybox', 'sleep', '1000']);
    const d = db();
    try {
      d.prepare("UPDATE containers SET boot_id = 'not-this-boot' WHERE name IN ('boot1', 'boot2')").run();
    } finally {
      d.close();
    }
    expect((await ok(['ps', '-q'])).trim()).toBe('');
    for (const n of ['boot1', 'boot2']) {
      expect(await field(n, '{{.State.Status}} {{.State.ExitCode}}')).toBe('exited 255');
      expect(await field(n, '{{.State.Error}}')).toMatch(/restarted/);
    }
    await ok(['rm', 'boot1', 'boot2']);
    expect(leftovers(t.root, t.cgroupParent)).toEqual([]);
  });
});

describe('ps, rename, prune', () => {
  it('ps: -n, -l, -f status=, --format json fields, --no-trunc', async () => {
    expect((await t.run(['run', '--name', 'p1', '--network', 'none', 'busybox', 'sh', '-c', 'exit 3'])).exitCode).toBe(3);
    await ok(['create', '--name', 'p2', '--network', 'none', 'busybox', 'true']);
    await ok(['run', '-d', '--name', 'p3', '--network', 'none', 'busybox', 'sleep', '100']);
    expect((await ok(['ps', '--format', '{{.Names}}'])).trim()).toBe('p3');
    expect((await ok(['ps', '-l', '--format', '{{.Names}}'])).trim()).toBe('p3');
    expect((await ok(['ps', '-n', '2', '--format', '{{.Names}}'])).trim().split('\n')).toEqual(['p3', 'p2']);
    expect((await ok(['ps', '-f', 'status=exited', '--format', '{{.Names}} {{.Status}}'])).trim()).toMatch(/^p1 Exited \(3\) /);
    expect((await ok(['ps', '-a', '-f', 'status=created', '-q'])).trim()).toHaveLength(12);
    expect((await ok(['ps', '-a', '-f', 'status=created', '-q', '--no-trunc'])).trim()).toHaveLength(64);
    const j = JSON.parse((await ok(['ps', '--format', 'json'])).trim()) as Record<string, unknown>;
    for (const k of ['ID', 'Names', 'Image', 'Command', 'CreatedAt', 'State', 'Status', 'Ports']) expect(j).toHaveProperty(k);
    expect(j['CreatedAt']).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000 UTC$/);
    const bad = await t.run(['ps', '-f', 'status=sleepy']);
    expect(bad.exitCode).toBe(125);
    await ok(['rm', '-f', 'p1', 'p2', 'p3']);
  });

  it('rename: new name shows, the old one is free, taken and invalid names are refused', async () => {
    await ok(['create', '--name', 'r1', '--network', 'none', 'busybox', 'true']);
    await ok(['create', '--name', 'r2', '--network', 'none', 'busybox', 'true']);
    await ok(['rename', 'r1', 'r1new']);
    expect(await field('r1new', '{{.Name}}')).toBe('/r1new');
    expect((await t.run(['inspect', 'r1'])).exitCode).toBe(1);
    const taken = await t.run(['rename', 'r1new', 'r2']);
    expect(taken.exitCode).toBe(1);
    expect(taken.stderr).toMatch(/already in use/);
    const invalid = await t.run(['rename', 'r1new', 'bad name!']);
    expect(invalid.exitCode).toBe(1);
    expect(invalid.stderr.trim().split('\n')).toHaveLength(1);
    await ok(['create', '--name', 'r1', '--network', 'none', 'busybox', 'true']); // the old name is free
    await ok(['rm', 'r1', 'r1new', 'r2']);
  });

  it('container prune removes exited and created containers only; system prune removes disk objects no row names', async () => {
    await ok(['run', '--name', 'x1', '--network', 'none', 'busybox', 'sh', '-c', 'head -c 100000 /dev/zero > /blob']);
    await ok(['create', '--name', 'x2', '--network', 'none', 'busybox', 'true']);
    const keep = (await ok(['run', '-d', '--name', 'x3', '--network', 'none', 'busybox', 'sleep', '100'])).trim();
    const out = await ok(['container', 'prune', '-f']);
    expect(out).toMatch(/^Deleted Containers:\n[0-9a-f]{64}\n[0-9a-f]{64}\n\nTotal reclaimed space: 100kB\n?$/);
    expect((await ok(['ps', '-aq', '--no-trunc'])).trim()).toBe(keep);

    // garbage: a container dir, a run dir and a layer dir that no row names (old), and a young one
    const old = new Date(Date.now() - 2 * 3600_000);
    const fake = 'f'.repeat(64);
    const dirs = [join(t.root, 'containers', fake), join(t.root, 'run', 'containers', fake)];
    const driver = (await field('x3', '{{.GraphDriver.Name}}')).trim();
    const layer =
      driver === 'vfs' ? join(t.root, 'vfs', 'dir', 'deadbeef'.repeat(4)) : join(t.root, 'overlay', 'deadbeef'.repeat(4));
    dirs.push(layer);
    for (const d of dirs) {
      mkdirSync(d, { recursive: true });
      writeFileSync(join(d, 'junk'), 'x'.repeat(1000));
      utimesSync(d, old, old);
    }
    const young = join(t.root, 'containers', 'e'.repeat(64));
    mkdirSync(young, { recursive: true });
    const sys = await ok(['system', 'prune', '-f']);
    expect(sys).toMatch(/Total reclaimed space: /);
    for (const d of dirs) expect(existsSync(d), d).toBe(false);
    expect(existsSync(young)).toBe(true);
    rmSync(young, { recursive: true });
    // the running container and its layers are untouched
    expect(await field('x3', '{{.State.Status}}')).toBe('running');
    const upper = (await field('x3', '{{.GraphDriver.Data.UpperDir}}{{.GraphDriver.Data.Dir}}')).replace('<no value>', '');
    expect(existsSync(upper)).toBe(true);
    await ok(['rm', '-f', 'x3']);
  });
});
