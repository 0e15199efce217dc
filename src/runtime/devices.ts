// Devices in a container: docker's default nodes, `--device HOST[:CONTAINER[:rwm]]`, the host's
// every device with --privileged, and the devices-cgroup rules that go with them.
import { lstatSync, readdirSync, type Stats } from 'node:fs';
import { isAbsolute, join, normalize } from 'node:path';
import type { DeviceRule } from '../cgroups/index.js';
import { UsageError } from '../util/errors.js';

/** --device as given: the host's node, where it appears, and what the cgroup allows. */
export interface DeviceMapping {
  hostPath: string;
  containerPath: string;
  access: string;
}

/** A node for linux.devices. */
export interface SpecDevice {
  path: string;
  type: 'c' | 'b';
  major: number;
  minor: number;
  fileMode: number;
  uid: number;
  gid: number;
}

/** --device /dev/fuse, /dev/loop0:/dev/xloop, /dev/loop0:/dev/xloop:r, /dev/sda:rw */
export function parseDevice(spec: string): DeviceMapping {
  const parts = spec.split(':');
  const bad = (why: string) => new UsageError(`invalid --device "${spec}": ${why}`);
  if (parts.length > 3 || !parts[0]) throw bad('expected HOST[:CONTAINER[:rwm]]');
  const hostPath = parts[0];
  let containerPath = hostPath;
  let access = 'rwm';
  if (parts.length === 2 && /^[rwm]+$/.test(parts[1]!)) access = parts[1]!;
  else if (parts.length >= 2) containerPath = parts[1]!;
  if (parts.length === 3) access = parts[2]!;
  if (!isAbsolute(hostPath)) throw bad('the host path must be absolute');
  if (!isAbsolute(containerPath)) throw bad('the container path must be absolute');
  if (!/^[rwm]{1,3}$/.test(access) || new Set(access).size !== access.length) throw bad(`"${access}" is not a set of r, w, m`);
  return { hostPath: normalize(hostPath), containerPath: normalize(containerPath), access };
}

/** --device-cgroup-rule 'c 1:3 rwm', 'b 7:* rw', 'a *:* rwm' (docker's syntax). */
export function parseDeviceCgroupRule(spec: string): DeviceRule {
  const m = /^([abc]) (\d+|\*):(\d+|\*) ([rwm]{1,3})$/.exec(spec.trim());
  if (!m) throw new UsageError(`invalid --device-cgroup-rule "${spec}": expected TYPE MAJOR:MINOR ACCESS, e.g. "c 1:3 rwm"`);
  const num = (s: string) => (s === '*' ? '*' : Number(s));
  return { type: m[1] as DeviceRule['type'], major: num(m[2]!), minor: num(m[3]!), access: m[4]! };
}

// Node's Stats.rdev is the kernel's encoded dev_t: major in bits 8-19 (and 32-43), minor in 0-7 and 20-31.
const major = (rdev: number) => ((rdev >>> 8) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff);
const minor = (rdev: number) => (rdev & 0xff) | ((rdev >>> 12) & 0xfff00);

function nodeOf(st: Stats, path: string): SpecDevice | undefined {
  if (!st.isCharacterDevice() && !st.isBlockDevice()) return undefined;
  return {
    path,
    type: st.isCharacterDevice() ? 'c' : 'b',
    major: major(st.rdev),
    minor: minor(st.rdev),
    fileMode: st.mode & 0o7777,
    uid: st.uid,
    gid: st.gid,
  };
}

/**
 * The host's node(s) for --device, checked (at create, and again at start). A directory
 * (`--device /dev/snd`) gives every node below it, at the same place under the container path,
 * as docker does.
 */
export function hostDevices(m: DeviceMapping): SpecDevice[] {
  let st: Stats;
  try {
    st = lstatSync(m.hostPath);
  } catch (err) {
    throw new UsageError(
      `--device ${m.hostPath}: ${(err as NodeJS.ErrnoException).code ?? String(err)}: no such device on the host`,
    );
  }
  if (st.isDirectory()) {
    const nodes = allHostDevices(m.hostPath).map((d) => ({ ...d, path: join(m.containerPath, d.path.slice(m.hostPath.length)) }));
    if (nodes.length === 0) throw new UsageError(`--device ${m.hostPath}: the directory holds no device`);
    return nodes;
  }
  const node = nodeOf(st, m.containerPath);
  if (!node) throw new UsageError(`--device ${m.hostPath}: not a character or block device`);
  return [node];
}

/** The cgroup rule that lets the container use a node. */
export function ruleFor(d: SpecDevice, access: string): DeviceRule {
  return { type: d.type, major: d.major, minor: d.minor, access };
}

/** Every device node of the host's /dev (or of `dir`), as --privileged gives them; the ones
 *  the container has its own of are skipped, as docker skips them. */
export function allHostDevices(dir = '/dev'): SpecDevice[] {
  const skip = new Set(['/dev/pts', '/dev/shm', '/dev/mqueue', '/dev/console', '/dev/ptmx']);
  const out: SpecDevice[] = [];
  const walk = (d: string, depth: number) => {
    let names: string[];
    try {
      names = readdirSync(d);
    } catch {
      return;
    }
    for (const name of names) {
      const p = join(d, name);
      if (skip.has(p)) continue;
      let st: Stats;
      try {
        st = lstatSync(p);
      } catch {
        continue; /* gone meanwhile */
      }
      if (st.isDirectory() && depth < 3) walk(p, depth + 1);
      else {
        const node = nodeOf(st, p);
        if (node) out.push(node);
      }
    }
  };
  walk(dir, 0);
  return out;
}

/**
 * The nodes and cgroup rules of a container at start: each --device (looked up again: the
 * numbers are the host's now), or with --privileged every host device and, on cgroup v1, the
 * devices cgroup opened ("a"; v2 has no device filter of ours to open).
 */
export function containerDevices(
  config: { privileged?: boolean; devices?: DeviceMapping[] },
  cgroupVersion: 1 | 2,
): { nodes: SpecDevice[]; rules: DeviceRule[] } {
  const nodes: SpecDevice[] = [];
  const rules: DeviceRule[] = [];
  if (config.privileged) {
    nodes.push(...allHostDevices());
    if (cgroupVersion === 1) rules.push({ type: 'a', major: '*', minor: '*', access: 'rwm' });
  }
  for (const m of config.devices ?? []) {
    for (const node of hostDevices(m)) {
      nodes.push(node);
      if (!config.privileged) rules.push(ruleFor(node, m.access));
    }
  }
  return { nodes, rules };
}
