// The thin pool of the devicemapper driver, as docker's loop-lvm and direct-lvm:
//   loop-lvm (default): <home>/devicemapper/data and .../metadata, sparse files of
//     dm.loopdatasize (100G) and dm.loopmetadatasize (2G) on loop devices, and a thin-pool
//     table over them: 64 KiB blocks, low water mark 32768, skip_block_zeroing, and
//     error_if_no_space (a full pool fails writes at once instead of queueing them for 60 s).
//     The loop devices are set to detach themselves when the pool goes (losetup -d on a busy
//     loop device sets autoclear).
//   direct-lvm: dm.thinpooldev names an existing pool; nothing is made or removed.
// Every device-mapper call goes through dmsetup (Node has no ioctl), with DM_DISABLE_UDEV so
// that it makes the /dev/mapper nodes itself where no udev runs.
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { execInputSync, firstLine, type ExecResult } from '../../util/exec.js';
import { SystemError, UnsupportedError, UsageError } from '../../util/errors.js';

export const SECTOR = 512;
/** docker's dm.blocksize default: 64 KiB (128 sectors). */
export const BLOCK_SECTORS = 128;
const LOW_WATER_MARK = 32768;

export interface DmOptions {
  loopDataSize: number;
  loopMetadataSize: number;
  baseSize: number;
  fs: 'ext4' | 'xfs';
  thinPoolDev: string | null;
  blkDiscard: boolean;
  /** Percent of data and metadata space that must stay free for a new device (docker: 10). */
  minFreeSpace: number;
  mkfsArgs: string[];
  mountOpts: string;
}

const SIZE_RE = /^(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?b?)$/i;

/** "100G", "512MiB", "2g", "1048576" -> bytes (binary units, as docker's RAMInBytes). */
export function parseSize(opt: string, v: string): number {
  const m = SIZE_RE.exec(v.trim());
  if (!m) throw new UsageError(`storage option ${opt}: "${v}" is not a size (e.g. 100G, 512M)`);
  const mult = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40, p: 2 ** 50 }[m[2]!.toLowerCase()]!;
  return Math.floor(Number(m[1]) * mult);
}

