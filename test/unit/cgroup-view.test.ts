// The read-only cgroup view's mounts (runtime/cgroupview.ts) for v1, co-mounted v1 and v2 layouts.
import { describe, expect, it } from 'vitest';
import type { CgroupLayout, ContainerCgroup } from '../../src/cgroups/index.js';
import { cgroupView } from '../../src/runtime/cgroupview.js';

const h = (mountPoint: string, controllers: string[]) => ({ mountPoint, root: '/', controllers });
const cg = (version: 1 | 2, paths: Record<string, string>) => ({ version, paths }) as unknown as ContainerCgroup;

describe('cgroupView', () => {
  it('v1: a tmpfs, one read-only bind per hierarchy, co-mounted controllers under both names, then the tmpfs read-only', () => {
    const cpu = h('/sys/fs/cgroup/cpu,cpuacct', ['cpu', 'cpuacct']);
    const layout = {
      version: 1,
      mode: 'hybrid',
      v1: { memory: h('/sys/fs/cgroup/memory', ['memory']), cpu, cpuacct: cpu },
      enabled: [],
    } as unknown as CgroupLayout;
    const view = cgroupView(
      layout,
      cg(1, {
        memory: '/sys/fs/cgroup/memory/tsc/ID',
        cpu: '/sys/fs/cgroup/cpu,cpuacct/tsc/ID',
        cpuacct: '/sys/fs/cgroup/cpu,cpuacct/tsc/ID',
      }),
    );
    expect(view.mounts.map((m) => [m.destination, m.type, m.source])).toEqual([
      ['/sys/fs/cgroup', 'tmpfs', 'tmpfs'],
      ['/sys/fs/cgroup/memory', 'bind', '/sys/fs/cgroup/memory/tsc/ID'],
      ['/sys/fs/cgroup/cpu,cpuacct', 'bind', '/sys/fs/cgroup/cpu,cpuacct/tsc/ID'],
      ['/sys/fs/cgroup/cpu', 'bind', '/sys/fs/cgroup/cpu,cpuacct/tsc/ID'],
      ['/sys/fs/cgroup/cpuacct', 'bind', '/sys/fs/cgroup/cpu,cpuacct/tsc/ID'],
    ]);
    expect(view.mounts.slice(1).every((m) => m.options.includes('ro'))).toBe(true);
    expect(view.readonlyPaths).toEqual(['/sys/fs/cgroup']);
  });

  it('v2: the container group bound read-only at /sys/fs/cgroup; --privileged leaves it writable', () => {
    const layout = { version: 2, mode: 'unified', v1: {}, enabled: [] } as unknown as CgroupLayout;
    const view = cgroupView(layout, cg(2, { unified: '/sys/fs/cgroup/tsc/ID' }));
    expect(view).toEqual({
      mounts: [
        {
          destination: '/sys/fs/cgroup',
          type: 'bind',
          source: '/sys/fs/cgroup/tsc/ID',
          options: ['rbind', 'rprivate', 'nosuid', 'noexec', 'nodev', 'ro'],
        },
      ],
      readonlyPaths: [],
    });
    expect(cgroupView(layout, cg(2, { unified: '/x' }), true).mounts[0]!.options).toContain('rw');
  });
});
