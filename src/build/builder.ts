// The builder: resolves which stages the target needs, and runs each stage's steps in order.
// Every step goes through the build cache (key: parent config, instruction after substitution,
// the build args it depends on, and for COPY/ADD the checksum of the copied files); metadata
// steps change only the config (an empty_layer history entry), RUN commits its container's diff
// and COPY/ADD write a layer from the context or another stage. Only the final image gets a row
// in `images`; step results live in the cache table.
import { createHash } from 'node:crypto';
import { readFileSync, type BigIntStats } from 'node:fs';
import { posix } from 'node:path';
import type { Context } from '../runtime/context.js';
import { writeTx } from '../store/db.js';
import {
  getBuildCache,
  getContextHash,
  putBuildCache,
  putContextHashes,
  touchBuildCache,
  type ContextHashRow,
} from '../store/buildcache.js';
import { getLayer, type LayerRow } from '../store/layers.js';
import {
  DEFAULT_ENV,
  hostArchitecture,
  imageIdOf,
  parseConfig,
  serializeConfig,
  type ContainerDefaults,
  type ImageConfig,
} from '../image/config.js';
import { registerLayer } from '../image/layers.js';
import { resolveImage, type ResolvedImage } from '../image/resolve.js';
import { idPrefixOf } from '../image/reference.js';
import { pullImage } from '../image/registry/pull.js';
import { commitImage, parseTagTarget } from '../image/store.js';
import { storageDriverName, driverByName } from '../graph/select.js';
import { withReadOnlyView } from '../graph/view.js';
import { NotFoundError, TscError, UnsupportedError, UsageError } from '../util/errors.js';
import { copyLayerTar, type VirtualFile } from './copy-layer.js';
import { IgnoreMatcher } from './ignore.js';
import type { CopyInstruction, Dockerfile, Instruction, Stage } from './instructions.js';
import { LexError, processWord } from './lex.js';
import { DockerfileError, parseDockerfile, parseInstruction } from './parser.js';
import type { Progress } from './progress.js';
import { BuildInterrupted, RunFailed, runStep } from './run-step.js';
import { DEFAULT_SHELL, metadataStep } from './metadata.js';
import { checksumSources, resolveSources, type HashMemo, type SourceRoot } from './sources.js';
import type { Downloaded } from './download.js';
import { resolveScoped } from './scoped.js';
import { traceAsync } from '../util/trace.js';

export interface BuildOptions {
  /** The context directory, or null for `build -` (no context). */
  contextDir: string | null;
  dockerfile: string;
  /** What errors call the Dockerfile. */
  dockerfileName: string;
  tags: readonly string[];
  buildArgs: ReadonlyMap<string, string>;
  target: string | undefined;
  noCache: boolean;
  network: 'bridge' | 'none' | 'host';
  progress: Progress;
  /** --pull: pull every FROM image before using it (a missing one is pulled anyway). */
  pull: boolean;
  signal: AbortSignal;
}

/** Proxy args docker passes to RUN without an ARG line, and keeps out of the history. */
const PROXY_ARGS = [
  'HTTP_PROXY',
  'http_proxy',
  'HTTPS_PROXY',
  'https_proxy',
  'FTP_PROXY',
  'ftp_proxy',
  'NO_PROXY',
  'no_proxy',
  'ALL_PROXY',
  'all_proxy',
];

interface State {
  config: ImageConfig;
  /** The image id of `config` (the cache's notion of "parent"). */
  id: string;
  top: LayerRow | null;
}

interface StageRun {
  stage: Stage;
  state: State;
  args: Map<string, string | undefined>;
  cmdSet: boolean;
  label: (n: number) => string;
  total: number;
}

function platformArgs(): Map<string, string> {
  const arch = hostArchitecture();
  const p = `linux/${arch}`;
  return new Map([
    ['TARGETPLATFORM', p],
    ['TARGETOS', 'linux'],
    ['TARGETARCH', arch],
    ['TARGETVARIANT', ''],
    ['BUILDPLATFORM', p],
    ['BUILDOS', 'linux'],
    ['BUILDARCH', arch],
    ['BUILDVARIANT', ''],
  ]);
}

function keyOf(parts: unknown[]): string {
  return `sha256:${createHash('sha256').update(JSON.stringify(parts)).digest('hex')}`;
}

