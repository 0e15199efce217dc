// Which cgroup.procs the warm-up writes: our own group, in the layout's hierarchy.
import { describe, expect, it } from 'vitest';
import { ownProcsFile } from '../../src/cgroups/warm.js';
import type { CgroupLayout } from '../../src/cgroups/types.js';

const v1: CgroupLayout = {
  version: 1,
  mode: 'hybrid',
  v1: {
    pids: { mountPoint: '/sys/fs/cgroup/pids', root: '/', controllers: ['pids'] },
    memory: { mountPoint: '/sys/fs/cgroup/memory', root: '/', controllers: ['memory'] },
  },
  unified: { mountPoint: '/sys/fs/cgroup/unified', root: '/', controllers: [] },
  enabled: ['pids', 'memory'],
};
const v2: CgroupLayout = {
  version: 2,
  mode: 'unified',
  v1: {},
  unified: { mountPoint: '/sys/fs/cgroup', root: '/', controllers: ['memory', 'pids'] },
  enabled: ['memory', 'pids'],
};

describe('ownProcsFile', () => {
  it('v1: our group in the pids hierarchy', () => {
    expect(ownProcsFile(v1, '9:name=systemd:/\n8:pids:/user/1\n4:memory:/x\n0::/\n')).toBe('/sys/fs/cgroup/pids/user/1/cgroup.procs');
  });
  it('v2: our group in the unified hierarchy', () => {
    expect(ownProcsFile(v2, '0::/system.slice/ssh.service\n')).toBe('/sys/fs/cgroup/system.slice/ssh.service/cgroup.procs');
    expect(ownProcsFile(v2, '0::/\n')).toBe('/sys/fs/cgroup/cgroup.procs');
  });
  it('a mount of a sub-tree: the path relative to its root; outside it, nothing', () => {
    const sub: CgroupLayout = { ...v2, unified: { mountPoint: '/sys/fs/cgroup', root: '/a', controllers: [] } };
    expect(ownProcsFile(sub, '0::/a/b\n')).toBe('/sys/fs/cgroup/b/cgroup.procs');
    expect(ownProcsFile(sub, '0::/elsewhere\n')).toBeUndefined();
  });
  it('nothing to read: nothing to write', () => {
    expect(ownProcsFile(v2, '')).toBeUndefined();
  });
});
