// Container hardening as docker's defaults (issue 9): each default is shown to refuse, and its
// opt-out to allow. The escape attempts run as a small static probe (test/fixtures/hardening/
// probe.c) mounted read-only into busybox containers, with --network none throughout.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO, makeRoot, type TestRoot } from './support/cli.js';

let t: TestRoot;
let probeDir: string;

beforeAll(async () => {
  t = makeRoot('harden');
  probeDir = mkdtempSync(join(tmpdir(), 'tsc-probe-'));
  await execa('cc', ['-static', '-O2', '-o', join(probeDir, 'probe'), join(REPO, 'test/fixtures/hardening/probe.c')]);
  const r = await t.run(['run', '--rm', '--network', 'none', 'busybox', 'true']);
  expect(r.exitCode, r.stderr).toBe(0);
}, 120_000);

afterAll(async () => {
  const leaks = await t.cleanup();
  rmSync(probeDir, { recursive: true, force: true });
  expect(leaks).toEqual([]);
});

/** `run --rm --network none [flags] busybox args...` */
function run(flags: string[], args: string[]) {
  return t.run(['run', '--rm', '--network', 'none', ...flags, 'busybox', ...args]);
}

/** The probe's answers as { name: 'OK' | 'EPERM' | ... }. */
async function probe(flags: string[], ...names: string[]): Promise<Record<string, string>> {
  const r = await run(['-v', `${probeDir}:/probe:ro`, ...flags], ['/probe/probe', ...names]);
  expect(r.exitCode, r.stderr).toBe(0);
  return Object.fromEntries(r.stdout.split('\n').map((l) => l.split('=') as [string, string]));
}

