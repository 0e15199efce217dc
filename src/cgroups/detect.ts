// Which cgroup hierarchies this machine has, read from /proc/self/mountinfo and /proc/cgroups
// (never guessed from one path: /sys/fs/cgroup may be a tmpfs of v1 mounts, a cgroup2 mount, or
// both with cgroup2 at /sys/fs/cgroup/unified).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UnsupportedError } from '../util/errors.js';
import { V1_CONTROLLERS, type CgroupLayout, type Hierarchy, type V1Controller } from './types.js';

/** The v2 controllers that must be available in cgroup2 before we prefer it over v1 mounts. */
const V2_REQUIRED = ['memory', 'cpu', 'pids'];

interface MountEntry {
  root: string;
  mountPoint: string;
  fsType: string;
  superOptions: string[];
}

/** mountinfo escapes space, tab, newline and backslash as \ooo. */
function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

export function parseMountinfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const fields = line.split(' ');
    const sep = fields.indexOf('-');
    if (sep < 6 || fields.length < sep + 4) continue;
    out.push({
      root: unescapeMount(fields[3]!),
      mountPoint: unescapeMount(fields[4]!),
      fsType: fields[sep + 1]!,
      superOptions: (fields[sep + 3] ?? '').split(','),
    });
  }
  return out;
}

interface ProcCgroupsEntry {
  name: string;
  hierarchy: number;
  enabled: boolean;
}

export function parseProcCgroups(text: string): ProcCgroupsEntry[] {
  const out: ProcCgroupsEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim() || line.startsWith('#')) continue;
    const [name, hierarchy, , enabled] = line.trim().split(/\s+/);
    if (!name || hierarchy === undefined) continue;
    out.push({ name, hierarchy: Number(hierarchy), enabled: enabled === undefined ? true : enabled === '1' });
  }
  return out;
}

/** Prefers a mount of the hierarchy's root over bind mounts of sub-trees. */
function better(a: MountEntry | undefined, b: MountEntry): boolean {
  if (!a) return true;
  return a.root !== '/' && b.root === '/';
}

/**
 * Builds the layout from the texts of /proc/self/mountinfo and /proc/cgroups (which may be
 * missing: it is deprecated on v2-only kernels). `readFile` reads cgroup.controllers of the
 * cgroup2 mount.
 */
export function parseCgroupLayout(
  mountinfo: string,
  procCgroups: string | undefined,
  readFile: (path: string) => string | undefined,
): CgroupLayout {
  const mounts = parseMountinfo(mountinfo);
  const known = procCgroups ? parseProcCgroups(procCgroups) : [];
  const disabled = new Set(known.filter((k) => !k.enabled).map((k) => k.name));

  const v1: Partial<Record<V1Controller, Hierarchy>> = {};
  const v1Mounts = new Map<string, MountEntry>(); // key: sorted controller list
  let unifiedMount: MountEntry | undefined;
  for (const m of mounts) {
    if (m.fsType === 'cgroup') {
      const ctrls = m.superOptions.filter(
        (o) => (V1_CONTROLLERS as readonly string[]).includes(o) || known.some((k) => k.name === o),
      );
      if (ctrls.length === 0) continue; // name=systemd and friends hold no controller
      const key = [...ctrls].sort().join(',');
      if (better(v1Mounts.get(key), m)) v1Mounts.set(key, m);
    } else if (m.fsType === 'cgroup2') {
      if (better(unifiedMount, m)) unifiedMount = m;
    }
  }
  for (const [key, m] of v1Mounts) {
    const ctrls = key.split(',');
    const h: Hierarchy = { mountPoint: m.mountPoint, root: m.root, controllers: ctrls };
    for (const c of ctrls) {
      if ((V1_CONTROLLERS as readonly string[]).includes(c) && !disabled.has(c)) v1[c as V1Controller] = h;
    }
  }
  let unified: Hierarchy | undefined;
  if (unifiedMount) {
    const ctrlText = readFile(join(unifiedMount.mountPoint, 'cgroup.controllers')) ?? '';
    unified = {
      mountPoint: unifiedMount.mountPoint,
      root: unifiedMount.root,
      controllers: ctrlText.split(/\s+/).filter((c) => c && !disabled.has(c)),
    };
  }

  const haveV1 = Object.keys(v1).length > 0;
  if (!haveV1 && !unified) {
    throw new UnsupportedError(
      'No cgroup filesystem is mounted (neither cgroup v1 controllers nor cgroup2 appear in /proc/self/mountinfo).',
    );
  }
  const mode = haveV1 ? (unified ? 'hybrid' : 'legacy') : 'unified';
  const v2Usable = unified !== undefined && (!haveV1 || V2_REQUIRED.every((c) => unified.controllers.includes(c)));
  const enabled =
    known.length > 0
      ? known.filter((k) => k.enabled).map((k) => k.name)
      : [...new Set([...Object.keys(v1), ...(unified?.controllers ?? [])])];
  return { version: v2Usable ? 2 : 1, mode, v1, ...(unified ? { unified } : {}), enabled };
}

function readOptional(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

let cached: CgroupLayout | undefined;

/** The machine's cgroup layout; read once per process (three small files). */
export function detectCgroups(): CgroupLayout {
  if (!cached) {
    cached = parseCgroupLayout(readFileSync('/proc/self/mountinfo', 'utf8'), readOptional('/proc/cgroups'), readOptional);
  }
  return cached;
}

/** Forgets the cached layout (after mounting a hierarchy, or in tests). */
export function resetCgroupDetection(): void {
  cached = undefined;
}
