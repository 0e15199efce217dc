// The seccomp profile: docker's format checked, and translated for a container's capabilities,
// architecture and kernel as docker translates it (issue 9).
import { describe, expect, it } from 'vitest';
import { defaultProfile, parseProfile, toOciSeccomp } from '../../src/runtime/seccomp/index.js';
import { DEFAULT_CAPS } from '../../src/runtime/spec.js';
import type { SeccompHost } from '../../src/runtime/seccomp/profile.js';

const amd64: SeccompHost = { arch: 'amd64', scmpArch: 'SCMP_ARCH_X86_64', kernel: [6, 18] };
const allowed = (caps: string[], host = amd64) =>
  new Set(
    toOciSeccomp(defaultProfile(), caps, host)
      .syscalls.filter((r) => r.action === 'SCMP_ACT_ALLOW' && !r.args)
      .flatMap((r) => r.names),
  );

describe('the default profile', () => {
  it("is docker's shape: EPERM by default, x86_64 with its 32-bit ABIs", () => {
    const oci = toOciSeccomp(defaultProfile(), DEFAULT_CAPS, amd64);
    expect(oci.defaultAction).toBe('SCMP_ACT_ERRNO');
    expect(oci.defaultErrnoRet).toBe(1);
    expect(oci.architectures).toEqual(['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
  });

  it('keeps namespace and admin calls out without CAP_SYS_ADMIN, and clone only without CLONE_NEW* flags', () => {
    const plain = allowed(DEFAULT_CAPS);
    for (const n of [
      'unshare',
      'setns',
      'mount',
      'keyctl',
      'add_key',
      'bpf',
      'name_to_handle_at',
      'process_vm_readv',
      'open_by_handle_at',
    ])
      expect(plain.has(n), n).toBe(false);
    for (const n of ['read', 'execve', 'arch_prctl', 'chroot', 'ptrace']) expect(plain.has(n), n).toBe(true);
    const oci = toOciSeccomp(defaultProfile(), DEFAULT_CAPS, amd64);
    expect(oci.syscalls.filter((r) => r.names.includes('clone'))).toEqual([
      {
        names: ['clone'],
        action: 'SCMP_ACT_ALLOW',
        args: [{ index: 0, value: 0x7e020000, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }],
      },
    ]);
    expect(oci.syscalls.find((r) => r.names.includes('clone3'))).toMatchObject({ action: 'SCMP_ACT_ERRNO', errnoRet: 38 });
  });

  it('opens the gated calls for the capability that owns them', () => {
    const admin = allowed([...DEFAULT_CAPS, 'CAP_SYS_ADMIN']);
    for (const n of ['unshare', 'setns', 'mount', 'clone', 'clone3']) expect(admin.has(n), n).toBe(true);
    expect(allowed([...DEFAULT_CAPS, 'CAP_SYS_PTRACE']).has('process_vm_readv')).toBe(true);
    expect(allowed(DEFAULT_CAPS.filter((c) => c !== 'CAP_SYS_CHROOT')).has('chroot')).toBe(false);
  });

  it('follows includes.minKernel and the architecture', () => {
    expect(allowed(DEFAULT_CAPS, { ...amd64, kernel: [4, 4] }).has('ptrace')).toBe(false);
    const arm = allowed(DEFAULT_CAPS, { arch: 'arm64', scmpArch: 'SCMP_ARCH_AARCH64', kernel: [6, 1] });
    expect(arm.has('arch_prctl')).toBe(false);
    expect(arm.has('cacheflush')).toBe(true);
  });
});

describe('parseProfile', () => {
  it('reads name or names, and architectures', () => {
    const p = parseProfile(
      '{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"],"syscalls":[{"name":"mkdir","action":"SCMP_ACT_ERRNO"}]}',
      'p.json',
    );
    expect(toOciSeccomp(p, [], amd64)).toEqual({
      defaultAction: 'SCMP_ACT_ALLOW',
      architectures: ['SCMP_ARCH_X86_64'],
      syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO' }],
    });
  });

  it.each([
    ['[]', 'must be a JSON object'],
    ['{}', 'defaultAction must be a string'],
    ['{"defaultAction":"SCMP_ACT_NOTIFY"}', 'SCMP_ACT_NOTIFY is not supported'],
    [
      '{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["x"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":-1,"op":"SCMP_CMP_EQ"}]}]}',
      'value',
    ],
    [
      '{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["x"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":1,"op":"EQ"}]}]}',
      'unknown operator',
    ],
    ['{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"action":"SCMP_ACT_ERRNO"}]}', 'names no system call'],
    [
      '{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"],"archMap":[{"architecture":"SCMP_ARCH_X86_64"}]}',
      'cannot both',
    ],
  ])('refuses %s', (text, says) => {
    expect(() => parseProfile(text, 'p.json')).toThrow(says);
    expect(() => parseProfile(text, 'p.json')).toThrow(/^invalid seccomp profile p\.json: /);
  });
});
