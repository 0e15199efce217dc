// The devicemapper graph driver (dm-thin), as docker's:
//
//   <home>/devicemapper/{data,metadata}   loop-lvm's sparse pool files (absent with dm.thinpooldev)
//   <home>/mnt/<id>                       where a layer's file system is mounted (host or container)
//   <home>/pool.lock                      the cross-process pool lock (a SQLite file of its own)
//   rows in state.db                      dm_pools, dm_devices (migration 006)
//
// A base device (hash '') gets the file system (ext4, or dm.fs=xfs) once; every layer is a thin
// snapshot of its parent (a base layer: of the base device), a container's -init and rw layers
// snapshots of the image top and of -init. A layer's content is a full tree, as with vfs: its
// changes are found by comparing it with its parent's (docker's naive diff). The rootfs mount
// is the device itself (type ext4/xfs, source /dev/mapper/<name>), made by the helper inside the
// container's mount namespace; the device is activated when its mount spec is asked for.
import { mkdirSync, rmdirSync } from 'node:fs';
import type { Readable } from 'node:stream';
import type { DB } from '../../store/db.js';
import {
  allDevices,
  FileLock,
  getDevice,
  getPool,
  markDeleted,
  setInitialized,
  type DmDeviceRow,
} from '../../store/devmapper.js';
import { ConflictError, NotFoundError, SystemError, UnsupportedError } from '../../util/errors.js';
import { decimalSize } from '../../util/units.js';
import { execInputSync, firstLine } from '../../util/exec.js';
import type { ApplyResult, DriverStatus, GraphDriver, MountSpec } from '../driver.js';
import { checkLayerId, hostMount, hostUnmount, isMountPoint } from '../fsutil.js';
import { backingFsName } from '../overlay.js';
import { lazyTar } from '../lazy.js';
import {
  deviceMapperMissing,
  ensurePool,
  loopFiles,
  namePrefix,
  parseOptions,
  poolStatus,
  removePool,
  type DmOptions,
  type PoolStatus,
} from './pool.js';
import { activate, createSnap, createThin, deactivate, devPath, discard, mappedBytes, mkfs } from './devices.js';
import { createDeviceTx, deleteDeviceTx, recover, type Recovery } from './transaction.js';

const BASE = '';
/** How long a CLI waits for another one's pool operation (mkfs of a base device included). */
const LOCK_TIMEOUT_MS = 300_000;

export interface DevmapperOptions {
  db: () => DB;
  storageOpts: readonly string[];
}

export class DevmapperDriver implements GraphDriver {
  readonly name = 'devicemapper';
  readonly options: DmOptions;
  readonly pool: string;
  private readonly prefix: string;
  private readonly lock: FileLock;
  private readied = false;
  /** What the last open's transaction check found. */
  lastRecovery: Recovery = 'clean';

  constructor(
    readonly home: string,
    private readonly opts: DevmapperOptions,
  ) {
    const missing = deviceMapperMissing();
    if (missing) throw new UnsupportedError(missing);
    this.options = parseOptions(opts.storageOpts);
    mkdirSync(`${home}/mnt`, { recursive: true, mode: 0o700 });
    this.prefix = namePrefix(home);
    this.pool = this.options.thinPoolDev ?? `${this.prefix}-pool`;
    this.lock = new FileLock(`${home}/pool.lock`, LOCK_TIMEOUT_MS);
  }

  private get db(): DB {
    return this.opts.db();
  }

  /** The device-mapper name of layer `hash`. */
  deviceName(hash: string): string {
    return hash === BASE ? `${this.prefix}-base` : `${this.prefix}-${hash}`;
  }

  private mnt(id: string): string {
    checkLayerId(this.name, id);
    return `${this.home}/mnt/${id}`;
  }

  /** Pool made or found, transactions settled, the base device ready, deferred deletes retried. */
  private ready(): void {
    if (this.readied) return;
    this.lock.hold(() => {
      ensurePool(this.home, this.pool, this.options);
      const row = getPool(this.db, this.pool);
      if (!row && this.options.thinPoolDev !== null && poolStatus(this.pool).transactionId !== 0) {
        throw new ConflictError(
          `devicemapper graph driver: the thin pool ${this.pool} already holds devices this state root did not make (transaction id ${poolStatus(this.pool).transactionId}); give it an unused pool`,
        );
      }
      this.lastRecovery = recover(this.db, this.pool);
      this.ensureBase();
      for (const d of allDevices(this.db, this.pool)) {
        if (d.deleted === 1 && deactivate(this.deviceName(d.hash)) !== 'deferred') {
          try {
            deleteDeviceTx(this.db, this.pool, d.hash);
          } catch {
            /* still busy: next time */
          }
        }
      }
    });
    this.readied = true;
  }

