// The hardening flags' parsers (issue 9): what each accepts, and the one sentence for what it refuses.
import { describe, expect, it } from 'vitest';
import {
  parseCgroupns,
  parseOomScoreAdj,
  parseSecurityOpts,
  parseSysctls,
  parseTmpfs,
  parseUserns,
} from '../../src/runtime/options.js';
import { parseDevice, parseDeviceCgroupRule } from '../../src/runtime/devices.js';

describe('--security-opt', () => {
  it('reads seccomp=, label=, apparmor= and no-new-privileges in both spellings', () => {
    const files: Record<string, string> = { '/p.json': '{"defaultAction":"SCMP_ACT_ALLOW"}' };
    const read = (p: string) => {
      if (!(p in files)) throw Object.assign(new Error('nope'), { code: 'ENOENT' });
      return files[p]!;
    };
    expect(parseSecurityOpts([], read)).toEqual({ noNewPrivileges: false, seccomp: { mode: 'default' }, warnings: [] });
    expect(parseSecurityOpts(['seccomp=unconfined', 'no-new-privileges:true'], read)).toMatchObject({
      noNewPrivileges: true,
      seccomp: { mode: 'unconfined' },
    });
    expect(parseSecurityOpts(['seccomp:/p.json'], read).seccomp).toEqual({
      mode: 'profile',
      source: '/p.json',
      profile: { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [] },
    });
    expect(parseSecurityOpts(['label=disable', 'apparmor:unconfined'], read).warnings).toHaveLength(2);
    expect(() => parseSecurityOpts(['seccomp=/missing.json'], read)).toThrow('cannot read seccomp profile /missing.json: ENOENT');
    expect(() => parseSecurityOpts(['apparmor=docker-default'], read)).toThrow('unsupported --security-opt');
    expect(() => parseSecurityOpts(['label=type:svirt_t'], read)).toThrow('unsupported --security-opt');
  });
});

describe('--device and --device-cgroup-rule', () => {
  it.each([
    ['/dev/fuse', { hostPath: '/dev/fuse', containerPath: '/dev/fuse', access: 'rwm' }],
    ['/dev/loop0:/dev/xloop', { hostPath: '/dev/loop0', containerPath: '/dev/xloop', access: 'rwm' }],
    ['/dev/loop0:/dev/xloop:r', { hostPath: '/dev/loop0', containerPath: '/dev/xloop', access: 'r' }],
    ['/dev/sda:rw', { hostPath: '/dev/sda', containerPath: '/dev/sda', access: 'rw' }],
  ])('%s', (spec, want) => expect(parseDevice(spec)).toEqual(want));

  it.each(['dev/fuse', '/dev/a:b', '/dev/a:/b:rwx', '/dev/a:/b:rr', '/a:/b:r:x'])('refuses %s', (spec) => {
    expect(() => parseDevice(spec)).toThrow(`invalid --device "${spec}"`);
  });

  it('reads cgroup rules as docker writes them', () => {
    expect(parseDeviceCgroupRule('c 1:3 rwm')).toEqual({ type: 'c', major: 1, minor: 3, access: 'rwm' });
    expect(parseDeviceCgroupRule('b 7:* r')).toEqual({ type: 'b', major: 7, minor: '*', access: 'r' });
    expect(() => parseDeviceCgroupRule('c 1:3')).toThrow('invalid --device-cgroup-rule');
  });
});

describe('--tmpfs, --sysctl, --oom-score-adj, --cgroupns, --userns', () => {
  it('tmpfs: docker defaults first, then the options given, each checked', () => {
    expect(parseTmpfs('/run:size=16m,mode=1777')).toEqual({
      destination: '/run',
      options: ['nosuid', 'nodev', 'noexec', 'size=16m', 'mode=1777'],
    });
    expect(parseTmpfs('/tmp/').options).toEqual(['nosuid', 'nodev', 'noexec']);
    for (const bad of ['run', '/', '/run:size=big', '/run:mode=999', '/run:bogus'])
      expect(() => parseTmpfs(bad)).toThrow('--tmpfs');
  });

  it('sysctl: namespaced keys only; net.* not in a namespace that is not the container own', () => {
    expect(
      parseSysctls(['net.ipv4.ip_forward=1', 'kernel.shmmax=1000', 'fs.mqueue.msg_max=20', 'kernel.domainname=x'], 'bridge'),
    ).toEqual({
      'net.ipv4.ip_forward': '1',
      'kernel.shmmax': '1000',
      'fs.mqueue.msg_max': '20',
      'kernel.domainname': 'x',
    });
    expect(() => parseSysctls(['kernel.panic=1'], 'bridge')).toThrow('not namespaced');
    expect(() => parseSysctls(['vm.swappiness=1'], 'bridge')).toThrow('not namespaced');
    expect(() => parseSysctls(['net.ipv4.ip_forward=1'], 'host')).toThrow('--network host');
    expect(() => parseSysctls(['net.ipv4.ip_forward=1'], 'container:web')).toThrow('--network container:web');
    expect(() => parseSysctls(['net.ipv4.ip_forward'], 'bridge')).toThrow('KEY=VALUE');
    expect(() => parseSysctls(['../../x=1'], 'bridge')).toThrow('KEY=VALUE');
  });

  it('oom-score-adj, cgroupns, userns', () => {
    expect(parseOomScoreAdj('-1000')).toBe(-1000);
    expect(parseOomScoreAdj(undefined)).toBeUndefined();
    expect(() => parseOomScoreAdj('1001')).toThrow('-1000 to 1000');
    expect(() => parseOomScoreAdj('1.5')).toThrow('-1000 to 1000');
    expect(parseCgroupns(undefined)).toBe('private');
    expect(parseCgroupns('host')).toBe('host');
    expect(() => parseCgroupns('x')).toThrow('--cgroupns');
    expect(parseUserns('host', true)).toBe('host');
    expect(() => parseUserns('auto', true)).toThrow('--privileged cannot be combined with --userns auto');
    expect(parseUserns('auto', false)).toBe('auto');
    expect(parseUserns(undefined, false)).toBe('host');
    expect(() => parseUserns('keep-id', false)).toThrow('invalid --userns "keep-id"');
    // TSCONTAINER_USERNS: the default when the flag is absent; --privileged keeps the host's
    expect(parseUserns(undefined, false, 'auto')).toBe('auto');
    expect(parseUserns(undefined, true, 'auto')).toBe('host');
    expect(parseUserns('host', false, 'auto')).toBe('host');
    expect(() => parseUserns(undefined, false, 'remap')).toThrow('invalid TSCONTAINER_USERNS');
  });
});
