import { describe, expect, it } from 'vitest';
import { applyChange, DEFAULT_ENV, imageIdOf, newImageConfig, parseConfig, serializeConfig } from '../../src/image/config.js';
import { digestOf } from '../../src/image/digest.js';
import { renderTemplate, templateHeader } from '../../src/image/format.js';

const diff = 'sha256:' + 'c'.repeat(64);

describe('image config', () => {
  it('serializes canonically and the id is sha256 of the bytes', () => {
    const a = newImageConfig({ diffIds: [diff], created: '2024-01-01T00:00:00Z', defaults: { Cmd: ['sh'] } });
    const raw = serializeConfig(a);
    expect(raw).toBe(
      '{"created":"2024-01-01T00:00:00Z","architecture":"' +
        a.architecture +
        '","os":"linux","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["sh"]},' +
        `"rootfs":{"type":"layers","diff_ids":["${diff}"]},"history":[]}`,
    );
    expect(imageIdOf(raw)).toBe(digestOf(raw));
    // key order of the input does not matter
    const shuffled = {
      rootfs: a.rootfs,
      os: a.os,
      config: { Cmd: ['sh'], Env: [...DEFAULT_ENV] },
      history: [],
      architecture: a.architecture,
      created: a.created,
    };
    expect(serializeConfig(shuffled)).toBe(raw);
    expect(parseConfig(raw).rootfs.diff_ids).toEqual([diff]);
  });

  it('import defaults: PATH and no Cmd', () => {
    const c = newImageConfig({ diffIds: [diff] });
    expect(c.config?.Env).toEqual([...DEFAULT_ENV]);
    expect(c.config?.Cmd).toBeUndefined();
  });

  it('refuses configs without a valid rootfs', () => {
    expect(() => parseConfig('{}')).toThrow(/rootfs/);
    expect(() => parseConfig('nope')).toThrow(/invalid image config/);
    expect(() => parseConfig('{"rootfs":{"type":"layers","diff_ids":["x"]}}')).toThrow(/diff_id/);
  });

  it('applies --change instructions', () => {
    let d = applyChange({}, 'CMD ["sh","-c","echo hi"]');
    expect(d.Cmd).toEqual(['sh', '-c', 'echo hi']);
    d = applyChange(d, 'ENTRYPOINT echo hello');
    expect(d.Entrypoint).toEqual(['/bin/sh', '-c', 'echo hello']);
    d = applyChange({ Env: ['PATH=/bin', 'A=1'] }, 'ENV A=2 B="x y"');
    expect(d.Env).toEqual(['PATH=/bin', 'A=2', 'B=x y']);
    d = applyChange(d, 'ENV C value with spaces');
    expect(d.Env).toContain('C=value with spaces');
    d = applyChange(d, 'EXPOSE 80 53/udp');
    expect(d.ExposedPorts).toEqual({ '80/tcp': {}, '53/udp': {} });
    d = applyChange(d, 'WORKDIR /app');
    d = applyChange(d, 'USER 1000:1000');
    d = applyChange(d, 'LABEL a=b');
    d = applyChange(d, 'STOPSIGNAL SIGINT');
    expect(d).toMatchObject({ WorkingDir: '/app', User: '1000:1000', Labels: { a: 'b' }, StopSignal: 'SIGINT' });
    expect(() => applyChange({}, 'RUN echo')).toThrow(/not one of/);
    expect(() => applyChange({}, 'EXPOSE abc')).toThrow(/bad port/);
  });
});

describe('templates', () => {
  it('renders fields, nested fields and json', () => {
    const v = { Id: 'sha256:1', Config: { Cmd: ['sh'] }, RepoTags: ['a:1', 'b:2'] };
    expect(renderTemplate('{{.Id}}', v)).toBe('sha256:1');
    expect(renderTemplate('{{json .Config.Cmd}}', v)).toBe('["sh"]');
    expect(renderTemplate('{{.RepoTags}}\\t{{.Missing}}', v)).toBe('[a:1 b:2]\t<no value>');
    expect(templateHeader('{{.Repository}}\\t{{.CreatedSince}}')).toBe('REPOSITORY\tCREATED SINCE');
    expect(() => renderTemplate('{{range .X}}', v)).toThrow(/unsupported/);
  });
});