  private ensureBase(): void {
    let base = getDevice(this.db, this.pool, BASE);
    if (base && base.initialized === 0) {
      // a crash during mkfs: start the base device again
      deactivate(this.deviceName(BASE));
      deleteDeviceTx(this.db, this.pool, BASE);
      base = undefined;
    }
    if (base) return;
    this.checkSpace();
    createDeviceTx(this.db, this.pool, BASE, null, this.options.baseSize, false, (id) => createThin(this.pool, id));
    base = getDevice(this.db, this.pool, BASE)!;
    const dev = activate(this.pool, this.deviceName(BASE), base.device_id, base.size);
    try {
      mkfs(this.options.fs, dev, this.options.mkfsArgs);
    } finally {
      deactivate(this.deviceName(BASE));
    }
    setInitialized(this.db, this.pool, BASE);
  }

  /** Pool full, metadata full, below dm.min_free_space: one clear error before anything is made. */
  private checkSpace(): PoolStatus {
    const st = poolStatus(this.pool);
    const pct = this.options.minFreeSpace / 100;
    if (st.mode === 'out_of_data_space' || st.dataTotal - st.dataUsed < Math.max(1, st.dataTotal * pct)) {
      throw new SystemError(
        `devicemapper graph driver: the thin pool ${this.pool} is out of data space (${st.dataTotal - st.dataUsed} of ${st.dataTotal} blocks free, dm.min_free_space ${this.options.minFreeSpace}%): remove containers or images, or grow the pool`,
      );
    }
    if (st.mode === 'ro' || st.metaTotal - st.metaUsed < Math.max(1, st.metaTotal * pct)) {
      throw new SystemError(
        `devicemapper graph driver: the thin pool ${this.pool} is out of metadata space (${st.metaTotal - st.metaUsed} of ${st.metaTotal} blocks free${st.mode === 'ro' ? ', pool read-only' : ''}): remove containers or images, or grow the metadata device`,
      );
    }
    return st;
  }

  private row(id: string): DmDeviceRow | undefined {
    checkLayerId(this.name, id);
    this.ready();
    const r = getDevice(this.db, this.pool, id);
    return r && r.deleted === 0 ? r : undefined;
  }

  private need(id: string): DmDeviceRow {
    const r = this.row(id);
    if (!r) throw new NotFoundError(`devicemapper graph driver: layer ${id} does not exist`);
    return r;
  }

  private activateRow(r: DmDeviceRow): string {
    return activate(this.pool, this.deviceName(r.hash), r.device_id, r.size);
  }

  private mountData(): string {
    const opts = [this.options.fs === 'xfs' ? 'nouuid' : '', this.options.mountOpts].filter(Boolean);
    return opts.join(',');
  }

  status(): DriverStatus {
    this.ready();
    const st = poolStatus(this.pool, true);
    const loop = this.options.thinPoolDev === null;
    const files = loopFiles(this.home);
    const base = getDevice(this.db, this.pool, BASE);
    const devices = allDevices(this.db, this.pool);
    let lib = '';
    try {
      lib = firstLine(execInputSync('dmsetup', ['--version'], '').stdout).replace(/^Library version:\s*/, '');
    } catch {
      /* shown empty */
    }
    const metaBlock = 4096;
    const out: DriverStatus = {
      'Pool Name': this.pool,
      'Pool Blocksize': decimalSize(st.blockBytes),
      'Base Device Size': decimalSize(base?.size ?? this.options.baseSize),
      'Backing Filesystem': this.options.fs === 'ext4' ? 'extfs' : 'xfs',
      'Udev Sync Supported': 'false',
    };
    if (loop) {
      out['Data file'] = files.data;
      out['Metadata file'] = files.metadata;
      out['Data loop file backing filesystem'] = backingFsName(`${this.home}/devicemapper`);
    }
    Object.assign(out, {
      'Data Space Used': decimalSize(st.dataUsed * st.blockBytes),
      'Data Space Total': decimalSize(st.dataTotal * st.blockBytes),
      'Data Space Available': decimalSize((st.dataTotal - st.dataUsed) * st.blockBytes),
      'Metadata Space Used': decimalSize(st.metaUsed * metaBlock),
      'Metadata Space Total': decimalSize(st.metaTotal * metaBlock),
      'Metadata Space Available': decimalSize((st.metaTotal - st.metaUsed) * metaBlock),
      'Thin Pool Minimum Free Space': decimalSize(Math.floor((st.dataTotal * st.blockBytes * this.options.minFreeSpace) / 100)),
      'Pool Mode': st.mode,
      'Transaction Id': String(st.transactionId),
      'Deferred Removal Enabled': 'true',
      'Deferred Deletion Enabled': 'true',
      'Deferred Deleted Device Count': String(devices.filter((d) => d.deleted === 1).length),
      Devices: String(devices.filter((d) => d.hash !== BASE && d.deleted === 0).length),
      'Library Version': lib,
    });
    return out;
  }

  exists(id: string): boolean {
    return this.row(id) !== undefined;
  }

  list(): { id: string; modifiedMs: number }[] {
    this.ready();
    return allDevices(this.db, this.pool)
      .filter((d) => d.hash !== BASE)
      .map((d) => ({ id: d.hash, modifiedMs: d.created_ms }));
  }

  diffSize(id: string): number {
    const r = this.row(id);
    return r ? mappedBytes(this.deviceName(r.hash)) : 0;
  }

