// A lab's workspace: <state root>/labs/NN-slug/ with the starter file the student edits, lab.env
// (the names this workspace owns: netns, links, bridge, nft table, cgroup parent, subnet, port,
// all with one random tag so that two workspaces or a test never collide) and what the lab needs
// (a busybox root filesystem, overlay layers, the cgroup parent).
import { execFileSync } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { detectCgroups, type CgroupLayout } from '../cgroups/index.js';
import { SystemError, UnsupportedError } from '../util/errors.js';
import { packageRoot } from '../util/paths.js';
import { labsStateDir } from './progress.js';
import type { LabDef, LabEnv } from './types.js';

export function workspaceOf(stateRoot: string, lab: LabDef): string {
  return join(labsStateDir(stateRoot), lab.slug);
}

/** lab.env as variables; undefined when the workspace was never prepared. */
export function readEnv(workspace: string): LabEnv | undefined {
  let text: string;
  try {
    text = readFileSync(join(workspace, 'lab.env'), 'utf8');
  } catch {
    return undefined;
  }
  const env: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^(?:export )?([A-Z_][A-Z0-9_]*)='([^']*)'$/.exec(line.trim());
    if (m) env[m[1]!] = m[2]!;
  }
  return env;
}

/** "cgroup v1 (hybrid)": the layout labs run on, said in every report. */
export function describeCgroups(layout: CgroupLayout | undefined): string {
  return layout ? `cgroup v${layout.version} (${layout.mode})` : 'no cgroups';
}

export function cgroupsOrUndefined(): CgroupLayout | undefined {
  try {
    return detectCgroups();
  } catch {
    return undefined;
  }
}

// ---- addresses -------------------------------------------------------------------------

function ipToInt(ip: string): number {
  return ip.split('.').reduce((a, o) => a * 256 + Number(o), 0);
}

function prefixRange(cidr: string): [number, number] | undefined {
  const [ip, lenText] = cidr.split('/');
  if (!ip || !/^\d+\.\d+\.\d+\.\d+$/.test(ip)) return undefined;
  const len = lenText === undefined ? 32 : Number(lenText);
  const size = 2 ** (32 - len);
  const start = Math.floor(ipToInt(ip) / size) * size;
  return [start, start + size - 1];
}

/** The IPv4 prefixes this host routes or has addresses in (all routing tables). */
function hostPrefixes(): [number, number][] {
  const out: [number, number][] = [];
  try {
    const routes = JSON.parse(execFileSync('ip', ['-j', 'route', 'show', 'table', 'all'], { encoding: 'utf8' })) as {
      dst?: string;
    }[];
    for (const r of routes) {
      const range = r.dst && r.dst !== 'default' ? prefixRange(r.dst) : undefined;
      if (range) out.push(range);
    }
    const addrs = JSON.parse(execFileSync('ip', ['-j', 'addr'], { encoding: 'utf8' })) as {
      addr_info?: { family?: string; local?: string; prefixlen?: number }[];
    }[];
    for (const l of addrs)
      for (const a of l.addr_info ?? [])
        if (a.family === 'inet' && a.local) {
          const range = prefixRange(`${a.local}/${a.prefixlen ?? 32}`);
          if (range) out.push(range);
        }
  } catch (err) {
    throw new SystemError(`cannot read the host's routes: ${(err as Error).message}`);
  }
  return out;
}

/** A free 10.2xx.y.0/24: random, and checked against every route and address of the host. */
export function pickSubnet(): string {
  const taken = hostPrefixes();
  for (let i = 0; i < 50; i++) {
    const base = `10.${200 + randomInt(55)}.${randomInt(256)}`;
    const [s, e] = prefixRange(`${base}.0/24`)!;
    if (!taken.some(([a, b]) => a <= e && s <= b)) return base;
  }
  throw new SystemError('no free 10.2xx.y.0/24 subnet on this host');
}

// ---- cgroups ---------------------------------------------------------------------------

export const CGROUP_CONTROLLERS = ['memory', 'cpu', 'cpuset', 'pids', 'freezer'] as const;

/** LAB_CGROUP_<CONTROLLER> for each controller: the parent directory the student works under. */
export function cgroupDirs(layout: CgroupLayout, parent: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const c of CGROUP_CONTROLLERS) {
    if (layout.version === 2) out[c] = join(layout.unified!.mountPoint, parent);
    else {
      const h = layout.v1[c];
      if (h) out[c] = join(h.mountPoint, parent);
    }
  }
  return out;
}

function tryWrite(file: string, value: string): void {
  try {
    writeFileSync(file, value);
  } catch {
    /* a controller this kernel lacks: the lab's check will say so */
  }
}