function envMap(env: readonly string[] | undefined): Map<string, string> {
  const m = new Map<string, string>();
  for (const e of env ?? []) {
    const i = e.indexOf('=');
    if (i > 0) m.set(e.slice(0, i), e.slice(i + 1));
  }
  return m;
}

export class Builder {
  private readonly df: Dockerfile;
  private readonly globalArgs = new Map<string, string | undefined>();
  private readonly results = new Map<number, State>();
  private readonly usedArgs = new Set<string>();
  private readonly ignore: IgnoreMatcher;
  private readonly now = new Date();
  private driverName = '';
  /** Stages being built or built, by index: each is built once, on first need. */
  private readonly building = new Map<number, Promise<State>>();
  /** Aborted on Ctrl-C, and when one stage fails (the others stop at their next step). */
  private readonly internal = new AbortController();
  private multiStage = false;
  /** The first error of any stage: what the build fails with (the others were stopped by it). */
  private firstError: unknown;

  constructor(
    private readonly ctx: Context,
    private readonly opts: BuildOptions,
  ) {
    this.df = parseDockerfile(opts.dockerfile, { file: opts.dockerfileName });
    let ignoreText = '';
    if (opts.contextDir !== null) {
      try {
        ignoreText = readFileSync(`${opts.contextDir}/.dockerignore`, 'utf8');
      } catch {
        /* no .dockerignore */
      }
    }
    this.ignore = IgnoreMatcher.parse(ignoreText);
  }

  private fail(ins: { line: number; column: number }, msg: string): never {
    throw new DockerfileError(this.opts.dockerfileName, ins.line, ins.column, msg);
  }

  /** Substitutes a word; LexErrors become positioned Dockerfile errors. */
  private expand(word: string, lookup: (n: string) => string | undefined, ins: { line: number; column: number }): string {
    try {
      return processWord(word, lookup, this.df.escape).value;
    } catch (err) {
      if (err instanceof LexError) this.fail(ins, err.message);
      throw err;
    }
  }

  /** Which stage a FROM or --from names: a stage index or name before `before`, else undefined. */
  private stageRef(name: string, before: number): Stage | undefined {
    const lower = name.toLowerCase();
    const byName = this.df.stages.find((s) => s.name === lower && s.index < before);
    if (byName) return byName;
    if (/^\d+$/.test(name)) {
      const i = Number(name);
      if (i < before) return this.df.stages[i];
    }
    return undefined;
  }

  private globalLookup = (n: string): string | undefined => this.globalArgs.get(n) ?? platformArgs().get(n);

  async run(): Promise<string> {
    const tags = this.opts.tags.map(parseTagTarget);
    this.driverName = await storageDriverName(this.ctx);
    for (const a of this.df.globalArgs) {
      for (const { name, default: def } of a.args) {
        const v = this.opts.buildArgs.has(name)
          ? this.opts.buildArgs.get(name)
          : def !== undefined
            ? this.expand(def, this.globalLookup, a)
            : undefined;
        if (this.opts.buildArgs.has(name)) this.usedArgs.add(name);
        this.globalArgs.set(name, v);
      }
    }
    let target = this.df.stages[this.df.stages.length - 1]!;
    if (this.opts.target !== undefined) {
      const t = this.df.stages.find((s) => s.name === this.opts.target!.toLowerCase());
      if (!t) throw new UsageError(`target stage "${this.opts.target}" could not be found`);
      target = t;
    }
    this.multiStage = this.stagesFor(target).length > 1;
    const onAbort = () => this.internal.abort();
    this.opts.signal.addEventListener('abort', onAbort);
    if (this.opts.signal.aborted) onAbort();
    try {
      await this.ensure(target);
    } catch (err) {
      this.internal.abort();
      throw this.firstError ?? err;
    } finally {
      // nothing may still run when we return: a failed stage stops the others, and a stage
      // started for a --from that turned out to name another one is waited for
      await Promise.allSettled([...this.building.values()]);
      this.opts.signal.removeEventListener('abort', onAbort);
    }
    const unused = [...this.opts.buildArgs.keys()].filter((k) => !this.usedArgs.has(k) && !PROXY_ARGS.includes(k));
    if (unused.length > 0) this.opts.progress.note(`[Warning] One or more build-args [${unused.join(' ')}] were not consumed`);

    const final = this.results.get(target.index)!;
    const raw = serializeConfig(final.config);
    const db = this.ctx.db();
    const id = writeTx(db, () => {
      if (final.top && !getLayer(db, final.top.chain_id))
        throw new TscError('a layer of the build was removed while it ran', 125);
      return commitImage(db, raw, final.top, tags);
    });
    this.opts.progress.note(`writing image ${id} done`);
    for (const t of this.opts.tags) this.opts.progress.note(`naming to ${t} done`);
    return id;
  }

