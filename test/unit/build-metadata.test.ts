import { describe, expect, it } from 'vitest';
import { processWord } from '../../src/build/lex.js';
import { argvOf, metadataStep, type MetadataInstruction } from '../../src/build/metadata.js';
import { parseInstruction } from '../../src/build/parser.js';
import type { ContainerDefaults, ImageConfig } from '../../src/image/config.js';

function apply(text: string, d: ContainerDefaults = {}, vars: Record<string, string> = {}, cmdSet = false) {
  const ins = parseInstruction(text) as MetadataInstruction;
  const env = new Map<string, string>((d.Env ?? []).map((e) => [e.split('=', 1)[0]!, e.slice(e.indexOf('=') + 1)]));
  const lookup = (n: string) => env.get(n) ?? vars[n];
  const step = metadataStep(
    ins,
    (w) => processWord(w, lookup).value,
    d,
    cmdSet,
    (m) => {
      throw new Error(m);
    },
  );
  const out: ContainerDefaults = structuredClone(d);
  const cfg = { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } } as ImageConfig;
  step.apply(out, cfg);
  return { d: out, cfg, createdBy: step.createdBy, setsCmd: step.setsCmd };
}

describe('metadata instructions', () => {
  it('ENV: quotes removed, values from before the instruction, replaces a key in place', () => {
    const r = apply('ENV A=2 B="$A and ${C:-c}" PATH=/x:$PATH', { Env: ['PATH=/bin', 'A=1'] });
    expect(r.d.Env).toEqual(['PATH=/x:/bin', 'A=2', 'B=1 and c']);
    expect(r.createdBy).toBe('ENV A=2 B=1 and c PATH=/x:/bin');
    expect(apply('ENV LEGACY two words').d.Env).toEqual(['LEGACY=two words']);
  });

  it('LABEL merges; ARG values substitute', () => {
    const r = apply('LABEL "a b"=1 v=$VER', { Labels: { old: 'x' } }, { VER: '3' });
    expect(r.d.Labels).toEqual({ old: 'x', 'a b': '1', v: '3' });
  });

  it('WORKDIR resolves relative to the previous one', () => {
    expect(apply('WORKDIR sub/../app', { WorkingDir: '/srv' }).d.WorkingDir).toBe('/srv/app');
    expect(apply('WORKDIR $HOME_DIR', { Env: ['HOME_DIR=/h'] }).d.WorkingDir).toBe('/h');
    expect(apply('WORKDIR rel').d.WorkingDir).toBe('/rel');
  });

  it('USER, STOPSIGNAL, MAINTAINER, VOLUME, EXPOSE', () => {
    expect(apply('USER ${U}:1', {}, { U: 'app' }).d.User).toBe('app:1');
    expect(apply('STOPSIGNAL SIGQUIT').d.StopSignal).toBe('SIGQUIT');
    expect(() => apply('STOPSIGNAL sig-bad!')).toThrow(/invalid signal/);
    expect(apply('MAINTAINER Jane Doe').cfg.author).toBe('Jane Doe');
    expect(apply('VOLUME ["/a", "/b"]', { Volumes: { '/c': {} } }).d.Volumes).toEqual({ '/a': {}, '/b': {}, '/c': {} });
    const e = apply('EXPOSE 80 $P/UDP 1000-1001', {}, { P: '53' });
    expect(e.d.ExposedPorts).toEqual({ '80/tcp': {}, '53/udp': {}, '1000-1001/tcp': {} });
    expect(() => apply('EXPOSE http')).toThrow(/invalid port "http"/);
  });

  it('CMD and ENTRYPOINT: shell form through the SHELL; ENTRYPOINT drops an inherited Cmd', () => {
    expect(apply('CMD echo $X', { Shell: ['/bin/bash', '-c'] }).d.Cmd).toEqual(['/bin/bash', '-c', 'echo $X']);
    expect(apply('CMD ["a"]').setsCmd).toBe(true);
    expect(apply('ENTRYPOINT ["/e"]', { Cmd: ['inherited'] }).d).toEqual({ Entrypoint: ['/e'], Cmd: null });
    expect(apply('ENTRYPOINT ["/e"]', { Cmd: ['mine'] }, {}, true).d).toEqual({ Entrypoint: ['/e'], Cmd: ['mine'] });
    expect(apply('CMD ["sh"]').createdBy).toBe('CMD ["sh"]');
  });

  it('HEALTHCHECK, SHELL, ONBUILD', () => {
    expect(apply('HEALTHCHECK --interval=5s --retries=2 CMD ["true"]').d.Healthcheck).toEqual({
      Test: ['CMD', 'true'],
      Interval: 5e9,
      Retries: 2,
    });
    expect(apply('HEALTHCHECK NONE').d.Healthcheck).toEqual({ Test: ['NONE'] });
    expect(apply('SHELL ["/bin/bash", "-euc"]').d.Shell).toEqual(['/bin/bash', '-euc']);
    expect(apply('ONBUILD COPY . /app', { OnBuild: ['RUN a'] }).d.OnBuild).toEqual(['RUN a', 'COPY . /app']);
  });

  it('argvOf', () => {
    expect(argvOf({ shell: 'x y' }, {})).toEqual(['/bin/sh', '-c', 'x y']);
    expect(argvOf({ exec: ['x', 'y'] }, { Shell: ['z'] })).toEqual(['x', 'y']);
  });
});
