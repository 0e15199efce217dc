// What the metadata instructions (ENV, LABEL, MAINTAINER, WORKDIR, USER, EXPOSE, VOLUME,
// STOPSIGNAL, HEALTHCHECK, SHELL, ONBUILD, CMD, ENTRYPOINT) do to an image config, and the
// history line each writes. Pure: words are substituted by the caller's `expand`.
import { posix } from 'node:path';
import type { ContainerDefaults, ImageConfig } from '../image/config.js';
import type { CommandForm, Instruction } from './instructions.js';

export type MetadataInstruction = Exclude<Instruction, { kind: 'FROM' | 'ARG' | 'RUN' | 'COPY' | 'ADD' }>;

export interface MetadataStep {
  /** The history entry's created_by. */
  createdBy: string;
  /** Changes a copy of the config section (and the config, for MAINTAINER). */
  apply(d: ContainerDefaults, cfg: ImageConfig): void;
  /** CMD: later ENTRYPOINTs of the stage keep the Cmd. */
  setsCmd: boolean;
}

export const DEFAULT_SHELL: readonly string[] = ['/bin/sh', '-c'];

/** Exec form as it is; shell form wrapped in the SHELL (default /bin/sh -c). */
export function argvOf(cmd: CommandForm, d: ContainerDefaults): string[] {
  return 'exec' in cmd ? [...cmd.exec] : [...(d.Shell ?? DEFAULT_SHELL), cmd.shell];
}

export function setEnv(env: readonly string[] | undefined, key: string, value: string): string[] {
  const out = [...(env ?? [])];
  const i = out.findIndex((e) => e.split('=', 1)[0] === key);
  if (i >= 0) out[i] = `${key}=${value}`;
  else out.push(`${key}=${value}`);
  return out;
}

export function metadataStep(
  ins: MetadataInstruction,
  x: (word: string) => string,
  defaults: ContainerDefaults,
  cmdSetInStage: boolean,
  fail: (message: string) => never,
): MetadataStep {
  let createdBy = ins.text;
  let setsCmd = false;
  let meta: (d: ContainerDefaults, cfg: ImageConfig) => void = () => undefined;
  switch (ins.kind) {
    case 'ENV': {
      const pairs = ins.pairs.map(({ key, value }) => [x(key), x(value)] as const);
      createdBy = `ENV ${pairs.map(([k, v]) => `${k}=${v}`).join(' ')}`;
      meta = (d) => {
        for (const [k, v] of pairs) d.Env = setEnv(d.Env, k, v);
      };
      break;
    }
    case 'LABEL': {
      const pairs = ins.pairs.map(({ key, value }) => [x(key), x(value)] as const);
      createdBy = `LABEL ${pairs.map(([k, v]) => `${k}=${v}`).join(' ')}`;
      meta = (d) => {
        d.Labels = { ...(d.Labels ?? {}) };
        for (const [k, v] of pairs) d.Labels[k] = v;
      };
      break;
    }
    case 'MAINTAINER':
      meta = (_d, cfg) => {
        cfg.author = ins.name;
      };
      break;
    case 'WORKDIR': {
      const path = posix.resolve(defaults.WorkingDir || '/', x(ins.path));
      createdBy = `WORKDIR ${path}`;
      meta = (d) => {
        d.WorkingDir = path;
      };
      break;
    }
    case 'USER': {
      const user = x(ins.user);
      createdBy = `USER ${user}`;
      meta = (d) => {
        d.User = user;
      };
      break;
    }
    case 'EXPOSE': {
      const ports = ins.ports.map(x).flatMap((v) => v.split(/\s+/).filter(Boolean));
      for (const port of ports) if (!/^\d+(-\d+)?(\/(tcp|udp|sctp))?$/i.test(port)) fail(`invalid port "${port}" for EXPOSE`);
      const keys = ports.map((q) => (q.includes('/') ? q.toLowerCase() : `${q}/tcp`));
      createdBy = `EXPOSE ${keys.join(' ')}`;
      meta = (d) => {
        d.ExposedPorts = { ...(d.ExposedPorts ?? {}) };
        for (const k of keys) d.ExposedPorts[k] = {};
      };
      break;
    }
    case 'VOLUME': {
      const paths = ins.paths.map(x);
      createdBy = `VOLUME [${paths.map((q) => JSON.stringify(q)).join(' ')}]`;
      meta = (d) => {
        d.Volumes = { ...(d.Volumes ?? {}) };
        for (const q of paths) d.Volumes[q] = {};
      };
      break;
    }
    case 'STOPSIGNAL': {
      const sig = x(ins.signal);
      if (!/^(SIG)?[A-Z0-9+-]+$|^\d+$/.test(sig)) fail(`invalid signal "${sig}" for STOPSIGNAL`);
      createdBy = `STOPSIGNAL ${sig}`;
      meta = (d) => {
        d.StopSignal = sig;
      };
      break;
    }
    case 'HEALTHCHECK':
      meta = (d) => {
        if (ins.test === null) {
          d.Healthcheck = { Test: ['NONE'] };
          return;
        }
        const h: Record<string, unknown> = { Test: ins.test };
        if (ins.interval) h['Interval'] = ins.interval;
        if (ins.timeout) h['Timeout'] = ins.timeout;
        if (ins.startPeriod) h['StartPeriod'] = ins.startPeriod;
        if (ins.startInterval) h['StartInterval'] = ins.startInterval;
        if (ins.retries) h['Retries'] = ins.retries;
        d.Healthcheck = h;
      };
      break;
    case 'SHELL':
      createdBy = `SHELL ${JSON.stringify(ins.shell)}`;
      meta = (d) => {
        d.Shell = [...ins.shell];
      };
      break;
    case 'ONBUILD':
      meta = (d) => {
        d.OnBuild = [...(d.OnBuild ?? []), ins.trigger];
      };
      break;
    case 'CMD':
    case 'ENTRYPOINT': {
      const argv = argvOf(ins.command, defaults);
      createdBy = `${ins.kind} ${JSON.stringify(argv)}`;
      const isCmd = ins.kind === 'CMD';
      const cmdSet = cmdSetInStage;
      if (isCmd) setsCmd = true;
      meta = (d) => {
        if (isCmd) d.Cmd = argv;
        else {
          d.Entrypoint = argv;
          // as docker: an ENTRYPOINT drops a Cmd inherited from the base image
          if (!cmdSet) d.Cmd = null;
        }
      };
      break;
    }
  }
  return { createdBy, apply: meta, setsCmd };
}