  private get signal(): AbortSignal {
    return this.internal.signal;
  }

  /** Builds stage `s` once (later callers share the same promise). The stages it names are
   *  started at the same time, so independent stages build concurrently; its FROM and COPY
   *  --from steps wait for the one they need. */
  private ensure(s: Stage): Promise<State> {
    const known = this.building.get(s.index);
    if (known) return known;
    const p = (async () => {
      for (const dep of this.directDeps(s)) this.ensure(dep).catch(() => undefined);
      const total = s.steps.length + 1;
      const name = this.multiStage ? `${s.name ?? `stage-${s.index}`} ` : '';
      try {
        const state = await this.buildStage(s, (n) => `[${name}${n}/${total}]`, total);
        this.results.set(s.index, state);
        return state;
      } catch (err) {
        if (this.firstError === undefined && !(err instanceof BuildInterrupted && !this.opts.signal.aborted))
          this.firstError = err;
        this.internal.abort();
        throw err;
      }
    })();
    this.building.set(s.index, p);
    return p;
  }

  /** The stages `s` names in FROM and COPY --from (with the global args: stage args may change
   *  a --from, which then waits for its stage when it gets there). */
  private directDeps(s: Stage): Stage[] {
    const out: Stage[] = [];
    const dep = this.stageRef(this.expand(s.from.image, this.globalLookup, s.from), s.index);
    if (dep) out.push(dep);
    for (const st of s.steps) {
      if ((st.kind === 'COPY' || st.kind === 'ADD') && st.from !== undefined) {
        const ref = this.stageRef(this.expand(st.from, this.globalLookup, st), s.index);
        if (ref && !out.includes(ref)) out.push(ref);
      }
    }
    return out;
  }

  /** The stages `target` needs, dependencies first, each once. */
  private stagesFor(target: Stage): Stage[] {
    const out: Stage[] = [];
    const seen = new Set<number>();
    const visit = (s: Stage) => {
      if (seen.has(s.index)) return;
      seen.add(s.index);
      const image = this.expand(s.from.image, this.globalLookup, s.from);
      const dep = this.stageRef(image, s.index);
      if (dep) visit(dep);
      for (const st of s.steps) {
        if ((st.kind === 'COPY' || st.kind === 'ADD') && st.from !== undefined) {
          // --from may use stage args; resolve with global ones for ordering (a stage name rarely needs more)
          const ref = this.stageRef(this.expand(st.from, this.globalLookup, st), s.index);
          if (ref) visit(ref);
        }
      }
      out.push(s);
    };
    visit(target);
    return out;
  }

  /** Pulls of this build, one per reference even when stages ask at the same time. */
  private pulls = new Map<string, Promise<void>>();

  /** An image FROM or COPY --from names: pulled when missing (as docker's classic builder), or
   *  always with --pull; an image id is never pulled. */
  private async image(ref: string, always: boolean): Promise<ResolvedImage> {
    const byId = idPrefixOf(ref) !== undefined;
    if (!always || byId) {
      try {
        return await resolveImage(this.ctx, ref);
      } catch (err) {
        if (!(err instanceof NotFoundError) || byId) throw err;
      }
    }
    let pull = this.pulls.get(ref);
    if (pull === undefined) {
      const p = this.opts.progress;
      pull = (async () => {
        p.note(`pulling ${ref}`);
        const r = await pullImage(this.ctx, ref);
        p.note(`${r.upToDate ? 'Image is up to date' : 'Downloaded newer image'} for ${r.name} (${r.digest.split('@')[1]})`);
      })();
      this.pulls.set(ref, pull);
    }
    await pull;
    return resolveImage(this.ctx, ref);
  }