/** docker's dm.* options; anything else is one clear error. */
export function parseOptions(opts: readonly string[]): DmOptions {
  const o: DmOptions = {
    loopDataSize: 100 * 2 ** 30,
    loopMetadataSize: 2 * 2 ** 30,
    baseSize: 10 * 2 ** 30,
    fs: 'ext4',
    thinPoolDev: null,
    blkDiscard: true,
    minFreeSpace: 10,
    mkfsArgs: [],
    mountOpts: '',
  };
  let discardSet = false;
  for (const kv of opts) {
    const eq = kv.indexOf('=');
    if (eq < 0) throw new UsageError(`storage option "${kv}" is not key=value`);
    const k = kv.slice(0, eq).trim().toLowerCase();
    const v = kv.slice(eq + 1).trim();
    switch (k) {
      case 'dm.loopdatasize':
        o.loopDataSize = parseSize(k, v);
        break;
      case 'dm.loopmetadatasize':
        o.loopMetadataSize = parseSize(k, v);
        break;
      case 'dm.basesize':
        o.baseSize = parseSize(k, v);
        break;
      case 'dm.fs':
        if (v !== 'ext4' && v !== 'xfs') throw new UsageError(`storage option dm.fs: "${v}" is not ext4 or xfs`);
        o.fs = v;
        break;
      case 'dm.thinpooldev':
        o.thinPoolDev = v.replace(/^\/dev\/mapper\//, '');
        if (!/^[A-Za-z0-9_.:+-]{1,127}$/.test(o.thinPoolDev))
          throw new UsageError(`storage option dm.thinpooldev: "${v}" is not a device-mapper name`);
        break;
      case 'dm.blkdiscard':
        if (!/^(true|false|1|0)$/.test(v)) throw new UsageError(`storage option dm.blkdiscard: "${v}" is not true or false`);
        o.blkDiscard = v === 'true' || v === '1';
        discardSet = true;
        break;
      case 'dm.min_free_space': {
        const m = /^(\d{1,2})%$/.exec(v);
        if (!m) throw new UsageError(`storage option dm.min_free_space: "${v}" is not a percentage below 100 (e.g. 10%)`);
        o.minFreeSpace = Number(m[1]);
        break;
      }
      case 'dm.mkfsarg':
        o.mkfsArgs.push(v);
        break;
      case 'dm.mountopt':
        if (/[\s]/.test(v)) throw new UsageError(`storage option dm.mountopt: "${v}" holds white space`);
        o.mountOpts = o.mountOpts ? `${o.mountOpts},${v}` : v;
        break;
      default:
        throw new UsageError(`unknown storage option "${k}" for the devicemapper driver`);
    }
  }
  // as docker: blkdiscard re-sparsifies loop files, and is off by default on a real pool
  if (!discardSet && o.thinPoolDev !== null) o.blkDiscard = false;
  return o;
}

/** dmsetup with udev left out; the result, never a throw for a non-zero exit. */
export function dmsetup(args: string[]): ExecResult {
  process.env['DM_DISABLE_UDEV'] ??= '1';
  try {
    return execInputSync('dmsetup', args, '');
  } catch (e) {
    throw new UnsupportedError(
      `devicemapper graph driver: cannot run dmsetup (install the dmsetup package): ${(e as Error).message}`,
    );
  }
}

export function dmsetupOk(args: string[], what: string): string {
  const r = dmsetup(args);
  if (r.code !== 0) throw new SystemError(`devicemapper graph driver: ${what}: ${firstLine(r.stderr || r.stdout)}`);
  return r.stdout;
}

/** Why this kernel cannot run the driver, or null when it has device-mapper. */
export function deviceMapperMissing(): string | null {
  if (existsSync('/dev/mapper/control')) return null;
  let listed = false;
  for (const f of ['/proc/misc', '/proc/devices']) {
    try {
      if (/\bdevice-mapper\b/.test(readFileSync(f, 'utf8'))) listed = true;
    } catch {
      /* not there */
    }
  }
  if (listed) return null;
  return 'graph driver "devicemapper" needs device-mapper (dm-thin), and this kernel has none (no device-mapper in /proc/misc or /proc/devices, no /dev/mapper/control)';
}

export interface PoolStatus {
  transactionId: number;
  metaUsed: number;
  metaTotal: number;
  dataUsed: number;
  dataTotal: number;
  /** 'rw', 'ro' or 'out_of_data_space' */
  mode: string;
  /** data block size in bytes (from the table with `withBlockSize`, else the default) */
  blockBytes: number;
}

/** dmsetup status of a thin pool: "0 LEN thin-pool TX MU/MT DU/DT HELD MODE ..." */
export function poolStatus(pool: string, withBlockSize = false): PoolStatus {
  const out = dmsetupOk(['status', pool], `cannot read the status of thin pool ${pool}`).trim();
  const f = out.split(/\s+/);
  if (f[2] !== 'thin-pool' || f.length < 8) {
    throw new SystemError(`devicemapper graph driver: ${pool} is not a thin pool (dmsetup status: ${firstLine(out)})`);
  }
  const [mu, mt] = f[4]!.split('/').map(Number) as [number, number];
  const [du, dt] = f[5]!.split('/').map(Number) as [number, number];
  // the block size is in the table, not the status: read it only when asked
  let blockSectors = BLOCK_SECTORS;
  if (withBlockSize) {
    const table = dmsetupOk(['table', pool], `cannot read the table of thin pool ${pool}`).trim().split(/\s+/);
    blockSectors = Number(table[5] ?? BLOCK_SECTORS);
  }
  return {
    transactionId: Number(f[3]),
    metaUsed: mu,
    metaTotal: mt,
    dataUsed: du,
    dataTotal: dt,
    mode: f[7]!,
    blockBytes: blockSectors * SECTOR,
  };
}

export function deviceExists(name: string): boolean {
  return dmsetup(['info', name]).code === 0;
}

/** Open count of an active device (0 when it is not active). */
export function openCount(name: string): number {
  const r = dmsetup(['info', '-c', '--noheadings', '-o', 'open', name]);
  return r.code === 0 ? Number(r.stdout.trim()) || 0 : 0;
}

/** docker-MAJ:MIN-INO, from the home directory's device and inode: unique per state root. */
export function namePrefix(home: string): string {
  const st = statSync(home);
  const major = Math.floor(st.dev / 256) & 0xfff;
  const minor = (st.dev & 0xff) | (Math.floor(st.dev / 4096) & 0xfff00);
  return `tsc-${major}:${minor}-${st.ino}`;
}

export interface PoolFiles {
  data: string;
  metadata: string;
}

export function loopFiles(home: string): PoolFiles {
  return { data: `${home}/devicemapper/data`, metadata: `${home}/devicemapper/metadata` };
}

function losetup(args: string[]): ExecResult {
  try {
    return execInputSync('losetup', args, '');
  } catch (e) {
    throw new UnsupportedError(`devicemapper graph driver: cannot run losetup (util-linux): ${(e as Error).message}`);
  }
}

/** The loop device backing `file`, attaching one when there is none. */
function attachLoop(file: string): { dev: string; attached: boolean } {
  const found = losetup(['-j', file]);
  const m = /^(\/dev\/loop\d+):/m.exec(found.stdout);
  if (m) return { dev: m[1]!, attached: false };
  const r = losetup(['--find', '--show', file]);
  if (r.code !== 0) {
    throw new SystemError(`devicemapper graph driver: cannot attach ${file} to a loop device: ${firstLine(r.stderr)}`);
  }
  return { dev: r.stdout.trim(), attached: true };
}

/** Makes (loop-lvm) or checks (direct-lvm) the pool; idempotent. Nothing half-made on failure. */
export function ensurePool(home: string, pool: string, o: DmOptions): void {
  if (deviceExists(pool)) {
    poolStatus(pool); // it must be a thin pool
    return;
  }
  if (o.thinPoolDev !== null) {
    throw new UsageError(`devicemapper graph driver: the thin pool dm.thinpooldev=${o.thinPoolDev} does not exist`);
  }
  const files = loopFiles(home);
  mkdirSync(`${home}/devicemapper`, { recursive: true, mode: 0o700 });
  const made: string[] = [];
  const loops: string[] = [];
  try {
    for (const [file, size] of [
      [files.data, o.loopDataSize],
      [files.metadata, o.loopMetadataSize],
    ] as const) {
      if (!existsSync(file)) {
        writeFileSync(file, '', { flag: 'wx', mode: 0o600 });
        made.push(file);
        truncateSync(file, size);
      }
    }
    const data = attachLoop(files.data);
    if (data.attached) loops.push(data.dev);
    const meta = attachLoop(files.metadata);
    if (meta.attached) loops.push(meta.dev);
    const dataSectors = Math.floor(statSync(files.data).size / SECTOR);
    const table = `0 ${dataSectors} thin-pool ${meta.dev} ${data.dev} ${BLOCK_SECTORS} ${LOW_WATER_MARK} 2 skip_block_zeroing error_if_no_space`;
    const r = dmsetup(['create', pool, '--table', table]);
    if (r.code !== 0) {
      const targets = dmsetup(['targets']).stdout;
      if (!/^thin-pool\s/m.test(targets) && !existsSync('/sys/module/dm_thin_pool')) {
        throw new UnsupportedError(
          'graph driver "devicemapper" needs the dm-thin-pool target (CONFIG_DM_THIN_PROVISIONING), which this kernel\'s device-mapper does not have',
        );
      }
      throw new SystemError(`devicemapper graph driver: cannot create the thin pool ${pool}: ${firstLine(r.stderr)}`);
    }
    // busy loop devices detach themselves once the pool is removed
    for (const l of [data.dev, meta.dev]) losetup(['-d', l]);
  } catch (e) {
    if (deviceExists(pool)) dmsetup(['remove', pool]);
    for (const l of loops) losetup(['-d', l]);
    for (const f of made) rmSync(f, { force: true });
    throw e;
  }
}

/** Removes the pool and (loop-lvm) lets its loop devices go; the files stay. For tests and
 *  for a user who wants the kernel objects gone. */
export function removePool(pool: string): void {
  if (!deviceExists(pool)) return;
  dmsetupOk(['remove', pool], `cannot remove the thin pool ${pool}`);
}

/** Sends a message to the pool (create_thin, create_snap, delete, set_transaction_id). */
export function poolMessage(pool: string, msg: string): ExecResult {
  return dmsetup(['message', pool, '0', msg]);
}
