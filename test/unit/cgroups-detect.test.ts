import { describe, expect, it } from 'vitest';
import { parseCgroupLayout } from '../../src/cgroups/index.js';
import { parseMountinfo } from '../../src/cgroups/detect.js';
import { UnsupportedError } from '../../src/util/errors.js';

// This VM: v1 controllers one per hierarchy, name=systemd, cgroup2 at /unified with hugetlb only.
const HYBRID_MOUNTINFO = `22 1 8:1 / / rw,relatime - ext4 /dev/vda1 rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`;
const HYBRID_PROC_CGROUPS = `#subsys_name	hierarchy	num_cgroups	enabled
cpuset	3	1	1
cpu	1	1	1
cpuacct	2	1	1
blkio	7	1	1
memory	4	31	1
devices	5	1	1
freezer	6	1	1
net_cls	0	1	1
perf_event	0	1	1
net_prio	0	1	1
hugetlb	0	1	1
pids	8	1	1
`;

// A systemd machine with cgroup v1 (Debian 10 style): cpu and cpuacct co-mounted, with symlinks.
const LEGACY_MOUNTINFO = `25 18 0:23 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
26 25 0:24 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
27 25 0:25 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd
30 25 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,cpu,cpuacct
31 25 0:29 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,memory
32 25 0:30 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,pids
33 25 0:31 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,net_cls,net_prio
`;

// A current systemd distribution: cgroup2 only. /proc/cgroups lists everything at hierarchy 0.
const UNIFIED_MOUNTINFO = `24 18 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`;
const UNIFIED_PROC_CGROUPS = `#subsys_name	hierarchy	num_cgroups	enabled
cpuset	0	90	1
cpu	0	90	1
memory	0	90	1
pids	0	90	1
io	0	90	1
`;

const files = (m: Record<string, string>) => (p: string) => m[p];

describe('parseCgroupLayout', () => {
  it('reads this hybrid machine: v1 for containers, cgroup2 at /unified with hugetlb only', () => {
    const l = parseCgroupLayout(
      HYBRID_MOUNTINFO,
      HYBRID_PROC_CGROUPS,
      files({ '/sys/fs/cgroup/unified/cgroup.controllers': 'hugetlb\n' }),
    );
    expect(l.version).toBe(1);
    expect(l.mode).toBe('hybrid');
    expect(l.v1.memory).toEqual({ mountPoint: '/sys/fs/cgroup/memory', root: '/', controllers: ['memory'] });
    expect(l.v1.cpu?.mountPoint).toBe('/sys/fs/cgroup/cpu');
    expect(l.v1.cpuacct?.mountPoint).toBe('/sys/fs/cgroup/cpuacct');
    expect(Object.keys(l.v1).sort()).toEqual(['blkio', 'cpu', 'cpuacct', 'cpuset', 'devices', 'freezer', 'memory', 'pids']);
    expect(l.unified).toEqual({ mountPoint: '/sys/fs/cgroup/unified', root: '/', controllers: ['hugetlb'] });
    expect(l.enabled).toContain('hugetlb');
  });

  it('shares one hierarchy between co-mounted controllers and ignores name= hierarchies', () => {
    const l = parseCgroupLayout(LEGACY_MOUNTINFO, undefined, files({ '/sys/fs/cgroup/unified/cgroup.controllers': '' }));
    expect(l.version).toBe(1);
    expect(l.v1.cpu).toBe(l.v1.cpuacct);
    expect(l.v1.cpu?.mountPoint).toBe('/sys/fs/cgroup/cpu,cpuacct');
    expect(l.v1.cpuset).toBeUndefined();
    expect(l.v1.freezer).toBeUndefined();
  });

  it('picks cgroup v2 when it is the only hierarchy', () => {
    const l = parseCgroupLayout(
      UNIFIED_MOUNTINFO,
      UNIFIED_PROC_CGROUPS,
      files({ '/sys/fs/cgroup/cgroup.controllers': 'cpuset cpu io memory hugetlb pids rdma misc\n' }),
    );
    expect(l.version).toBe(2);
    expect(l.mode).toBe('unified');
    expect(l.unified?.mountPoint).toBe('/sys/fs/cgroup');
    expect(l.unified?.controllers).toContain('memory');
    expect(l.v1).toEqual({});
  });

  it('works without /proc/cgroups (deprecated on v2-only kernels)', () => {
    const l = parseCgroupLayout(UNIFIED_MOUNTINFO, undefined, files({ '/sys/fs/cgroup/cgroup.controllers': 'cpu memory pids' }));
    expect(l.version).toBe(2);
    expect(l.enabled).toEqual(['cpu', 'memory', 'pids']);
  });

  it('leaves out controllers the kernel has disabled (cgroup_disable=)', () => {
    const proc = HYBRID_PROC_CGROUPS.replace('memory\t4\t31\t1', 'memory\t4\t31\t0');
    const l = parseCgroupLayout(HYBRID_MOUNTINFO.replace('rw,memory', 'rw,memory'), proc, () => '');
    expect(l.v1.memory).toBeUndefined();
    expect(l.enabled).not.toContain('memory');
  });

  it('prefers the mount of a hierarchy root over a bind mount of a sub-tree', () => {
    const mi = `50 1 0:32 /docker/abc /mnt/x rw - cgroup cgroup rw,memory\n35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n`;
    const l = parseCgroupLayout(mi, undefined, () => undefined);
    expect(l.v1.memory?.mountPoint).toBe('/sys/fs/cgroup/memory');
    const only = parseCgroupLayout(mi.split('\n')[0]!, undefined, () => undefined);
    expect(only.v1.memory).toEqual({ mountPoint: '/mnt/x', root: '/docker/abc', controllers: ['memory'] });
  });

  it('says clearly when no cgroup filesystem is mounted', () => {
    expect(() => parseCgroupLayout('22 1 8:1 / / rw - ext4 /dev/vda1 rw\n', undefined, () => undefined)).toThrow(
      UnsupportedError,
    );
    expect(() => parseCgroupLayout('', undefined, () => undefined)).toThrow(/No cgroup filesystem is mounted/);
  });

  it('unescapes mount points', () => {
    const m = parseMountinfo('41 31 0:38 / /tmp/my\\040cg rw - cgroup2 cgroup2 rw\n');
    expect(m[0]?.mountPoint).toBe('/tmp/my cg');
  });
});
