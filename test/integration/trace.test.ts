// --trace on the real run path: one event stream from the CLI and the native helper, in order,
// each with a time and a duration; nothing at all without the flag; the flag is only taken where
// it is tscontainer's (not from the container's command line).
import { afterAll, describe, expect, it } from 'vitest';
import { makeRoot } from './support/cli.js';

const skip = process.getuid?.() !== 0 ? 'needs root' : undefined;

interface Ev {
  time: string;
  at: number;
  ms: number;
  by: string;
  step: string;
  detail: string;
}

function events(stderr: string): Ev[] {
  return stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Ev);
}

describe.skipIf(skip !== undefined)('--trace', () => {
  const t = makeRoot('trace');
  afterAll(async () => {
    expect(await t.cleanup()).toEqual([]);
  });

  it('run --trace=json narrates the TS and the helper steps in order', async () => {
    const r = await t.run(['run', '--trace=json', '--rm', '--network', 'none', 'busybox', 'true']);
    expect(r.exitCode, r.stderr).toBe(0);
    const ev = events(r.stderr);
    const steps = ev.map((e) => e.step);
    for (const e of ev) {
      expect(Number.isNaN(Date.parse(e.time))).toBe(false);
      expect(e.ms).toBeGreaterThanOrEqual(0);
    }
    const find = (step: string, by?: RegExp) => ev.findIndex((e) => e.step === step && (!by || by.test(e.by)));
    expect(find('sqlite insert', /tscontainer/)).toBeGreaterThanOrEqual(0);
    expect(ev[find('layer chain')]?.detail).toMatch(/lowerdir=/);
    const clone = find('clone', /helper/);
    expect(ev[clone]?.detail).toMatch(/CLONE_NEWPID/);
    expect(ev[clone]?.detail).toMatch(/-> pid \d+/);
    const join = ev.findIndex((e) => e.step === 'cgroup write' && e.detail.endsWith('/cgroup.procs'));
    const pivot = find('pivot_root', /helper/);
    const exec = find('execve', /helper/);
    expect(clone).toBeGreaterThan(find('sqlite insert'));
    expect(join).toBeGreaterThan(clone);
    expect(pivot).toBeGreaterThan(find('mount root'));
    expect(exec).toBeGreaterThan(pivot);
    expect(ev[exec]?.detail).toContain('"true"');
    expect(ev[find('drop bounding')]?.detail).toMatch(/keep 14 of \d+ capabilities/);
    expect(steps).toContain('mount');
    expect(steps).toContain('sqlite delete');
  });

  it('prints a narration with --trace, and nothing without it', async () => {
    const on = await t.run(['run', '--trace', '--rm', '--network', 'none', 'busybox', 'true']);
    expect(on.exitCode, on.stderr).toBe(0);
    expect(on.stderr).toMatch(/^trace +[\d.]+ ms +[\d.]+ ms +helper +pivot_root /m);
    const off = await t.run(['run', '--rm', '--network', 'none', 'busybox', 'true']);
    expect(off.exitCode).toBe(0);
    expect(off.stderr).toBe('');
  });

  it('shows the seccomp steps for the default profile, and none with seccomp=unconfined', async () => {
    const on = await t.run(['run', '--trace=json', '--rm', '--network', 'none', 'busybox', 'true']);
    expect(on.exitCode, on.stderr).toBe(0);
    const ev = events(on.stderr);
    const profile = ev.find((e) => e.step === 'seccomp profile' && e.by === 'tscontainer');
    expect(profile?.detail).toMatch(/^default profile: default SCMP_ACT_ERRNO, \d+ of \d+ rules apply/);
    const compile = ev.findIndex((e) => e.step === 'seccomp compile' && e.by.startsWith('helper'));
    expect(ev[compile]?.detail).toMatch(/\d+ rules .*(compiled by libseccomp|read from the cache): \d+ BPF instructions/);
    const install = ev.findIndex((e) => e.step === 'seccomp' && e.by.startsWith('helper'));
    expect(ev[install]?.detail).toMatch(
      /^seccomp\(SECCOMP_SET_MODE_FILTER, 0, \{\d+ instructions\}\): default SCMP_ACT_ERRNO\(1\), \d+ rules, (compiled|read from the cache) in [\d.]+ ms, no_new_privs 0$/,
    );
    expect(install).toBeGreaterThan(compile);
    expect(ev.findIndex((e) => e.step === 'execve')).toBeGreaterThan(install);
    // the second container with the same rules reads the filter from the cache
    const again = events((await t.run(['run', '--trace=json', '--rm', '--network', 'none', 'busybox', 'true'])).stderr);
    expect(again.find((e) => e.step === 'seccomp compile')?.detail).toContain('read from the cache');
    // with no_new_privs the filter goes on after it, and the kernel says so
    const nnp = events(
      (
        await t.run([
          'run',
          '--trace=json',
          '--rm',
          '--network',
          'none',
          '--security-opt',
          'no-new-privileges',
          'busybox',
          'true',
        ])
      ).stderr,
    );
    const nnpSteps = nnp.map((e) => e.step);
    expect(nnpSteps.indexOf('seccomp')).toBeGreaterThan(nnpSteps.indexOf('no_new_privs'));
    expect(nnp.find((e) => e.step === 'seccomp')?.detail).toMatch(/no_new_privs 1$/);

    const off = await t.run([
      'run',
      '--trace=json',
      '--rm',
      '--network',
      'none',
      '--security-opt',
      'seccomp=unconfined',
      'busybox',
      'true',
    ]);
    expect(off.exitCode, off.stderr).toBe(0);
    const offEv = events(off.stderr);
    expect(offEv.filter((e) => e.step === 'seccomp' || e.step === 'seccomp compile')).toEqual([]);
    expect(offEv.find((e) => e.step === 'seccomp profile')?.detail).toBe('unconfined: no filter');
    expect(offEv.some((e) => e.step === 'execve')).toBe(true);
  });

  it('leaves --trace in the container command alone', async () => {
    const r = await t.run(['run', '--rm', '--network', 'none', 'busybox', 'echo', '--trace']);
    expect(r.stdout).toBe('--trace');
    expect(r.stderr).toBe('');
  });

  it('exec --trace shows setns into each namespace; rm --trace the clean-up', async () => {
    expect((await t.run(['run', '-d', '--name', 'tw', '--network', 'none', 'busybox', 'sleep', '60'])).exitCode).toBe(0);
    const r = await t.run(['exec', '--trace=json', 'tw', 'true']);
    expect(r.exitCode, r.stderr).toBe(0);
    const ev = events(r.stderr);
    const joined = ev.filter((e) => e.step === 'setns').map((e) => e.detail.replace(/.*\/ns\/(\w+)\)$/, '$1'));
    expect(joined).toEqual(expect.arrayContaining(['mnt', 'pid', 'uts', 'ipc', 'net']));
    expect(ev.at(-1)?.step).toBe('execve');
    const rm = await t.run(['rm', '--trace=json', '-f', 'tw']);
    expect(rm.exitCode, rm.stderr).toBe(0);
    const rmSteps = events(rm.stderr).map((e) => e.step);
    expect(rmSteps).toContain('cgroup rmdir');
    expect(rmSteps).toContain('sqlite delete');
  });

  it('on a bridge network it shows the ip and nft commands', async () => {
    const r = await t.run(['run', '--trace=json', '--rm', 'busybox', 'true']);
    expect(r.exitCode, r.stderr).toBe(0);
    const ev = events(r.stderr);
    expect(ev.some((e) => e.step === 'exec ip' && /veth/.test(e.detail))).toBe(true);
  });

  it('refuses an unknown trace format', async () => {
    const r = await t.run(['run', '--trace=xml', '--rm', 'busybox', 'true']);
    expect(r.exitCode).toBe(125);
    expect(r.stderr).toContain('the trace format is text or json');
  });
});