  private async baseState(s: Stage): Promise<{ state: State; onbuild: string[] }> {
    const from = s.from;
    if (from.platform !== undefined) {
      const p = this.expand(from.platform, this.globalLookup, from);
      const want = `linux/${hostArchitecture()}`;
      if (p !== want && p !== `${want}/` && !p.startsWith(`${want}/`)) {
        throw new UnsupportedError(
          `${this.opts.dockerfileName}:${from.line}: --platform=${p} is not this host's platform (${want}); tscontainer builds for the host only`,
        );
      }
    }
    const image = this.expand(from.image, this.globalLookup, from);
    if (image === '') this.fail(from, `FROM ${from.image}: the image name is empty after substitution`);
    if (image.toLowerCase() === 'scratch') {
      const config: ImageConfig = {
        architecture: hostArchitecture(),
        os: 'linux',
        config: { Env: [...DEFAULT_ENV] },
        rootfs: { type: 'layers', diff_ids: [] },
        history: [],
      };
      return { state: { config, id: imageIdOf(serializeConfig(config)), top: null }, onbuild: [] };
    }
    const dep = this.stageRef(image, s.index);
    if (dep) {
      // an earlier stage's ONBUILD triggers run here too, as BuildKit runs them
      const st = await this.ensure(dep);
      const onbuild = st.config.config?.OnBuild ?? [];
      if (onbuild.length === 0) return { state: st, onbuild: [] };
      const config = structuredClone(st.config);
      delete config.config!.OnBuild;
      return { state: { config, id: imageIdOf(serializeConfig(config)), top: st.top }, onbuild };
    }
    const img = await this.image(image, this.opts.pull);
    const config = structuredClone(img.config);
    const onbuild = config.config?.OnBuild ?? [];
    // the triggers run in this build; the new image does not inherit them
    if (config.config) delete config.config.OnBuild;
    return { state: { config, id: img.id, top: img.topLayer ?? null }, onbuild };
  }

  private async buildStage(s: Stage, label: (n: number) => string, total: number): Promise<State> {
    const p = this.opts.progress;
    p.step(label(1), `FROM ${s.from.image}${s.name ? ` AS ${s.from.stageName}` : ''}`);
    const { state, onbuild } = await this.baseState(s);
    const run: StageRun = { stage: s, state, args: new Map(), cmdSet: false, label, total };
    // ONBUILD triggers of the base image run first, as docker runs them right after FROM.
    for (const trigger of onbuild) {
      const ins = parseInstruction(trigger);
      if (ins.kind === 'ONBUILD' || ins.kind === 'FROM' || ins.kind === 'MAINTAINER') {
        throw new UsageError(`the base image's ONBUILD trigger "${trigger}" is not allowed`);
      }
      await traceAsync(
        'build step',
        () => `${label(1)} ONBUILD ${ins.text}`,
        () => this.step(run, ins, `${label(1)} ONBUILD`),
      );
    }
    for (const [i, ins] of s.steps.entries())
      await traceAsync(
        'build step',
        () => `${label(i + 2)} ${ins.text}`,
        () => this.step(run, ins, label(i + 2)),
      );
    return run.state;
  }

  private lookupFor(run: StageRun): (n: string) => string | undefined {
    const env = envMap(run.state.config.config?.Env);
    return (n) => (env.has(n) ? env.get(n) : run.args.get(n));
  }