  async create(id: string, parent: string | null): Promise<void> {
    checkLayerId(this.name, id);
    this.ready();
    this.lock.hold(() => {
      if (getDevice(this.db, this.pool, id)) throw new ConflictError(`devicemapper graph driver: layer ${id} already exists`);
      const origin = parent === null ? getDevice(this.db, this.pool, BASE)! : this.need(parent);
      this.checkSpace();
      createDeviceTx(this.db, this.pool, id, parent ?? BASE, origin.size, true, (devId) =>
        createSnap(this.pool, devId, origin.device_id, this.deviceName(origin.hash)),
      );
    });
  }

  /** Mounts the layer's device on the host at <home>/mnt/<id>. */
  async mount(id: string): Promise<string> {
    const r = this.need(id);
    const target = this.mnt(id);
    if (isMountPoint(target)) return target;
    mkdirSync(target, { recursive: true, mode: 0o755 });
    const dev = this.activateRow(r);
    await hostMount(this.options.fs, dev, this.mountData(), target);
    return target;
  }

  async unmount(id: string): Promise<void> {
    const r = this.need(id);
    await hostUnmount(this.mnt(id));
    deactivate(this.deviceName(r.hash));
  }

  private async withMounted<T>(id: string, fn: (dir: string) => Promise<T>): Promise<T> {
    const dir = await this.mount(id);
    try {
      return await fn(dir);
    } finally {
      await this.unmount(id);
    }
  }

  async applyDiff(id: string, tar: Readable): Promise<ApplyResult> {
    const { applyLayerTar } = await import('../tar-apply.js');
    return this.withMounted(id, (dir) => applyLayerTar(dir, tar, { whiteouts: 'delete' }));
  }

  diff(id: string): Readable {
    const r = this.need(id);
    const parent = r.parent === BASE || r.parent === null ? null : r.parent;
    return lazyTar(async () => {
      const { compareDiffTar } = await import('../tar-diff.js');
      const dir = await this.mount(id);
      const baseDir = parent === null ? await this.mountBase() : await this.mount(parent);
      const release = async () => {
        await this.unmount(id).catch(() => undefined);
        if (parent === null) await this.unmountBase().catch(() => undefined);
        else await this.unmount(parent).catch(() => undefined);
      };
      const tar = compareDiffTar(dir, baseDir);
      tar.on('close', () => void release());
      return tar;
    });
  }

  private async mountBase(): Promise<string> {
    const b = getDevice(this.db, this.pool, BASE)!;
    const target = `${this.home}/mnt/.base`;
    if (isMountPoint(target)) return target;
    mkdirSync(target, { recursive: true, mode: 0o755 });
    await hostMount(this.options.fs, this.activateRow(b), [this.mountData(), 'ro'].filter(Boolean).join(','), target);
    return target;
  }

  private async unmountBase(): Promise<void> {
    await hostUnmount(`${this.home}/mnt/.base`);
    deactivate(this.deviceName(BASE));
  }

  async populate(id: string, fn: (dir: string) => void | Promise<void>): Promise<void> {
    await this.withMounted(id, async (dir) => {
      await fn(dir);
    });
  }

  mountSpec(id: string): { spec: MountSpec; target: string } {
    const r = this.need(id);
    const target = this.mnt(id);
    mkdirSync(target, { recursive: true, mode: 0o755 });
    const dev = this.activateRow(r);
    return { spec: { type: this.options.fs, source: dev, data: this.mountData() }, target };
  }

  async remove(id: string): Promise<void> {
    checkLayerId(this.name, id);
    this.ready();
    const target = this.mnt(id);
    if (isMountPoint(target)) await hostUnmount(target);
    this.lock.hold(() => {
      const r = getDevice(this.db, this.pool, id);
      if (!r) return;
      const name = this.deviceName(id);
      if (this.options.blkDiscard && r.deleted === 0) {
        // discard through an active, unused device so a loop file gets its holes back
        this.activateRow(r);
        discard(name);
      }
      if (deactivate(name) === 'deferred') {
        markDeleted(this.db, this.pool, id);
        return;
      }
      try {
        deleteDeviceTx(this.db, this.pool, id);
      } catch (e) {
        markDeleted(this.db, this.pool, id);
        throw e;
      }
    });
    try {
      rmdirSync(target);
    } catch {
      /* never made, or busy */
    }
  }

  /** Deactivates every device of this root and removes the pool (loop-lvm: the loop devices
   *  detach themselves; the files stay). Not part of the interface: for tests and clean-up. */
  shutdown(): void {
    this.lock.hold(() => {
      for (const d of allDevices(this.db, this.pool)) {
        const m = d.hash === BASE ? `${this.home}/mnt/.base` : this.mnt(d.hash);
        if (isMountPoint(m)) {
          const r = execInputSync('umount', [m], '');
          if (r.code !== 0) throw new SystemError(`umount ${m} failed: ${firstLine(r.stderr)}`);
        }
        deactivate(this.deviceName(d.hash));
      }
      if (this.options.thinPoolDev === null) removePool(this.pool);
    });
    this.readied = false;
  }

  /** The /dev/mapper path of layer `id` (tests). */
  devicePath(id: string): string {
    return devPath(this.deviceName(id));
  }
}