/** Makes the lab's cgroup parent in every hierarchy, ready for children to be made in. */
function makeCgroupParent(layout: CgroupLayout, dirs: Record<string, string>): void {
  if (layout.version === 2) {
    const root = layout.unified!.mountPoint;
    tryWrite(join(root, 'cgroup.subtree_control'), '+memory +cpu +cpuset +pids');
    const dir = dirs['memory']!;
    mkdirSync(dir, { recursive: true });
    for (const c of ['memory', 'cpu', 'cpuset', 'pids']) tryWrite(join(dir, 'cgroup.subtree_control'), `+${c}`);
    return;
  }
  for (const [c, dir] of Object.entries(dirs)) {
    mkdirSync(dir, { recursive: true });
    if (c === 'cpuset') {
      // a v1 cpuset group starts with no cpus and no memory nodes: inherit the parent's
      for (const f of ['cpuset.cpus', 'cpuset.mems']) tryWrite(join(dir, f), readFileSync(join(dir, '..', f), 'utf8'));
    }
  }
}

// ---- the workspace ---------------------------------------------------------------------

function extractBusybox(dest: string): void {
  const tar = join(packageRoot(), 'images', 'busybox', 'out', 'layer.tar');
  if (!existsSync(tar)) throw new UnsupportedError(`no busybox image at ${tar}: run 'tscontainer image build-builtin' first`);
  mkdirSync(dest, { recursive: true });
  execFileSync('tar', ['-xf', tar, '-C', dest]);
}

function makeLayers(ws: string): void {
  const w = (p: string, s: string) => {
    mkdirSync(join(ws, p, '..'), { recursive: true });
    writeFileSync(join(ws, p), s);
  };
  w('layers/lower1/base.txt', 'from the bottom layer\n');
  w('layers/lower1/gone.txt', 'delete me through the merged view\n');
  w('layers/lower1/shared.txt', 'bottom version\n');
  w('layers/lower1/olddir/keep-out.txt', 'hidden once olddir is made opaque\n');
  w('layers/lower2/shared.txt', 'top version: the upper lower layer wins\n');
  w('layers/lower2/middle.txt', 'from the middle layer\n');
  for (const d of ['upper', 'work', 'merged']) mkdirSync(join(ws, 'layers', d), { recursive: true });
}

/** Prepares the workspace (idempotent: an existing lab.env and task file are kept). */
export function prepareWorkspace(
  stateRoot: string,
  lab: LabDef,
  layout: CgroupLayout | undefined,
): { workspace: string; env: LabEnv } {
  const ws = workspaceOf(stateRoot, lab);
  mkdirSync(ws, { recursive: true });
  let env = readEnv(ws);
  if (!env) {
    const tag = randomBytes(3).toString('hex');
    const e: Record<string, string> = {
      LAB_NUMBER: String(lab.number),
      LAB_WORKSPACE: ws,
      LAB_TAG: tag,
      LAB_CGROUP_VERSION: layout ? String(layout.version) : '',
    };
    if (lab.needs.includes('rootfs')) e['LAB_ROOTFS'] = join(ws, 'rootfs');
    if (lab.needs.includes('layers')) e['LAB_LAYERS'] = join(ws, 'layers');
    if (lab.needs.includes('cgroup')) {
      if (!layout) throw new UnsupportedError('this lab needs cgroups and none is mounted');
      const parent = `tscontainer-lab-${tag}`;
      e['LAB_CGROUP_PARENT'] = parent;
      for (const [c, dir] of Object.entries(cgroupDirs(layout, parent))) e[`LAB_CGROUP_${c.toUpperCase()}`] = dir;
    }
    if (lab.needs.includes('net')) {
      const base = pickSubnet();
      Object.assign(e, {
        LAB_NETNS: `tl${tag}`,
        LAB_HOST_IF: `tl${tag}h`,
        LAB_BRIDGE: `tl${tag}br`,
        LAB_SUBNET: `${base}.0/24`,
        LAB_HOST_ADDR: `${base}.1`,
        LAB_NS_ADDR: `${base}.2`,
        LAB_NFT_TABLE: `tscontainer_lab_${tag}`,
        LAB_PORT: String(20000 + randomInt(20000)),
      });
    }
    const text = Object.entries(e)
      .map(([k, v]) => `export ${k}='${v}'`)
      .join('\n');
    writeFileSync(
      join(ws, 'lab.env'),
      `# lab ${lab.number}: the names this workspace owns. The checker runs your script with these set;\n` +
        `# to try by hand: . ./lab.env\n${text}\n`,
    );
    env = e;
  }
  if (env['LAB_ROOTFS'] && !existsSync(join(env['LAB_ROOTFS'], 'bin', 'busybox'))) {
    extractBusybox(env['LAB_ROOTFS']);
    writeFileSync(join(env['LAB_ROOTFS'], 'LAB-ROOT'), `${env['LAB_TAG']}\n`);
  }
  if (env['LAB_LAYERS'] && !existsSync(join(env['LAB_LAYERS'], 'lower1'))) makeLayers(ws);
  if (env['LAB_CGROUP_PARENT'] && layout) makeCgroupParent(layout, cgroupDirs(layout, env['LAB_CGROUP_PARENT']));
  const starter = join(lab.dir, 'starter');
  if (existsSync(starter)) {
    for (const f of readdirSync(starter)) if (!existsSync(join(ws, f))) copyFileSync(join(starter, f), join(ws, f));
  }
  return { workspace: ws, env };
}
