// The native helper against the real kernel (runs as root): run, exec, the fd 3 / fd 4
// protocol, exit.json, the JSON-lines log, and what a user sees inside a container.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readlinkSync, rmdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { scaled } from './support/cli.js';
import {
  HELPER,
  Helper,
  Scratch,
  alive,
  buildHelper,
  defaultConfig,
  makeRootfs,
  runContainer,
  sleep,
  underPty,
  writeBundle,
  type OciConfig,
} from './support/native-helper.js';

const isRoot = process.getuid?.() === 0;
let shared: Scratch;
let rootfs: string;
const scratch = new Scratch();

beforeAll(() => {
  if (!isRoot) return;
  buildHelper();
  shared = new Scratch();
  rootfs = makeRootfs(shared.dir());
});
afterEach(() => scratch.cleanup());
afterAll(() => shared?.cleanup());

const sh = (script: string): OciConfig => defaultConfig(rootfs, ['sh', '-c', script]);

describe.skipIf(!isRoot)('tscontainer-helper run (needs root: namespaces, mounts, cgroups)', () => {
  it('starts the command as PID 1 with its hostname and reports pid then started', async () => {
    const r = await runContainer(scratch, sh('echo $$; hostname; exit 42'));
    expect(r.stdout).toBe('1\ntsc-test\n');
    expect(r.code).toBe(42);
    expect(r.reports.map((x) => x.type)).toEqual(['pid', 'started']);
    const exit = JSON.parse(readFileSync(path.join(r.state, 'exit.json'), 'utf8'));
    expect(exit).toMatchObject({ exitCode: 42, signal: null, oomKilled: false });
    expect(exit.finishedAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$/);
    expect(Math.abs(Date.parse(exit.finishedAt) - Date.now())).toBeLessThan(60_000);
  });

  it('exits 0 for /bin/true', async () => {
    const r = await runContainer(scratch, defaultConfig(rootfs, ['/bin/true']));
    expect(r.code).toBe(0);
  });

  it('reports 127 for a command that is not in PATH, without exit.json', async () => {
    const r = await runContainer(scratch, defaultConfig(rootfs, ['nosuchcmd']));
    expect(r.code).toBe(127);
    expect(r.reports.at(-1)).toEqual({
      type: 'error',
      code: 127,
      message: 'exec: "nosuchcmd": executable file not found in $PATH',
    });
    expect(existsSync(path.join(r.state, 'exit.json'))).toBe(false);
  });

  it('reports 126 for a file that is not executable', async () => {
    const r = await runContainer(scratch, defaultConfig(rootfs, ['/etc/passwd']));
    expect(r.code).toBe(126);
    expect(r.reports.at(-1)).toEqual({ type: 'error', code: 126, message: 'exec: "/etc/passwd": permission denied' });
  });

  it('reports 125 with the failing mount in one sentence', async () => {
    const config = sh('true');
    config.mounts.push({ destination: '/bad', type: 'nosuchfs', source: 'none', options: [] });
    const r = await runContainer(scratch, config);
    expect(r.code).toBe(125);
    expect(r.reports.at(-1)).toMatchObject({ type: 'error', code: 125 });
    expect(r.reports.at(-1)!.message).toMatch(/^mount nosuchfs on \/bad: /);
  });

  it('reports a broken config.json before starting anything', async () => {
    const { bundle, state } = writeBundle(scratch, sh('true'));
    writeFileSync(path.join(bundle, 'config.json'), '{"ociVersion":"1.0.2","process":{"args":[]}}');
    const h = new Helper(scratch, ['run', '--bundle', bundle, '--state', state]);
    h.input();
    const exit = await h.exited;
    expect(exit.code).toBe(125);
    expect(h.reports).toEqual([{ type: 'error', code: 125, message: 'config.json: process.args must not be empty' }]);
  });

  it('gives the 14 docker capabilities and nothing more', async () => {
    const r = await runContainer(scratch, sh('grep -E "^Cap(Eff|Prm|Bnd)" /proc/self/status'));
    expect(r.stdout).toBe('CapPrm:\t00000000a80425fb\nCapEff:\t00000000a80425fb\nCapBnd:\t00000000a80425fb\n');
  });

  it('switches user and groups, and sets rlimits, cwd and env', async () => {
    const config = sh('id -u; id -g; id -G; ulimit -n; ulimit -Hn; pwd; echo "$GREETING"; grep NoNewPrivs /proc/self/status');
    config.process.user = { uid: 1000, gid: 1000, additionalGids: [5, 65534] };
    config.process.rlimits = [{ type: 'RLIMIT_NOFILE', hard: 512, soft: 256 }];
    config.process.cwd = '/home/user';
    config.process.env!.push('GREETING=hello "world"');
    const r = await runContainer(scratch, config);
    expect(r.stdout).toBe('1000\n1000\n1000 5 65534\n256\n512\n/home/user\nhello "world"\nNoNewPrivs:\t1\n');
    expect(r.code).toBe(0);
  });

  it('creates a missing cwd (as docker does) and reports one that cannot be made', async () => {
    const made = sh('pwd; ls -ld . | cut -c1-10');
    made.process.cwd = '/nowhere/deeper';
    const ok = await runContainer(scratch, made);
    expect(ok.code).toBe(0);
    expect(ok.stdout.split('\n').filter(Boolean)).toEqual(['/nowhere/deeper', 'drwxr-xr-x']);
    const config = sh('true');
    config.process.cwd = '/etc/passwd/sub';
    const r = await runContainer(scratch, config);
    expect(r.code).toBe(125);
    expect(r.reports.at(-1)!.message).toBe('create working directory "/etc/passwd/sub": Not a directory');
  });

  it('sets up /dev: devices, symlinks, devpts, shm, mqueue', async () => {
    const r = await runContainer(
      scratch,
      sh(
        'stat -c "%n %F %t,%T %a" /dev/null /dev/zero /dev/urandom /dev/tty; for l in fd stdin stdout stderr ptmx; do readlink /dev/$l; done; ' +
          'grep -E " /dev/(pts|shm|mqueue) " /proc/mounts | cut -d" " -f2,3',
      ),
    );
    expect(r.stdout).toBe(
      '/dev/null character special file 1,3 666\n/dev/zero character special file 1,5 666\n' +
        '/dev/urandom character special file 1,9 666\n/dev/tty character special file 5,0 666\n' +
        '/proc/self/fd\n/proc/self/fd/0\n/proc/self/fd/1\n/proc/self/fd/2\npts/ptmx\n' +
        '/dev/pts devpts\n/dev/mqueue mqueue\n/dev/shm tmpfs\n',
    );
  });

  it('masks paths and makes paths read-only; missing ones are skipped', async () => {
    const r = await runContainer(
      scratch,
      sh(
        'for f in /proc/kcore /proc/timer_list /proc/keys; do [ -e $f ] && echo "$f $(wc -c < $f)"; done; ' +
          'ls -A /proc/acpi /sys/firmware | grep -v : | grep -c . ; ' +
          'echo 1 > /proc/sys/kernel/ns_last_pid 2>/dev/null || echo sys-ro; ' +
          '[ -e /proc/sysrq-trigger ] && { echo h > /proc/sysrq-trigger 2>/dev/null || echo sysrq-ro; }; ' +
          'grep -E " /proc/(sys|sysrq-trigger) " /proc/mounts | cut -d" " -f2,4 | cut -d, -f1',
      ),
    );
    const lines = r.stdout.trim().split('\n');
    const hostHas = (p: string) => existsSync(p);
    if (hostHas('/proc/kcore')) expect(lines).toContain('/proc/kcore 0');
    expect(lines).toContain('/proc/timer_list 0');
    expect(lines).toContain('/proc/keys 0');
    expect(lines).toContain('0'); // /proc/acpi and /sys/firmware look empty
    expect(lines).toContain('sys-ro');
    expect(lines).toContain('/proc/sys ro');
    if (hostHas('/proc/sysrq-trigger')) {
      expect(lines).toContain('sysrq-ro');
      expect(lines).toContain('/proc/sysrq-trigger ro');
    }
  });

  it('keeps every mount inside the container', async () => {
    const config = sh('grep -c " /data " /proc/mounts; sleep 30');
    config.mounts.push({ destination: '/data', type: 'tmpfs', source: 'tmpfs', options: ['size=1m'] });
    let hostMounts = '';
    const r = await runContainer(scratch, config, {
      whileRunning: async (h, pid) => {
        await sleep(200);
        hostMounts = readFileSync('/proc/self/mountinfo', 'utf8');
        expect(readFileSync(`/proc/${pid}/mountinfo`, 'utf8')).toContain(' /data ');
        process.kill(pid, 'SIGKILL');
        void h;
      },
    });
    expect(r.stdout).toBe('1\n');
    expect(hostMounts).not.toContain('/tmp/tsc-native-');
    expect(hostMounts).not.toContain(' /data ');
    expect(r.code).toBe(137);
    const exit = JSON.parse(readFileSync(path.join(r.state, 'exit.json'), 'utf8'));
    expect(exit).toMatchObject({ exitCode: 137, signal: 9 });
  });

  it('creates bind targets (file for a file, dir for a dir) and honours ro', async () => {
    const dir = scratch.dir();
    writeFileSync(path.join(dir, 'file.txt'), 'from the host\n');
    const config = sh('cat /etc/hostfile; ls /mnt/hostdir; echo x > /mnt/hostdir/new 2>/dev/null || echo read-only');
    config.mounts.push(
      { destination: '/etc/hostfile', type: 'bind', source: path.join(dir, 'file.txt'), options: ['rbind', 'ro'] },
      { destination: '/mnt/hostdir', type: 'bind', source: dir, options: ['bind', 'ro', 'nosuid', 'nodev'] },
    );
    const r = await runContainer(scratch, config);
    expect(r.stdout).toBe('from the host\nfile.txt\nread-only\n');
  });

  it('resolves mount targets inside the rootfs, even through an absolute symlink', async () => {
    const local = makeRootfs(scratch.dir());
    execFileSync('ln', ['-s', '/target', path.join(local, 'escape')]);
    const config = defaultConfig(local, ['sh', '-c', 'grep -c " /target " /proc/mounts']);
    config.mounts.push({ destination: '/escape', type: 'tmpfs', source: 'tmpfs', options: [] });
    const r = await runContainer(scratch, config);
    expect(r.stdout).toBe('1\n');
    expect(existsSync(path.join(local, 'target'))).toBe(true); // created in the rootfs, not at /target
    expect(existsSync('/target')).toBe(false);
  });

  it('mounts an overlay rootfs from the annotations and a read-only root', async () => {
    const dir = scratch.dir();
    for (const d of ['upper', 'work']) mkdirSync(path.join(dir, d));
    const config = sh('echo hi > /tmp/new && cat /tmp/new');
    config.annotations = {
      'org.tscontainer.rootfs.type': 'overlay',
      'org.tscontainer.rootfs.source': 'overlay',
      'org.tscontainer.rootfs.data': `lowerdir=${path.relative(dir, rootfs)},upperdir=upper,workdir=work`,
      'org.tscontainer.rootfs.cwd': dir,
    };
    const r = await runContainer(scratch, config);
    expect(r.stdout).toBe('hi\n');
    expect(readFileSync(path.join(dir, 'upper/tmp/new'), 'utf8')).toBe('hi\n');
    expect(existsSync(path.join(rootfs, 'tmp/new'))).toBe(false);

    const ro = sh('touch /tmp/x 2>/dev/null || echo read-only');
    ro.root.readonly = true;
    expect((await runContainer(scratch, ro)).stdout).toBe('read-only\n');
  });

  it('kills the child and exits 125 when fd 4 closes before go', async () => {
    const { bundle, state } = writeBundle(scratch, sh('echo never'));
    const h = new Helper(scratch, ['run', '--bundle', bundle, '--state', state]);
    h.input();
    const pid = (await h.report('pid'))!.pid!;
    expect(alive(pid)).toBe(true);
    h.giveUp();
    const exit = await h.exited;
    expect(exit.code).toBe(125);
    expect(alive(pid)).toBe(false);
    expect(h.stdout).toBe('');
    expect(existsSync(path.join(state, 'exit.json'))).toBe(false);
  });

  it('runs from a sealed memfd copy of itself', async () => {
    let exe = '';
    await runContainer(scratch, sh('sleep 30'), {
      whileRunning: async (h, pid) => {
        exe = readlinkSync(`/proc/${h.child.pid}/exe`);
        process.kill(pid, 'SIGKILL');
      },
    });
    expect(exe).toMatch(/^\/memfd:tscontainer-helper/);
  });

  it('relays stdin with --stdin, and gives /dev/null without it', async () => {
    const r = await runContainer(scratch, sh('tr a-z A-Z'), { flags: ['--stdin'], stdin: 'hello\nworld\n' });
    expect(r.stdout).toBe('HELLO\nWORLD\n');
    const n = await runContainer(scratch, sh('cat; readlink /proc/self/fd/0'), { stdin: 'ignored' });
    expect(n.stdout).toBe('/dev/null\n');
  });

  it('forwards SIGTERM to the container init', async () => {
    const r = await runContainer(scratch, sh('trap "echo got TERM; exit 3" TERM; echo ready; while :; do sleep 0.05; done'), {
      whileRunning: async (h) => {
        while (!h.stdout.includes('ready')) await sleep(20);
        h.child.kill('SIGTERM');
      },
    });
    expect(r.stdout).toBe('ready\ngot TERM\n');
    expect(r.code).toBe(3);
  });

  it('writes a JSON-lines log, and only the log with --detach', async () => {
    const dir = scratch.dir();
    const log = path.join(dir, 'ctr.log');
    const script = "echo out; echo err >&2; printf 'q\"uo\\\\te\\t\\001\\377\\n'; printf partial";
    const r = await runContainer(scratch, sh(script), { flags: ['--detach', '--log', log] });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    const lines = readFileSync(log, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const byStream = (s: string) => lines.filter((l) => l.stream === s).map((l) => l.log);
    expect(byStream('stdout')).toEqual(['out\n', 'q"uo\\te\t\u0001\ufffd\n', 'partial']);
    expect(byStream('stderr')).toEqual(['err\n']);
    for (const l of lines) expect(l.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);

    const both = await runContainer(scratch, sh('echo both'), { flags: ['--log', log] });
    expect(both.stdout).toBe('both\n');
    expect(readFileSync(log, 'utf8')).toContain('"log":"both\\n"');
  });

  it('records oomKilled from --oom-file', async () => {
    const dir = scratch.dir();
    const oom = path.join(dir, 'memory.events');
    writeFileSync(oom, 'low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n');
    const r = await runContainer(scratch, sh('exit 1'), { flags: ['--oom-file', oom] });
    expect(JSON.parse(readFileSync(path.join(r.state, 'exit.json'), 'utf8'))).toMatchObject({ exitCode: 1, oomKilled: true });
  });

  it('gives the container its own terminal with --tty', async () => {
    const { bundle, state } = writeBundle(scratch, sh('tty; stty size; readlink /proc/self/fd/0'));
    const r = await underPty(scratch, `${HELPER} run --bundle ${bundle} --state ${state} --tty --stdin`, 30, 100);
    expect(r.output.replace(/\r/g, '')).toBe('/dev/pts/0\n30 100\n/dev/pts/0\n');
    expect(r.code).toBe(0);
  });
});

describe.skipIf(!isRoot)('tscontainer-helper exec (needs root: namespaces, mounts, cgroups)', () => {
  async function startSleeper(): Promise<{ helper: Helper; pid: number; state: string }> {
    const { bundle, state } = writeBundle(scratch, sh('sleep 60'));
    const helper = new Helper(scratch, ['run', '--bundle', bundle, '--state', state]);
    helper.input();
    const pid = (await helper.report('pid'))!.pid!;
    helper.go();
    expect((await helper.report('started', 'error'))!.type).toBe('started');
    return { helper, pid, state };
  }

  function processFile(proc: object): string {
    const file = path.join(scratch.dir(), 'process.json');
    writeFileSync(file, JSON.stringify(proc));
    return file;
  }

  it('joins the container namespaces, user, cwd and env, and returns the exit code', async () => {
    const { pid, state } = await startSleeper();
    const file = processFile({
      args: [
        'sh',
        '-c',
        'echo $$ $(hostname) $(id -u) $(pwd) $FOO; for n in mnt uts ipc net pid cgroup; do readlink /proc/self/ns/$n; done; exit 7',
      ],
      env: ['PATH=/bin', 'FOO=bar'],
      cwd: '/tmp',
      user: { uid: 65534, gid: 65534 },
    });
    const h = new Helper(scratch, ['exec', '--pid', String(pid), '--process', file, '--state', state]);
    h.input();
    const exit = await h.exited;
    expect(exit.code).toBe(7);
    expect(h.reports.map((r) => r.type)).toEqual(['pid', 'started']);
    const [first, ...links] = h.stdout.trim().split('\n');
    expect(first).toMatch(/^\d+ tsc-test 65534 \/tmp bar$/);
    expect(Number(first!.split(' ')[0])).toBeGreaterThan(1); // inside the container's pid ns
    const want = ['mnt', 'uts', 'ipc', 'net', 'pid', 'cgroup'].map((n) => readlinkSync(`/proc/${pid}/ns/${n}`));
    expect(links).toEqual(want);
  });

  it('relays stdin and reports exec failures', async () => {
    const { pid, state } = await startSleeper();
    const cat = new Helper(scratch, [
      'exec',
      '--pid',
      String(pid),
      '--process',
      processFile({ args: ['cat'], env: ['PATH=/bin'] }),
      '--state',
      state,
      '--stdin',
    ]);
    cat.input('piped\n');
    expect((await cat.exited).code).toBe(0);
    expect(cat.stdout).toBe('piped\n');

    const missing = new Helper(scratch, [
      'exec',
      '--pid',
      String(pid),
      '--process',
      processFile({ args: ['nosuchcmd'], env: ['PATH=/bin'] }),
      '--state',
      state,
    ]);
    missing.input();
    expect((await missing.exited).code).toBe(127);
    expect(missing.reports.at(-1)).toEqual({
      type: 'error',
      code: 127,
      message: 'exec: "nosuchcmd": executable file not found in $PATH',
    });
  });

  it('joins cgroups given with --cgroup-procs', async () => {
    const hierarchy = ['/sys/fs/cgroup/pids', '/sys/fs/cgroup/unified', '/sys/fs/cgroup'].find((d) =>
      existsSync(path.join(d, 'cgroup.procs')),
    );
    expect(hierarchy).toBeDefined();
    const group = path.join(hierarchy!, `tsc-native-${process.pid}`);
    mkdirSync(group);
    try {
      const { pid, state } = await startSleeper();
      const file = processFile({ args: ['cat', '/proc/self/cgroup'], env: ['PATH=/bin'] });
      const h = new Helper(scratch, [
        'exec',
        '--pid',
        String(pid),
        '--process',
        file,
        '--state',
        state,
        '--cgroup-procs',
        path.join(group, 'cgroup.procs'),
      ]);
      h.input();
      expect((await h.exited).code).toBe(0);
      expect(h.stdout).toContain(`/tsc-native-${process.pid}\n`);
    } finally {
      await scratch.cleanup();
      for (let i = 0; i < 50 && existsSync(group); i++) {
        try {
          rmdirSync(group);
        } catch {
          await sleep(20); // the killed processes are still leaving the group
        }
      }
    }
  });

  it('fails with 125 when the container process is gone', async () => {
    const file = processFile({ args: ['true'] });
    // a pid that cannot exist: above the kernel's pid_max
    const pidMax = Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8'));
    const h = new Helper(scratch, ['exec', '--pid', String(pidMax + 1), '--process', file, '--state', scratch.dir()]);
    h.input();
    expect((await h.exited).code).toBe(125);
    expect(h.reports).toEqual([{ type: 'error', code: 125, message: `container process ${pidMax + 1} is not running` }]);
  });

  it('gives the process a terminal from the container with --tty', async () => {
    const { pid, state } = await startSleeper();
    const file = processFile({ args: ['sh', '-c', 'tty; stty size'], env: ['PATH=/bin'] });
    const r = await underPty(scratch, `${HELPER} exec --pid ${pid} --process ${file} --state ${state} --tty --stdin`, 20, 70);
    expect(r.output.replace(/\r/g, '')).toBe('/dev/pts/0\n20 70\n');
    expect(r.code).toBe(0);
  });
});

describe.skipIf(!isRoot)('tscontainer-helper: users, loopback, exit command, attach socket (needs root: namespaces)', () => {
  it("resolves the org.tscontainer.user annotation in the container's /etc/passwd and /etc/group", async () => {
    const config = sh('id -u; id -g; id -G; echo $HOME; grep CapEff /proc/self/status');
    config.annotations['org.tscontainer.user'] = 'user';
    const noHome = sh('echo $HOME');
    noHome.process.env = noHome.process.env!.filter((e) => !e.startsWith('HOME='));
    noHome.annotations['org.tscontainer.user'] = 'nobody';
    expect((await runContainer(scratch, noHome)).stdout).toBe('/\n'); // from passwd
    writeFileSync(path.join(rootfs, 'etc/group'), 'root:x:0:\ntty:x:5:user\nuser:x:1000:\nnobody:x:65534:\n');
    try {
      const r = await runContainer(scratch, config);
      // supplementary groups from the member lists; HOME from passwd; no effective caps for non-root
      // (HOME stays as the config's env sets it: /root)
      expect(r.stdout).toBe('1000\n1000\n1000 5\n/root\nCapEff:\t0000000000000000\n');
    } finally {
      writeFileSync(path.join(rootfs, 'etc/group'), 'root:x:0:\ntty:x:5:\nuser:x:1000:\nnobody:x:65534:\n');
    }
    const bad = sh('true');
    bad.annotations['org.tscontainer.user'] = 'ghost';
    const r2 = await runContainer(scratch, bad);
    expect(r2.code).toBe(125);
    expect(r2.reports.at(-1)).toEqual({
      type: 'error',
      code: 125,
      message: 'unable to find user ghost: no matching entries in passwd file',
    });
  });

  it('brings lo up in a new network namespace', async () => {
    const r = await runContainer(scratch, sh('cat /sys/class/net/lo/operstate /sys/class/net/lo/flags'));
    expect(r.stdout.split('\n')[1]).toMatch(/^0x\d*[9b]$/); // IFF_UP (0x1) set: 0x9 = UP|LOOPBACK
  });

  it('runs the exit command after exit.json, in its own session with stdio on /dev/null', async () => {
    const dir = scratch.dir();
    const out = path.join(dir, 'exit-command.out');
    const script = `exec >${out}; cat ${'$1'}/exit.json; readlink /proc/$$/fd/0; ps -o sid= -p $$ | tr -d ' '; echo $$`;
    const { bundle, state } = writeBundle(scratch, sh('exit 3'));
    const h = new Helper(scratch, [
      'run',
      '--bundle',
      bundle,
      '--state',
      state,
      '--detach',
      '--exit-command',
      '/bin/sh',
      '--exit-arg',
      '-c',
      '--exit-arg',
      script,
      '--exit-arg',
      'x',
      '--exit-arg',
      state,
    ]);
    h.input();
    await h.report('pid');
    h.go();
    expect((await h.exited).code).toBe(3);
    for (let i = 0; i < scaled(100) && !(existsSync(out) && readFileSync(out, 'utf8').trim().split('\n').length >= 4); i++) await sleep(20);
    const [exitJson, stdin, sid, pid] = readFileSync(out, 'utf8').trim().split('\n');
    expect(JSON.parse(exitJson!)).toMatchObject({ exitCode: 3, signal: null });
    expect(stdin).toBe('/dev/null');
    expect(sid).toBe(pid); // a session leader
  });

  it('serves the attach socket of a detached run: framed output, input to stdin', async () => {
    const { bundle, state } = writeBundle(scratch, sh('read l; echo "got $l"; echo oops >&2; read l2'));
    const h = new Helper(scratch, ['run', '--bundle', bundle, '--state', state, '--detach', '--stdin']);
    h.input();
    await h.report('pid');
    h.go();
    await h.report('started');
    const { connect } = await import('node:net');
    const cwd = process.cwd();
    process.chdir(state);
    const sock = connect({ path: 'attach.sock' });
    process.chdir(cwd);
    const frames: [number, string][] = [];
    let buf = Buffer.alloc(0);
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 8 && buf.length >= 8 + buf.readUInt32BE(4)) {
        frames.push([buf[0]!, buf.subarray(8, 8 + buf.readUInt32BE(4)).toString()]);
        buf = buf.subarray(8 + buf.readUInt32BE(4));
      }
    });
    await new Promise((r) => sock.once('connect', r));
    sock.write('one\n');
    for (let i = 0; i < scaled(100) && frames.length < 2; i++) await sleep(20);
    expect(frames).toEqual([
      [1, 'got one\n'],
      [2, 'oops\n'],
    ]);
    sock.write('two\n');
    const closed = new Promise((r) => sock.once('close', r));
    expect((await h.exited).code).toBe(0);
    await closed; // the monitor closes its clients when the container is gone
  });
});

