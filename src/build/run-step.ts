// One RUN step: a container on the step's parent image, started through the runtime with its
// output piped to the progress printer; on success the diff of its read-write layer becomes the
// step's layer. Whatever happens (failure, Ctrl-C), the container with its cgroup, network and
// layers is removed before this returns, and so is the temporary image row that the container's
// row needs (containers.image_id references images).
import type { Writable } from 'node:stream';
import type { Context } from '../runtime/context.js';
import { createContainer } from '../runtime/create.js';
import { prepareCreate, type ImageForCreate } from '../runtime/prepare.js';
import { startContainer } from '../runtime/start.js';
import { finishContainer } from '../runtime/finish.js';
import { removeStopped } from '../runtime/delete.js';
import { readExitFile } from '../runtime/exitfile.js';
import { getContainer, type ContainerRow } from '../store/containers.js';
import { writeTx, type DB } from '../store/db.js';
import { deleteImage, getImage, tagsOf, containersOfImage } from '../store/images.js';
import type { LayerRow } from '../store/layers.js';
import { imageIdOf, serializeConfig, type ImageConfig } from '../image/config.js';
import { commitImage } from '../image/store.js';
import { registerLayer } from '../image/layers.js';
import { driverByName } from '../graph/select.js';
import { TscError } from '../util/errors.js';
import { log } from '../util/log.js';

export interface RunStepRequest {
  config: ImageConfig;
  topLayer: LayerRow | null;
  driver: string;
  /** argv to run (shell form already wrapped in the SHELL). */
  args: string[];
  /** Build args to add to the environment (ENV of the image wins). */
  buildEnv: string[];
  network: 'bridge' | 'none' | 'host';
  output: Writable;
  /** Set when the build is interrupted: the step kills its container. */
  signal: AbortSignal;
}

export class RunFailed extends TscError {
  override readonly name = 'RunFailed';
  readonly code: number;
  constructor(command: string, code: number) {
    super(`process "${command}" did not complete successfully: exit code: ${code}`, 1);
    this.code = code;
  }
}

export class BuildInterrupted extends TscError {
  override readonly name = 'BuildInterrupted';
  constructor() {
    super('the build was interrupted', 130);
  }
}

/** Runs the step; resolves with the new layer (on top of req.topLayer). */
export async function runStep(ctx: Context, req: RunStepRequest): Promise<LayerRow> {
  const db = ctx.db();
  const raw = serializeConfig(req.config);
  // The container's row needs an image row: make a temporary one unless it exists already.
  const tempImage = acquireImageRow(db, raw, req.topLayer);
  let row: ContainerRow | undefined;
  try {
    if (req.signal.aborted) throw new BuildInterrupted();
    const defaults = req.config.config ?? {};
    const image: ImageForCreate = {
      id: commitImageId(raw),
      config: { config: { ...defaults, Entrypoint: null, Cmd: null } },
      topLayer: req.topLayer ? { cache_id: req.topLayer.cache_id } : undefined,
      driver: req.driver,
    };
    const envNames = new Set((defaults.Env ?? []).map((e) => e.split('=', 1)[0]));
    const req2 = await prepareCreate(async () => image, image.id, req.args, {
      env: req.buildEnv.filter((e) => !envNames.has(e.split('=', 1)[0])),
      envFile: [],
      volume: [],
      publish: [],
      expose: [],
      dns: [],
      dnsSearch: [],
      dnsOption: [],
      addHost: [],
      networkAlias: [],
      ulimit: [],
      label: [],
      securityOpt: [],
      capAdd: [],
      capDrop: [],
      network: req.network,
      // always the host's user namespace, whatever TSCONTAINER_USERNS says: a step's layer must
      // hold the image's own ids, not a range of host ids
      userns: 'host',
      ...(defaults.User ? { user: defaults.User } : {}),
      ...(defaults.WorkingDir ? { workdir: defaults.WorkingDir } : {}),
    });
    req2.config.labels = {};
    row = await createContainer(ctx, req2);
    const started = await startContainer(ctx, row, { attached: true, stdin: false, output: 'pipe' });
    const { helper } = started;
    const onAbort = () => {
      try {
        process.kill(started.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    };
    req.signal.addEventListener('abort', onAbort);
    if (req.signal.aborted) onAbort(); // Ctrl-C while the container was starting
    helper.child.stdout?.pipe(req.output, { end: false });
    helper.child.stderr?.pipe(req.output, { end: false });
    const code = await helper.exited;
    req.signal.removeEventListener('abort', onAbort);
    const rec = readExitFile(ctx.layout.runContainer(row.id)) ?? {
      exitCode: code,
      signal: null,
      oomKilled: false,
      finishedAt: new Date().toISOString(),
    };
    row = await finishContainer(ctx, getContainer(db, row.id) ?? row, rec);
    if (req.signal.aborted) throw new BuildInterrupted();
    if (rec.exitCode !== 0) throw new RunFailed(req.args.join(' '), rec.exitCode);

    const driver = driverByName(ctx, req.driver);
    const { layer } = await registerLayer(db, driver, { parent: req.topLayer, source: driver.diff(row.rw_layer) });
    return layer;
  } finally {
    if (row) {
      const cur = getContainer(db, row.id);
      if (cur)
        await removeStopped(ctx, cur).catch((err: unknown) => log('warn', 'removing a build container', { err: String(err) }));
    }
    if (tempImage !== undefined) releaseImageRow(db, tempImage);
  }
}

/** Image rows this process made for its build containers, with how many steps use each (stages
 *  built concurrently can run steps on the same parent). */
const tempRows = new Map<string, number>();

function acquireImageRow(db: DB, raw: string, top: LayerRow | null): string | undefined {
  return writeTx(db, () => {
    const id = commitImageId(raw);
    const mine = tempRows.get(id);
    if (mine !== undefined) {
      tempRows.set(id, mine + 1);
      return id;
    }
    if (getImage(db, id)) return undefined; // a real image: not ours to remove
    commitImage(db, raw, top);
    tempRows.set(id, 1);
    return id;
  });
}

function releaseImageRow(db: DB, id: string): void {
  const n = (tempRows.get(id) ?? 1) - 1;
  if (n > 0) {
    tempRows.set(id, n);
    return;
  }
  tempRows.delete(id);
  writeTx(db, () => {
    if (tagsOf(db, id).length === 0 && containersOfImage(db, id).length === 0) deleteImage(db, id);
  });
}

function commitImageId(raw: string): string {
  return imageIdOf(raw);
}