  /** The build args in effect for RUN: declared ones with a value, plus proxy args given. */
  private runArgs(run: StageRun): string[] {
    const out: string[] = [];
    for (const [k, v] of [...run.args.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      if (v !== undefined) out.push(`${k}=${v}`);
    return out;
  }

  private proxyEnv(): string[] {
    return PROXY_ARGS.filter((k) => this.opts.buildArgs.has(k)).map((k) => `${k}=${this.opts.buildArgs.get(k)}`);
  }

  private async step(run: StageRun, ins: Exclude<Instruction, { kind: 'FROM' }>, label: string): Promise<void> {
    const p = this.opts.progress;
    if (this.signal.aborted) throw new BuildInterrupted();
    const started = Date.now();
    const lookup = this.lookupFor(run);
    const x = (w: string) => this.expand(w, lookup, ins);
    const defaults: ContainerDefaults = { ...(run.state.config.config ?? {}) };
    let createdBy = ins.text;
    /** Metadata change: a new config, no layer. */
    let meta: ((d: ContainerDefaults, cfg: ImageConfig) => void) | undefined;

    switch (ins.kind) {
      case 'ARG': {
        const parts: string[] = [];
        for (const { name, default: def } of ins.args) {
          let v: string | undefined;
          if (this.opts.buildArgs.has(name)) {
            v = this.opts.buildArgs.get(name);
            this.usedArgs.add(name);
          } else if (def !== undefined) v = x(def);
          else v = this.globalArgs.get(name) ?? platformArgs().get(name);
          run.args.set(name, v);
          parts.push(v === undefined ? name : `${name}=${v}`);
        }
        createdBy = `ARG ${parts.join(' ')}`;
        meta = () => undefined;
        break;
      }
      case 'RUN':
      case 'COPY':
      case 'ADD':
        break;
      default: {
        const m = metadataStep(ins, x, defaults, run.cmdSet, (msg: string) => this.fail(ins, msg));
        createdBy = m.createdBy;
        meta = m.apply;
        if (m.setsCmd) run.cmdSet = true;
      }
    }

    if (meta !== undefined) {
      // metadata steps: computed, but still cached so that an unchanged rebuild gives the same id
      const key = keyOf(['meta', run.state.id, createdBy, ins.kind === 'MAINTAINER' ? ins.name : '']);
      if (this.fromCache(run, key, label, ins.text)) return;
      p.step(label, ins.text);
      const cfg = structuredClone(run.state.config);
      const d: ContainerDefaults = structuredClone(defaults);
      meta(d, cfg);
      cfg.config = d;
      this.advance(run, key, cfg, run.state.top, { created_by: createdBy, empty_layer: true });
      p.done(label, Date.now() - started);
      return;
    }

    if (ins.kind === 'RUN') {
      const net = ins.network === undefined ? this.opts.network : ins.network === 'default' ? 'bridge' : ins.network;
      const argv = this.runArgv(ins, defaults);
      const args = this.runArgs(run);
      createdBy = args.length > 0 ? `RUN |${args.length} ${args.join(' ')} ${argv.join(' ')}` : `RUN ${argv.join(' ')}`;
      const key = keyOf(['run', run.state.id, argv, args, net === 'host' ? 'host' : '']);
      if (this.fromCache(run, key, label, ins.text)) return;
      p.step(label, ins.text);
      let layer: LayerRow;
      try {
        layer = await runStep(this.ctx, {
          config: run.state.config,
          topLayer: run.state.top,
          driver: this.driverName,
          args: argv,
          buildEnv: [...args, ...this.proxyEnv()],
          network: net,
          output: p.output,
          signal: this.signal,
        });
      } catch (err) {
        if (err instanceof RunFailed) p.failed(label, err.message);
        throw err;
      }
      this.advanceLayer(run, key, layer, createdBy);
      p.done(label, Date.now() - started);
      return;
    }

    await this.copy(run, ins as CopyInstruction, label, x, started);
  }

  private runArgv(ins: Extract<Instruction, { kind: 'RUN' }>, d: ContainerDefaults): string[] {
    if ('exec' in ins.command) return [...ins.command.exec];
    const shell = d.Shell ?? DEFAULT_SHELL;
    const hd = ins.heredocs;
    // `RUN <<EOF` alone: the heredoc is the script
    if (hd.length === 1 && /^<<-?["']?[A-Za-z_][A-Za-z0-9_]*["']?$/.test(ins.command.shell.trim()))
      return [...shell, hd[0]!.content];
    if (hd.length === 0) return [...shell, ins.command.shell];
    // otherwise the shell reads the heredocs itself
    const body = hd.map((h) => `${h.content}${h.name}\n`).join('');
    return [...shell, `${ins.command.shell}\n${body}`];
  }

  private fromCache(run: StageRun, key: string, label: string, text: string): boolean {
    if (this.opts.noCache) return false;
    const db = this.ctx.db();
    const hit = getBuildCache(db, key);
    if (!hit) return false;
    const top = hit.top_layer === null ? null : getLayer(db, hit.top_layer);
    if (hit.top_layer !== null && !top) return false;
    touchBuildCache(db, key, new Date().toISOString());
    const config = parseConfig(hit.config);
    run.state = { config, id: imageIdOf(hit.config), top: top ?? null };
    this.opts.progress.cached(label, text);
    return true;
  }

  private advance(
    run: StageRun,
    key: string,
    cfg: ImageConfig,
    top: LayerRow | null,
    h: { created_by: string; empty_layer?: boolean },
  ): void {
    const created = new Date().toISOString();
    cfg.created = created;
    cfg.history = [
      ...(cfg.history ?? []),
      { created, created_by: h.created_by, ...(h.empty_layer ? { empty_layer: true } : {}) },
    ];
    const raw = serializeConfig(cfg);
    const db = this.ctx.db();
    writeTx(db, () => putBuildCache(db, { key, config: raw, top_layer: top?.chain_id ?? null, created_at: created }));
    run.state = { config: parseConfig(raw), id: imageIdOf(raw), top };
  }

  private advanceLayer(run: StageRun, key: string, layer: LayerRow, createdBy: string): void {
    const cfg = structuredClone(run.state.config);
    cfg.rootfs = { type: 'layers', diff_ids: [...cfg.rootfs.diff_ids, layer.diff_id] };
    this.advance(run, key, cfg, layer, { created_by: createdBy });
  }

  private memo(): HashMemo & { flush(): void } {
    const db = this.ctx.db();
    const pending: ContextHashRow[] = [];
    const same = (r: ContextHashRow, st: BigIntStats) =>
      r.dev === Number(st.dev) &&
      r.ino === Number(st.ino) &&
      r.size === Number(st.size) &&
      r.mtime_ns === String(st.mtimeNs) &&
      r.ctime_ns === String(st.ctimeNs);
    return {
      get: (path, st) => {
        const r = getContextHash(db, path);
        return r && same(r, st) ? r.digest : undefined;
      },
      put: (path, st, digest) => {
        pending.push({
          path,
          dev: Number(st.dev),
          ino: Number(st.ino),
          size: Number(st.size),
          mtime_ns: String(st.mtimeNs),
          ctime_ns: String(st.ctimeNs),
          digest,
        });
      },
      flush: () => {
        if (pending.length > 0) writeTx(db, () => putContextHashes(db, pending.splice(0)));
      },
    };
  }

  private async copy(
    run: StageRun,
    ins: CopyInstruction,
    label: string,
    x: (w: string) => string,
    started: number,
  ): Promise<void> {
    const isAdd = ins.kind === 'ADD';
    const defaults = run.state.config.config ?? {};
    const destWord = x(ins.dest);
    const dest = destWord.startsWith('/')
      ? destWord
      : posix.join(defaults.WorkingDir || '/', destWord) + (destWord.endsWith('/') || destWord === '.' ? '/' : '');
    const chown = ins.chown !== undefined ? x(ins.chown) : undefined;
    const chmod = ins.chmod !== undefined ? parseInt(ins.chmod, 8) : undefined;
    const heredocs = new Map(ins.heredocs.map((h) => [h.name, h]));
    const files: VirtualFile[] = [];
    const words: string[] = [];
    for (const w of ins.sources) {
      const m = /^<<-?(["']?)([A-Za-z_][A-Za-z0-9_]*)\1$/.exec(w);
      const h = m ? heredocs.get(m[2]!) : undefined;
      if (h) files.push({ baseName: h.name, content: Buffer.from(h.expand ? x(h.content) : h.content) });
      else words.push(x(w));
    }
    const isUrl = (w: string) => /^https?:\/\//i.test(w);
    if (words.some((w) => /^git@/.test(w))) this.fail(ins, `${ins.kind} of a git repository is not supported`);
    if (!isAdd && words.some(isUrl)) this.fail(ins, 'COPY: a source cannot be a URL (use ADD)');
    const urls = words.filter(isUrl);
    const local = words.filter((w) => !isUrl(w));
    if (urls.length === 0) return this.copyFrom(run, ins, label, x, started, local, [], files, dest, chown, chmod);
    const { downloadAll } = await import('./download.js');
    const dl = await downloadAll(urls, this.ctx.layout.tmp, this.signal);
    try {
      return await this.copyFrom(run, ins, label, x, started, local, dl.items, files, dest, chown, chmod);
    } finally {
      dl.remove();
    }
  }

  private async copyFrom(
    run: StageRun,
    ins: CopyInstruction,
    label: string,
    x: (w: string) => string,
    started: number,
    words: string[],
    downloads: Downloaded[],
    files: VirtualFile[],
    dest: string,
    chown: string | undefined,
    chmod: number | undefined,
  ): Promise<void> {
    const p = this.opts.progress;
    const isAdd = ins.kind === 'ADD';
    const from = ins.from !== undefined ? x(ins.from) : undefined;
    const srcText = `${ins.kind}${from !== undefined ? ` --from=${from}` : ''}${chown ? ` --chown=${chown}` : ''}${ins.chmod ? ` --chmod=${ins.chmod}` : ''} ${[...words, ...downloads.map((d) => d.url), ...files.map((f) => `<<${f.baseName}`)].join(' ')} ${dest}`;

    // Where the sources come from, and what identifies their content for the cache.
    let fromState: State | undefined;
    let sourceId: string;
    if (from !== undefined) {
      const st = this.stageRef(from, run.stage.index);
      if (st) fromState = await this.ensure(st);
      else {
        const img = await this.image(from, false);
        fromState = { config: img.config, id: img.id, top: img.topLayer ?? null };
      }
      if (!fromState) this.fail(ins, `COPY --from=${from}: that stage has not been built`);
      sourceId = fromState.id;
    } else {
      if (this.opts.contextDir === null && words.length > 0) {
        this.fail(ins, `${ins.kind} ${words[0]}: there is no build context (the Dockerfile came from stdin)`);
      }
      sourceId = '';
    }
    const driver = driverByName(this.ctx, this.driverName);
    const tmp = this.ctx.layout.tmp;
    const ctxRoot: SourceRoot | undefined =
      this.opts.contextDir !== null ? { dir: this.opts.contextDir, ignore: this.ignore, label: 'build context' } : undefined;

    const withSources = async <T>(fn: (root: SourceRoot | undefined) => Promise<T>): Promise<T> => {
      if (fromState === undefined) return fn(ctxRoot);
      return withReadOnlyView(driver, fromState.top?.cache_id ?? null, tmp, (dir) =>
        fn({ dir, ignore: undefined, label: `stage or image ${from}` }),
      );
    };

    // The cache key: for the context, a checksum of the files; for --from, the source image id.
    let checksum = sourceId;
    if (fromState === undefined && ctxRoot && words.length > 0) {
      const items = resolveSources(ctxRoot, words);
      const memo = this.memo();
      checksum = await checksumSources(ctxRoot, items, memo);
      memo.flush();
    }
    const key = keyOf([
      'copy',
      run.state.id,
      srcText,
      checksum,
      downloads.map((d) => d.digest),
      files.map((f) => f.content.toString('base64')),
      ins.link,
    ]);
    if (this.fromCache(run, key, label, ins.text)) return;
    p.step(label, ins.text);

    const db = this.ctx.db();
    const layer = await withReadOnlyView(driver, run.state.top?.cache_id ?? null, tmp, async (view) => {
      const owner = chown !== undefined ? resolveOwner(view, chown, ins, this.opts.dockerfileName) : undefined;
      return withSources(async (root) => {
        const items = words.length > 0 ? resolveSources(root!, words) : [];
        const tar = copyLayerTar({
          view,
          dest,
          sources: [
            ...items.map((item) => ({ root: root!, item })),
            ...downloads.map((d) => ({ root: d.root, item: d.item, extract: false })),
          ],
          files,
          owner,
          preserveOwner: fromState !== undefined,
          chmod,
          extract: isAdd,
          now: this.now,
        });
        return (await registerLayer(db, driver, { parent: run.state.top, source: tar })).layer;
      });
    });
    this.advanceLayer(run, key, layer, srcText);
    p.done(label, Date.now() - started);
  }
}

/** --chown=user[:group], names looked up in the image's /etc/passwd and /etc/group. */
function resolveOwner(
  view: string,
  spec: string,
  ins: { line: number; column: number },
  file: string,
): { uid: number; gid: number } {
  const [u, g] = spec.split(':', 2) as [string, string | undefined];
  const table = (path: string): string[][] => {
    try {
      return readFileSync(resolveScoped(view, path), 'utf8')
        .split('\n')
        .map((l) => l.split(':'));
    } catch {
      return [];
    }
  };
  const lookup = (name: string, path: string, what: string): number => {
    if (/^\d+$/.test(name)) return Number(name);
    const row = table(path).find((r) => r[0] === name);
    if (!row || !/^\d+$/.test(row[2] ?? ''))
      throw new DockerfileError(file, ins.line, ins.column, `unable to find ${what} ${name} in the image's ${path}`);
    return Number(row[2]);
  };
  const uid = lookup(u, '/etc/passwd', 'user');
  const gid = g !== undefined && g !== '' ? lookup(g, '/etc/group', 'group') : uid;
  return { uid, gid };
}

export { TscError };