describe.skipIf(!isRoot)(
  'tscontainer-helper: untrusted files, rlimits, sealing, ro binds, pid reuse (needs root: namespaces, mounts)',
  () => {
    /** Run a config to completion from a bundle whose config.json text was edited first. */
    async function runEdited(config: OciConfig, edit: (json: string) => string) {
      const { bundle, state } = writeBundle(scratch, config);
      const file = path.join(bundle, 'config.json');
      writeFileSync(file, edit(readFileSync(file, 'utf8')));
      const h = new Helper(scratch, ['run', '--bundle', bundle, '--state', state]);
      h.input();
      if ((await h.report('pid', 'error'))?.type === 'pid') h.go();
      const exit = await h.exited;
      return { ...exit, stdout: h.stdout, reports: h.reports };
    }

    it('skips malformed and overlong lines of /etc/passwd and /etc/group', async () => {
      const local = makeRootfs(scratch.dir());
      writeFileSync(
        path.join(local, 'etc/passwd'),
        // 3 and 4 fields (the old code read the missing home field), then a 4 KiB+ line whose
        // tail would parse as a root account named "long" if the line were split by fgets
        'short:x:5\nfour:x:7:7\n' +
          `${'a'.repeat(4095)}long:x:0:0:l:/:/bin/sh\n` +
          'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\n',
      );
      // a 3-field group line (the old code read its missing member list)
      writeFileSync(path.join(local, 'etc/group'), 'grp:x:10\nroot:x:0:\ntty:x:5:user\nuser:x:1000:\n');
      const config = defaultConfig(local, ['sh', '-c', 'id -u; id -g; id -G; echo $HOME']);
      config.process.env = config.process.env!.filter((e) => !e.startsWith('HOME='));
      config.annotations['org.tscontainer.user'] = 'user';
      const r = await runContainer(scratch, config);
      expect(r.reports.at(-1)).toEqual({ type: 'started' });
      expect(r.stdout).toBe('1000\n1000\n1000 5\n/home/user\n');
      expect(r.code).toBe(0);

      for (const [spec, message] of [
        ['four', 'unable to find user four: no matching entries in passwd file'],
        ['long', 'unable to find user long: no matching entries in passwd file'],
        ['user:grp', 'unable to find group grp: no matching entries in group file'],
      ]) {
        const bad = defaultConfig(local, ['true']);
        bad.annotations['org.tscontainer.user'] = spec!;
        const b = await runContainer(scratch, bad);
        expect(b.code).toBe(125);
        expect(b.reports.at(-1)).toEqual({ type: 'error', code: 125, message });
      }
    });

    it('takes an rlimit of -1 (or 2^63 and above) as unlimited', async () => {
      // the host's hard RLIMIT_NOFILE is finite here, so use limits root may raise to infinity
      const hard = (r: string) => execFileSync('sh', ['-c', `ulimit -H${r}`], { encoding: 'utf8' }).trim();
      expect(hard('c')).toBe('unlimited');
      expect(hard('f')).toBe('unlimited');
      const config = sh('grep -E "^Max (core file|file) size" /proc/self/limits');
      config.process.rlimits = [
        { type: 'RLIMIT_CORE', soft: -1, hard: -1 },
        { type: 'RLIMIT_FSIZE', soft: 1048576, hard: 4242 }, // hard: replaced by 2^64-1 below
      ];
      const r = await runEdited(config, (json) => json.replace('"hard": 4242', '"hard": 18446744073709551615'));
      expect(r.code).toBe(0);
      const lines = r.stdout
        .trim()
        .split('\n')
        .map((l) => l.trim().split(/\s{2,}/));
      expect(lines).toEqual([
        ['Max file size', '1048576', 'unlimited', 'bytes'],
        ['Max core file size', 'unlimited', 'unlimited', 'bytes'],
      ]);

      const negative = sh('true');
      negative.process.rlimits = [{ type: 'RLIMIT_CORE', soft: -2, hard: -1 }];
      const n = await runContainer(scratch, negative);
      expect(n.code).toBe(125);
      expect(n.reports).toEqual([
        {
          type: 'error',
          code: 125,
          message: 'config.json: process.rlimits[].soft must be -1 (unlimited) or a non-negative number',
        },
      ]);
    });

    it('re-executes from a sealed memfd even when the old environment marker is set', async () => {
      let exe = '';
      let environ = '';
      await runContainer(scratch, sh('sleep 30'), {
        spawn: { env: { ...process.env, _TSCONTAINER_HELPER_SEALED: '1' } },
        whileRunning: async (h, pid) => {
          exe = readlinkSync(`/proc/${h.child.pid}/exe`);
          environ = readFileSync(`/proc/${h.child.pid}/environ`, 'utf8');
          process.kill(pid, 'SIGKILL');
        },
      });
      expect(exe).toMatch(/^\/memfd:tscontainer-helper/);
      expect(environ).not.toContain('_TSCONTAINER_HELPER_SEALED'); // removed before the re-exec
    });

    it('makes a read-only bind volume read-only with every mount below it', async () => {
      const src = scratch.dir();
      mkdirSync(path.join(src, 'sub'));
      const config = sh(
        'grep " /mnt/vol/sub " /proc/mounts | cut -d" " -f3,4 | cut -d, -f1; ' +
          'echo x > /mnt/vol/sub/f || echo sub read-only; echo x > /mnt/vol/f || echo top read-only',
      );
      config.mounts.push({ destination: '/mnt/vol', type: 'bind', source: src, options: ['rbind', 'ro'] });
      // the tmpfs under the source exists only in a private mount namespace of this one helper
      const r = await runContainer(scratch, config, {
        spawn: { prefix: ['unshare', '-m', 'sh', '-c', 'mount -t tmpfs none "$0" && exec "$@"', path.join(src, 'sub')] },
      });
      expect(r.stdout).toBe('tmpfs ro\nsub read-only\ntop read-only\n');
      expect(r.stderr).toContain("can't create /mnt/vol/sub/f: Read-only file system");
      expect(r.code).toBe(0);
      expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(path.join(src, 'sub'));
    });

    it('reports a config.json string array holding a non-string (no leak, no crash)', async () => {
      const config = sh('true');
      config.process.args = ['sh', 7 as unknown as string];
      const r = await runContainer(scratch, config);
      expect(r.code).toBe(125);
      expect(r.reports).toEqual([{ type: 'error', code: 125, message: 'config.json: process.args[1] must be a string' }]);

      const caps = sh('true');
      caps.process.capabilities!.bounding = ['CAP_CHOWN', 'CAP_NO_SUCH_THING'];
      const c = await runContainer(scratch, caps);
      expect(c.reports).toEqual([{ type: 'error', code: 125, message: 'config.json: unknown capability "CAP_NO_SUCH_THING"' }]);
    });

    it('exec --pid-start refuses a pid whose start time differs (a reused pid)', async () => {
      const { bundle, state } = writeBundle(scratch, sh('sleep 60'));
      const run = new Helper(scratch, ['run', '--bundle', bundle, '--state', state]);
      run.input();
      const pid = (await run.report('pid'))!.pid!;
      run.go();
      expect((await run.report('started', 'error'))!.type).toBe('started');
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const start = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]); // field 22
      const file = path.join(scratch.dir(), 'process.json');
      writeFileSync(file, JSON.stringify({ args: ['echo', 'inside'], env: ['PATH=/bin'] }));
      const exec = (pidStart: string) => {
        const h = new Helper(scratch, [
          'exec',
          '--pid',
          String(pid),
          '--pid-start',
          pidStart,
          '--process',
          file,
          '--state',
          state,
        ]);
        h.input();
        return h;
      };

      const ok = exec(String(start));
      expect((await ok.exited).code).toBe(0);
      expect(ok.stdout).toBe('inside\n');

      const reused = exec(String(start + 1));
      expect((await reused.exited).code).toBe(125);
      expect(reused.reports).toEqual([{ type: 'error', code: 125, message: `container process ${pid} is not running` }]);
      expect(reused.stdout).toBe('');

      const garbage = exec('12abc');
      expect((await garbage.exited).code).toBe(125);
      expect(garbage.stderr).toContain('usage:');
    });
  },
);