describe('seccomp', () => {
  it('a default container runs under a filter (Seccomp: 2), as docker', async () => {
    const r = await run([], ['grep', 'Seccomp:', '/proc/self/status']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^Seccomp:\s+2$/);
  });

  it('the default profile refuses user namespaces, keyrings, file handles and process_vm_readv; plain clone works', async () => {
    expect(await probe([])).toEqual({
      clone_newuser: 'EPERM',
      clone_plain: 'OK',
      unshare_user: 'EPERM',
      keyctl: 'EPERM',
      add_key: 'EPERM',
      name_to_handle_at: 'EPERM',
      process_vm_readv: 'EPERM',
    });
    const r = await run([], ['unshare', '-U', 'true']);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toContain('Operation not permitted');
  });

  it('seccomp=unconfined lifts the filter', async () => {
    const r = await run(
      ['--security-opt', 'seccomp=unconfined'],
      ['sh', '-c', 'grep Seccomp: /proc/self/status; unshare -U true && echo unshared'],
    );
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^Seccomp:\s+0\nunshared$/);
    const p = await probe(['--security-opt', 'seccomp=unconfined']);
    for (const name of ['clone_newuser', 'unshare_user', 'keyctl', 'add_key', 'process_vm_readv'])
      expect(p[name], name).toBe('OK');
    expect(p['name_to_handle_at']).not.toBe('EPERM');
  });

  it('calls gated on a capability are allowed once the container holds it (--cap-add)', async () => {
    const p = await probe(['--cap-add', 'SYS_ADMIN', '--cap-add', 'SYS_PTRACE']);
    expect(p).toMatchObject({ clone_newuser: 'OK', unshare_user: 'OK', process_vm_readv: 'OK', keyctl: 'EPERM' });
  });

  it('the filter holds for a non-root user and with no-new-privileges (both installation points)', async () => {
    const script = 'grep -E "^(Seccomp|NoNewPrivs):" /proc/self/status; id -u; unshare -U true || echo refused';
    const user = await run(['-u', '1000'], ['sh', '-c', script]);
    expect(user.exitCode, user.stderr).toBe(0);
    expect(user.stdout).toMatch(/NoNewPrivs:\s+0\nSeccomp:\s+2\n1000\nrefused/);
    const nnp = await run(['--security-opt', 'no-new-privileges'], ['sh', '-c', script]);
    expect(nnp.exitCode, nnp.stderr).toBe(0);
    expect(nnp.stdout).toMatch(/NoNewPrivs:\s+1\nSeccomp:\s+2\n0\nrefused/);
  });

  it("seccomp=FILE takes docker's profile format: actions, errnoRet, argument conditions; unknown names are skipped", async () => {
    const file = join(probeDir, 'profile.json');
    writeFileSync(
      file,
      JSON.stringify({
        defaultAction: 'SCMP_ACT_ALLOW',
        syscalls: [
          { names: ['mkdir', 'mkdirat', 'no_such_syscall_anywhere'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 },
          // chmod to 0777 only: the mode is argument 1 of chmod, 2 of fchmodat
          { names: ['chmod'], action: 'SCMP_ACT_ERRNO', args: [{ index: 1, value: 0o777, op: 'SCMP_CMP_EQ' }] },
          { names: ['fchmodat'], action: 'SCMP_ACT_ERRNO', args: [{ index: 2, value: 0o777, op: 'SCMP_CMP_EQ' }] },
          { names: ['unshare'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_ADMIN'] } },
        ],
      }),
    );
    const r = await run(
      ['--security-opt', `seccomp=${file}`],
      [
        'sh',
        '-c',
        'mkdir /tmp/d 2>&1; touch /tmp/f; chmod 755 /tmp/f && echo 755 ok; chmod 777 /tmp/f 2>&1; unshare -U true && echo unshared',
      ],
    );
    expect(r.exitCode, r.stderr).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(/Permission denied/); // errnoRet 13 = EACCES
    expect(lines[1]).toBe('755 ok');
    expect(lines[2]).toMatch(/Operation not permitted/); // ERRNO without errnoRet = EPERM
    expect(lines[3]).toBe('unshared'); // defaultAction ALLOW: the cap-gated rule adds nothing
  });

  it('a malformed profile is one clear error, exit 125, and nothing is created', async () => {
    const bad = join(probeDir, 'bad.json');
    for (const [text, says] of [
      ['{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [', 'invalid seccomp profile'],
      ['{"defaultAction": "SCMP_ACT_NOPE"}', 'unknown action "SCMP_ACT_NOPE"'],
      [
        '{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 9, "value": 1, "op": "SCMP_CMP_EQ"}]}]}',
        'index',
      ],
    ] as const) {
      writeFileSync(bad, text);
      const r = await run(['--security-opt', `seccomp=${bad}`], ['true']);
      expect(r.exitCode).toBe(125);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toContain(bad);
      expect(r.stderr).toContain(says);
    }
    const missing = await run(['--security-opt', 'seccomp=/nonexistent/profile.json'], ['true']);
    expect(missing.exitCode).toBe(125);
    expect(missing.stderr).toContain('cannot read seccomp profile /nonexistent/profile.json');
    expect((await t.run(['ps', '-aq'])).stdout).toBe('');
  });

  it("exec runs under the container's filter, and without one for an unconfined container", async () => {
    const confined = await t.run(['run', '-d', '--network', 'none', 'busybox', 'sleep', '60']);
    const loose = await t.run([
      'run',
      '-d',
      '--network',
      'none',
      '--security-opt',
      'seccomp=unconfined',
      'busybox',
      'sleep',
      '60',
    ]);
    expect(confined.exitCode, confined.stderr).toBe(0);
    expect(loose.exitCode, loose.stderr).toBe(0);
    const a = await t.run([
      'exec',
      confined.stdout,
      'sh',
      '-c',
      'grep Seccomp: /proc/self/status; unshare -U true || echo refused',
    ]);
    expect(a.stdout).toMatch(/^Seccomp:\s+2\nrefused$/);
    const b = await t.run([
      'exec',
      loose.stdout,
      'sh',
      '-c',
      'grep Seccomp: /proc/self/status; unshare -U true && echo unshared',
    ]);
    expect(b.stdout).toMatch(/^Seccomp:\s+0\nunshared$/);
    await t.run(['rm', '-f', confined.stdout, loose.stdout]);
  });

  it('a compiled filter is cached in the state root, and a damaged cache file is never trusted', async () => {
    const dir = join(t.root, 'seccomp-cache');
    const files = readdirSync(dir).filter((f) => f.endsWith('.bpf'));
    expect(files.length).toBeGreaterThan(0);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    // garbage of the right name: ignored, compiled again, the filter as strict as ever
    for (const f of files) writeFileSync(join(dir, f), 'TSCBPF1\n' + 'x'.repeat(64));
    const r = await run([], ['sh', '-c', 'grep Seccomp: /proc/self/status; unshare -U true || echo refused']);
    expect(r.stdout).toMatch(/^Seccomp:\s+2\nrefused$/);
  });

  it('label=disable and apparmor=unconfined are accepted with a warning', async () => {
    const r = await run(['--security-opt', 'label=disable', '--security-opt', 'apparmor=unconfined'], ['echo', 'ran']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe('ran');
    expect(r.stderr).toContain('SELinux');
    expect(r.stderr).toContain('AppArmor');
    const bad = await run(['--security-opt', 'apparmor=docker-default'], ['true']);
    expect(bad.exitCode).toBe(125);
  });
});

const v1 = existsSync('/sys/fs/cgroup/memory/memory.limit_in_bytes');

describe('the cgroup view', () => {
  it("shows the container's own limits read-only at /sys/fs/cgroup", async () => {
    const file = v1 ? '/sys/fs/cgroup/memory/memory.limit_in_bytes' : '/sys/fs/cgroup/memory.max';
    const r = await run(
      ['-m', '64m'],
      ['sh', '-c', `cat ${file}; echo 1 > ${file} || echo refused; mkdir /sys/fs/cgroup/x || echo refused`],
    );
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe('67108864\nrefused\nrefused');
    expect(r.stderr).toContain('Read-only file system');
    if (v1) {
      const ls = await run([], ['ls', '/sys/fs/cgroup']);
      expect(ls.stdout.split('\n')).toEqual(
        expect.arrayContaining(['cpu', 'cpuacct', 'cpuset', 'devices', 'freezer', 'memory', 'pids']),
      );
    }
  });

  it('--cgroupns private (the default) shows its group as /, --cgroupns host the host path', async () => {
    const line = v1 ? "grep ':memory:' /proc/self/cgroup" : 'cat /proc/self/cgroup';
    const priv = await run([], ['sh', '-c', line]);
    expect(priv.stdout).toMatch(/:\/$/);
    const host = await run(
      ['--cgroupns', 'host', '-m', '32m'],
      ['sh', '-c', `${line}; cat ${v1 ? '/sys/fs/cgroup/memory/memory.limit_in_bytes' : '/sys/fs/cgroup/memory.max'}`],
    );
    expect(host.exitCode, host.stderr).toBe(0);
    expect(host.stdout).toMatch(new RegExp(`:/${t.cgroupParent}/[0-9a-f]{64}\n33554432$`));
    const bad = await run(['--cgroupns', 'nope'], ['true']);
    expect(bad.exitCode).toBe(125);
  });
});

describe('--privileged', () => {
  const script =
    'mkdir -p /mnt; mount -t tmpfs t /mnt && echo mounted; ls /dev/loop0 >/dev/null 2>&1 && echo loop0; ' +
    'grep Seccomp: /proc/self/status; grep " /sys " /proc/self/mountinfo | grep -q " rw," && echo sys-rw; ' +
    'grep -qE " /proc/(kcore|keys|timer_list|sched_debug) | /sys/firmware " /proc/self/mountinfo || echo unmasked';
  it('the default refuses mounts, host devices, a writable /sys', async () => {
    const r = await run([], ['sh', '-c', script]);
    expect(r.stdout).toMatch(/^Seccomp:\s+2$/);
    expect(r.stderr).toMatch(/permission denied|Operation not permitted/i);
  });

  it('--privileged gives every capability, no filter, host devices, rw /sys, nothing masked', async () => {
    const r = await run(['--privileged'], ['sh', '-c', script]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^mounted\n(loop0\n)?Seccomp:\s+0\nsys-rw\nunmasked$/);
    if (existsSync('/dev/loop0')) expect(r.stdout).toContain('loop0');
  });

  it('--cap-add ALL, like --privileged, means every capability this host gives (CapBnd), minus --cap-drop', async () => {
    const bnd = /^CapBnd:\s*(\w+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))![1];
    const all = await run(['--cap-add', 'ALL'], ['grep', 'CapEff:', '/proc/self/status']);
    expect(all.exitCode, all.stderr).toBe(0);
    expect(all.stdout).toBe(`CapEff:\t${bnd}`);
    const priv = await run(['--privileged'], ['grep', 'CapEff:', '/proc/self/status']);
    expect(priv.stdout).toBe(`CapEff:\t${bnd}`);
    const drop = await run(['--cap-add', 'ALL', '--cap-drop', 'MKNOD'], ['grep', 'CapEff:', '/proc/self/status']);
    expect(BigInt(`0x${drop.stdout.split('\t')[1]}`)).toBe(BigInt(`0x${bnd}`) & ~(1n << 27n)); // CAP_MKNOD is 27
  });
});

describe('devices', () => {
  const loop = existsSync('/dev/loop0') && existsSync('/dev/fuse');
  it.skipIf(!loop)(
    '--device HOST[:CONTAINER[:rwm]] adds the host node with its numbers and owner, limited by the cgroup',
    async () => {
      const none = await run([], ['ls', '/dev/fuse']);
      expect(none.exitCode).not.toBe(0);
      const r = await run(
        ['--device', '/dev/fuse', '--device', '/dev/loop0:/dev/xloop:r'],
        [
          'sh',
          '-c',
          'ls -ln /dev/fuse /dev/xloop; head -c 1 /dev/xloop >/dev/null && echo read-ok; echo x > /dev/xloop || echo write-refused',
        ],
      );
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^c.* 0 +0 +10, +229 .*\/dev\/fuse\nb.* 0 +0 +7, +0 .*\/dev\/xloop\nread-ok\nwrite-refused$/);
      if (existsSync('/dev/net/tun')) {
        const dir = await run(['--device', '/dev/net:/dev/xnet'], ['ls', '/dev/xnet']);
        expect(dir.stdout).toBe('tun'); // a directory gives every node below it
      }
      const bad = await run(['--device', '/dev/nonexistent'], ['true']);
      expect(bad.exitCode).toBe(125);
      expect(bad.stderr).toContain('/dev/nonexistent');
    },
  );

  it.skipIf(!loop || !v1)(
    "docker's default device list refuses a node made with mknod; --device-cgroup-rule allows it",
    async () => {
      const script = 'mknod /tmp/l b 7 0 && head -c 1 /tmp/l >/dev/null && echo opened';
      const deny = await run([], ['sh', '-c', script]);
      expect(deny.stdout).toBe('');
      expect(deny.stderr).toContain('Operation not permitted');
      const allow = await run(['--device-cgroup-rule', 'b 7:0 r'], ['sh', '-c', script]);
      expect(allow.stdout).toBe('opened');
      expect((await run(['--device-cgroup-rule', 'x 1:2 q'], ['true'])).exitCode).toBe(125);
    },
  );
});

describe('mounts and limits', () => {
  it('--tmpfs with options, --read-only with a tmpfs, --shm-size', async () => {
    const r = await run(
      ['--tmpfs', '/run:size=16m,mode=1777'],
      ['sh', '-c', "df -k /run | tail -1 | awk '{print $2}'; stat -c %a /run"],
    );
    expect(r.stdout).toBe('16384\n1777');
    const ro = await run(['--read-only', '--tmpfs', '/tmp'], ['sh', '-c', 'touch /tmp/ok && echo tmp-ok; touch /x 2>&1']);
    expect(ro.stdout).toMatch(/^tmp-ok\n.*Read-only file system/);
    const shm = await run(['--shm-size', '16m'], ['sh', '-c', "df -k /dev/shm | tail -1 | awk '{print $2}'"]);
    expect(shm.stdout).toBe('16384');
    expect((await run(['--tmpfs', '/run:size=lots'], ['true'])).exitCode).toBe(125);
  });

  it('--sysctl sets namespaced values only, and /proc/sys stays read-only', async () => {
    const before = readFileSync('/proc/sys/kernel/shmmax', 'utf8');
    const r = await run(
      ['--sysctl', 'net.ipv4.ip_unprivileged_port_start=80', '--sysctl', 'kernel.shmmax=1000000'],
      [
        'sh',
        '-c',
        'cat /proc/sys/net/ipv4/ip_unprivileged_port_start /proc/sys/kernel/shmmax; (echo 1 > /proc/sys/kernel/shmmax) 2>&1',
      ],
    );
    expect(r.stdout).toMatch(/^80\n1000000\n.*Read-only file system/);
    expect(readFileSync('/proc/sys/kernel/shmmax', 'utf8')).toBe(before);
    const host = await run(['--sysctl', 'kernel.panic=1'], ['true']);
    expect(host.exitCode).toBe(125);
    expect(host.stderr).toContain('not namespaced');
    const hostNet = await t.run(['run', '--rm', '--network', 'host', '--sysctl', 'net.ipv4.ip_forward=1', 'busybox', 'true']);
    expect(hostNet.exitCode).toBe(125);
  });

  it('--oom-score-adj', async () => {
    const r = await run(['--oom-score-adj', '500'], ['cat', '/proc/self/oom_score_adj']);
    expect(r.stdout).toBe('500');
    expect((await run(['--oom-score-adj', '1001'], ['true'])).exitCode).toBe(125);
  });
});

describe('--init', () => {
  const states = 'for f in /proc/[0-9]*/stat; do cut -d" " -f1-3 $f; done';
  it("pid 1 is a small init; the command is pid 2 and its exit code is the container's", async () => {
    const r = await run(['--init'], ['ps', '-o', 'pid,comm']);
    expect(r.stdout.split('\n').map((l) => l.trim())).toEqual(['PID   COMMAND', '1 init', '2 ps']);
    expect((await run(['--init'], ['sh', '-c', 'exit 3'])).exitCode).toBe(3);
    expect((await run(['--init'], ['nosuchcmd'])).exitCode).toBe(127);
  });

  it("reaps orphans (without it they stay zombies) and forwards stop's SIGTERM", async () => {
    const cmd = ['sh', '-c', '(sleep 0.1 &); exec sleep 30'];
    const plain = await t.run(['run', '-d', '--network', 'none', 'busybox', ...cmd]);
    const init = await t.run(['run', '-d', '--network', 'none', '--init', 'busybox', ...cmd]);
    await new Promise((r) => setTimeout(r, 1000));
    expect((await t.run(['exec', plain.stdout, 'sh', '-c', states])).stdout).toMatch(/\(sleep\) Z/);
    expect((await t.run(['exec', init.stdout, 'sh', '-c', states])).stdout).not.toMatch(/ Z/);
    // sleep as pid 2 dies of SIGTERM at once: 143, long before the 10 s timeout
    const started = Date.now();
    expect((await t.run(['stop', '-t', '10', init.stdout])).exitCode).toBe(0);
    expect(Date.now() - started).toBeLessThan(5000);
    expect((await t.run(['inspect', '-f', '{{.State.ExitCode}}', init.stdout])).stdout).toBe('143');
    await t.run(['rm', '-f', plain.stdout, init.stdout]);
  });
});

describe('escape checks', () => {
  it("the helper's binary is neither reachable nor writable from inside, with or without --init", async () => {
    const helper = join(REPO, 'native/build/tscontainer-helper');
    const before = readFileSync(helper);
    // without --init no process of ours is in the container's pid namespace at all
    const plain = await run([], ['sh', '-c', 'for p in /proc/[0-9]*; do readlink $p/exe; done']);
    expect(plain.stdout).not.toMatch(/tscontainer|memfd/);
    // with --init pid 1 is the helper's sealed copy, and not dumpable: root cannot open it
    const init = await run(
      ['--init'],
      [
        'sh',
        '-c',
        'readlink /proc/1/exe || echo no-link; cat /proc/1/exe > /dev/null || echo no-read; (echo x > /proc/1/exe) 2>/dev/null || echo no-write',
      ],
    );
    expect(init.stdout).toBe('no-link\nno-read\nno-write');
    const c = await t.run(['run', '-d', '--network', 'none', 'busybox', 'sleep', '30']);
    const viaExec = await t.run(['exec', c.stdout, 'sh', '-c', 'for p in /proc/[0-9]*; do readlink $p/exe; done']);
    expect(viaExec.stdout).not.toMatch(/tscontainer|memfd/);
    await t.run(['rm', '-f', c.stdout]);
    expect(readFileSync(helper).equals(before)).toBe(true);
  });

  it('a symlink in the image under a volume target resolves inside the container, never on the host', async () => {
    const hostSide = mkdtempSync(join(tmpdir(), 'tsc-hostside-'));
    const src = mkdtempSync(join(tmpdir(), 'tsc-vol-'));
    const rootfs = mkdtempSync(join(tmpdir(), 'tsc-evil-'));
    try {
      await execa('tar', ['-xf', join(REPO, 'images/busybox/out/layer.tar'), '-C', rootfs]);
      await execa('ln', ['-s', hostSide, join(rootfs, 'abs')]);
      await execa('ln', ['-s', '../../../../../../../..' + hostSide, join(rootfs, 'rel')]);
      await execa('tar', ['-cf', join(src, 'evil.tar'), '-C', rootfs, '.']);
      const imp = await t.run(['import', join(src, 'evil.tar'), 'evil:1']);
      expect(imp.exitCode, imp.stderr).toBe(0);
      writeFileSync(join(src, 'marker'), 'from the volume\n');
      const r = await t.run([
        'run',
        '--rm',
        '--network',
        'none',
        '-v',
        `${src}:/abs/inner`,
        '-v',
        `${src}:/rel/inner2:ro`,
        'evil:1',
        'sh',
        '-c',
        `cat /abs/inner/marker /rel/inner2/marker; ls -d ${hostSide}/inner ${hostSide}/inner2`,
      ]);
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stdout.split('\n')).toEqual(['from the volume', 'from the volume', `${hostSide}/inner`, `${hostSide}/inner2`]);
      // on the host nothing was created or mounted there
      expect(readdirSync(hostSide)).toEqual([]);
    } finally {
      await t.run(['rmi', 'evil:1']);
      for (const d of [hostSide, src, rootfs]) rmSync(d, { recursive: true, force: true });
    }
  });

  it("a volume over /etc keeps the container's /etc/hosts, /etc/hostname and /etc/resolv.conf on top", async () => {
    const etc = mkdtempSync(join(tmpdir(), 'tsc-etc-'));
    try {
      writeFileSync(join(etc, 'hosts'), 'not the container hosts\n');
      const r = await run(
        ['--hostname', 'h9', '-v', `${etc}:/etc`],
        ['sh', '-c', 'cat /etc/hostname; grep -c localhost /etc/hosts'],
      );
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^h9\n[1-9]/);
      expect(readFileSync(join(etc, 'hosts'), 'utf8')).toBe('not the container hosts\n');
    } finally {
      rmSync(etc, { recursive: true, force: true });
    }
  });
});
