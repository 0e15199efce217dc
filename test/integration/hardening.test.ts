// Container hardening as docker's defaults (issue 9): each default is shown to refuse, and its
// opt-out to allow. The escape attempts run as a small static probe (test/fixtures/hardening/
// probe.c) mounted read-only into busybox containers, with --network none throughout.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
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
