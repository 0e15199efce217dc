import { describe, expect, it } from 'vitest';
import { parseDockerfile, parseDuration, parseInstruction, DockerfileError } from '../../src/build/parser.js';
import { processWord, splitWords, LexError } from '../../src/build/lex.js';
import type { Instruction } from '../../src/build/instructions.js';

const env = (vars: Record<string, string>) => (n: string) => vars[n];

function steps(text: string): Instruction[] {
  return parseDockerfile(text).stages.flatMap((s) => [s.from as Instruction, ...s.steps]);
}

function parseError(text: string): DockerfileError {
  try {
    parseDockerfile(text);
  } catch (e) {
    expect(e).toBeInstanceOf(DockerfileError);
    return e as DockerfileError;
  }
  throw new Error('expected a parse error');
}

describe('word processing (docker shell lexer)', () => {
  const vars = env({ A: 'a', EMPTY: '', SP: 'x y' });
  const w = (s: string, esc = '\\') => processWord(s, vars, esc).value;

  it('expands $V and ${V}; unset is empty', () => {
    expect(w('$A')).toBe('a');
    expect(w('${A}b')).toBe('ab');
    expect(w('$Ab')).toBe('');
    expect(w('pre-$A-post')).toBe('pre-a-post');
    expect(w('$UNSET')).toBe('');
    expect(w('${SP}')).toBe('x y');
  });

  it('handles the modifiers :- - :+ + :? ?', () => {
    expect(w('${A:-d}')).toBe('a');
    expect(w('${UNSET:-d}')).toBe('d');
    expect(w('${EMPTY:-d}')).toBe('d');
    expect(w('${EMPTY-d}')).toBe('');
    expect(w('${UNSET-d}')).toBe('d');
    expect(w('${A:+x}')).toBe('x');
    expect(w('${EMPTY:+x}')).toBe('');
    expect(w('${EMPTY+x}')).toBe('x');
    expect(w('${UNSET:+x}')).toBe('');
    expect(w('${UNSET:-$A}')).toBe('a');
    expect(w('${A:?must}')).toBe('a');
    expect(() => w('${UNSET:?must be set}')).toThrow(/UNSET: must be set/);
    expect(() => w('${EMPTY:?}')).toThrow(LexError);
    expect(w('${EMPTY?}')).toBe('');
  });

  it('treats quotes and escapes as docker does', () => {
    expect(w("'$A'")).toBe('$A');
    expect(w('"$A"')).toBe('a');
    expect(w('"a b"')).toBe('a b');
    expect(w('\\$A')).toBe('$A');
    expect(w('"\\$A"')).toBe('$A');
    expect(w('"\\"q\\""')).toBe('"q"');
    expect(w('"a\\b"')).toBe('a\\b');
    expect(w('a\\ b')).toBe('a b');
    expect(w("'it''s' ok")).toBe('its ok');
    expect(w('$')).toBe('$');
    expect(w('a$-b')).toBe('a$-b');
    expect(w('100%')).toBe('100%');
  });

  it('uses the escape directive character', () => {
    expect(w('`$A', '`')).toBe('$A');
    expect(w('C:\\path', '`')).toBe('C:\\path');
  });

  it('reports syntax errors with an offset', () => {
    expect(() => w('"abc')).toThrow(/matching double-quote/);
    expect(() => w("'abc")).toThrow(/matching single-quote/);
    expect(() => w('${A')).toThrow(/missing '}'/);
    expect(() => w('${A:x}')).toThrow(/unsupported modifier \(:x\)/);
    expect(() => w('${}')).toThrow(/bad substitution/);
    try {
      w('ab"cd');
    } catch (e) {
      expect((e as LexError).offset).toBe(2);
    }
  });

  it('records the variables a word used', () => {
    expect(processWord('$A${B:-x}$A', vars).used.sort()).toEqual(['A', 'B']);
  });

  it('splits words keeping quotes', () => {
    expect(splitWords('a=1 b="x y" c=\'p q\' d=e\\ f').map((x) => x.word)).toEqual(['a=1', 'b="x y"', "c='p q'", 'd=e\\ f']);
    expect(splitWords('  x   y').map((x) => x.offset)).toEqual([2, 6]);
  });
});

describe('Dockerfile parser', () => {
  it('parses every instruction of the subset', () => {
    const df = parseDockerfile(
      [
        'ARG BASE=busybox',
        'FROM --platform=linux/amd64 $BASE AS build',
        'ARG A B=2',
        'ENV K=v K2="two words" K3=$A',
        'ENV LEGACY some value here',
        'LABEL a=b "c d"=e',
        'RUN echo hi',
        'RUN ["echo", "exec"]',
        'RUN --network=none true',
        'COPY --chown=1:2 --chmod=644 a b /dst/',
        'COPY --from=0 --link ["/x y", "/z"]',
        'ADD t.tar /',
        'WORKDIR /app',
        'USER nobody:nogroup',
        'EXPOSE 80 53/udp',
        'VOLUME /data /cache',
        'VOLUME ["/v"]',
        'STOPSIGNAL SIGINT',
        'HEALTHCHECK --interval=30s --timeout=1m30s --retries=3 CMD wget -q localhost',
        'SHELL ["/bin/sh", "-ec"]',
        'ONBUILD RUN echo triggered',
        'MAINTAINER Jane <jane@example.com>',
        'CMD ["sh"]',
        'ENTRYPOINT exec top',
        'FROM build',
        'HEALTHCHECK NONE',
      ].join('\n'),
    );
    expect(df.globalArgs).toHaveLength(1);
    expect(df.globalArgs[0]!.args).toEqual([{ name: 'BASE', default: 'busybox' }]);
    expect(df.stages).toHaveLength(2);
    const [s0, s1] = df.stages;
    expect(s0!.from).toMatchObject({ image: '$BASE', stageName: 'build', platform: 'linux/amd64', line: 2 });
    expect(s0!.name).toBe('build');
    const k = s0!.steps.map((s) => s.kind);
    expect(k).toEqual([
      'ARG',
      'ENV',
      'ENV',
      'LABEL',
      'RUN',
      'RUN',
      'RUN',
      'COPY',
      'COPY',
      'ADD',
      'WORKDIR',
      'USER',
      'EXPOSE',
      'VOLUME',
      'VOLUME',
      'STOPSIGNAL',
      'HEALTHCHECK',
      'SHELL',
      'ONBUILD',
      'MAINTAINER',
      'CMD',
      'ENTRYPOINT',
    ]);
    const st = s0!.steps;
    expect(st[0]).toMatchObject({
      args: [
        { name: 'A', default: undefined },
        { name: 'B', default: '2' },
      ],
    });
    expect(st[1]).toMatchObject({
      pairs: [
        { key: 'K', value: 'v' },
        { key: 'K2', value: '"two words"' },
        { key: 'K3', value: '$A' },
      ],
    });
    expect(st[2]).toMatchObject({ pairs: [{ key: 'LEGACY', value: 'some value here' }] });
    expect(st[3]).toMatchObject({
      pairs: [
        { key: 'a', value: 'b' },
        { key: '"c d"', value: 'e' },
      ],
    });
    expect(st[4]).toMatchObject({ command: { shell: 'echo hi' }, network: undefined });
    expect(st[5]).toMatchObject({ command: { exec: ['echo', 'exec'] } });
    expect(st[6]).toMatchObject({ command: { shell: 'true' }, network: 'none' });
    expect(st[7]).toMatchObject({ sources: ['a', 'b'], dest: '/dst/', chown: '1:2', chmod: '644', from: undefined, link: false });
    expect(st[8]).toMatchObject({ sources: ['/x y'], dest: '/z', from: '0', link: true });
    expect(st[9]).toMatchObject({ kind: 'ADD', sources: ['t.tar'], dest: '/' });
    expect(st[10]).toMatchObject({ path: '/app' });
    expect(st[11]).toMatchObject({ user: 'nobody:nogroup' });
    expect(st[12]).toMatchObject({ ports: ['80', '53/udp'] });
    expect(st[13]).toMatchObject({ paths: ['/data', '/cache'] });
    expect(st[14]).toMatchObject({ paths: ['/v'] });
    expect(st[15]).toMatchObject({ signal: 'SIGINT' });
    expect(st[16]).toMatchObject({
      test: ['CMD-SHELL', 'wget -q localhost'],
      interval: 30e9,
      timeout: 90e9,
      retries: 3,
      startPeriod: 0,
    });
    expect(st[17]).toMatchObject({ shell: ['/bin/sh', '-ec'] });
    expect(st[18]).toMatchObject({ trigger: 'RUN echo triggered', inner: { kind: 'RUN', command: { shell: 'echo triggered' } } });
    expect(st[19]).toMatchObject({ name: 'Jane <jane@example.com>' });
    expect(st[20]).toMatchObject({ command: { exec: ['sh'] } });
    expect(st[21]).toMatchObject({ command: { shell: 'exec top' } });
    expect(s1!.from.image).toBe('build');
    expect(s1!.steps[0]).toMatchObject({ kind: 'HEALTHCHECK', test: null });
  });

  it('keywords are case-insensitive; text keeps the arguments as written', () => {
    const [from, run] = steps('from busybox as B\nrun   echo  "a  b"');
    expect(from).toMatchObject({ kind: 'FROM', stageName: 'B' });
    expect(run).toMatchObject({ kind: 'RUN', text: 'RUN echo  "a  b"', command: { shell: 'echo  "a  b"' } });
  });

  it('joins continuations and skips comments and blank lines inside them', () => {
    const [, run, env] = steps('FROM scratch\nRUN echo a \\\n  # a comment\n\n    b \\\n c\nENV X=1');
    expect(run).toMatchObject({ line: 2, endLine: 6, command: { shell: 'echo a     b  c' } });
    expect(env).toMatchObject({ line: 7 });
  });

  it('a continuation at the end of the file ends the instruction', () => {
    const [, run] = steps('FROM scratch\nRUN echo a \\');
    expect(run).toMatchObject({ command: { shell: 'echo a' } });
  });

  it('honours parser directives at the top only', () => {
    const df = parseDockerfile('# syntax=docker/dockerfile:1\n# escape=`\nFROM scratch\nRUN dir c:\\ `\n  d');
    expect(df.escape).toBe('`');
    expect(df.syntax).toBe('docker/dockerfile:1');
    expect(df.stages[0]!.steps[0]).toMatchObject({ command: { shell: 'dir c:\\   d' } });
    // after an instruction it is a comment
    const late = parseDockerfile('FROM scratch\n# escape=`\nRUN a \\\n b');
    expect(late.escape).toBe('\\');
    // a blank line ends the directives
    expect(parseDockerfile('\n# escape=`\nFROM scratch').escape).toBe('\\');
    expect(parseError('# escape=x\nFROM scratch').message).toMatch(/^Dockerfile:1:1: invalid escape token/);
    expect(parseError('# escape=`\n# escape=\\\nFROM scratch').message).toMatch(/only one "escape"/);
  });

  it('reads heredocs for RUN, COPY and ADD', () => {
    const [, run, copy, run2, after] = steps(
      [
        'FROM busybox',
        'RUN <<EOF',
        'echo one',
        'echo $HOME',
        'EOF',
        'COPY <<"CONF" /etc/app.conf',
        'x=$notexpanded',
        'CONF',
        'RUN cat <<-A >/a && cat <<B >/b',
        '\t\tindented',
        '\tA',
        'plain',
        'B',
        'ENV Z=1',
      ].join('\n'),
    );
    expect(run).toMatchObject({ kind: 'RUN', heredocs: [{ name: 'EOF', content: 'echo one\necho $HOME\n', expand: true }] });
    expect(copy).toMatchObject({
      kind: 'COPY',
      sources: ['<<"CONF"'],
      dest: '/etc/app.conf',
      heredocs: [{ name: 'CONF', content: 'x=$notexpanded\n', expand: false }],
    });
    expect(run2).toMatchObject({
      heredocs: [
        { name: 'A', content: 'indented\n', chomp: true },
        { name: 'B', content: 'plain\n', chomp: false },
      ],
    });
    expect(after).toMatchObject({ kind: 'ENV', line: 14 });
    expect(parseError('FROM busybox\nRUN <<EOF\necho').message).toMatch(/^Dockerfile:2:1: unterminated heredoc/);
  });

  it('treats a JSON-looking shell command that is not valid JSON as shell form', () => {
    const [, cmd, cmd2] = steps('FROM scratch\nCMD [not json]\nCMD ["a", 1]');
    expect(cmd).toMatchObject({ command: { shell: '[not json]' } });
    expect(cmd2).toMatchObject({ command: { shell: '["a", 1]' } });
  });

  it('gives one error naming line and column for bad lines', () => {
    const cases: [string, RegExp][] = [
      ['FROM scratch\n  FOO bar', /^Dockerfile:2:3: unknown instruction: FOO$/],
      ['RUN echo', /^Dockerfile:1:1: RUN before the first FROM/],
      ['# only a comment', /no FROM instruction/],
      ['FROM a b', /^Dockerfile:1:6: FROM requires either one argument, or three/],
      ['FROM a AS b\nFROM c AS B', /^Dockerfile:2:1: duplicate stage name "B"/],
      ['FROM scratch\nCOPY onlyone', /^Dockerfile:2:6: COPY requires at least two arguments/],
      ['FROM scratch\nCOPY --bogus=1 a b', /^Dockerfile:2:6: unknown flag --bogus for COPY/],
      ['FROM scratch\nADD --from=x a b', /^Dockerfile:2:5: unknown flag --from for ADD/],
      ['FROM scratch\nENV', /^Dockerfile:2:4: ENV requires at least one argument/],
      ['FROM scratch\nENV A=1 B', /^Dockerfile:2:9: ENV needs KEY=VALUE, got "B"/],
      ['FROM scratch\nENV ONLYKEY', /ENV ONLYKEY needs a value/],
      ['FROM scratch\nSHELL /bin/sh -c', /^Dockerfile:2:7: SHELL requires the arguments to be in JSON form/],
      ['FROM scratch\nUSER a b', /^Dockerfile:2:6: USER requires exactly one argument/],
      ['FROM scratch\nHEALTHCHECK --interval=fast CMD true', /"fast" is not a duration/],
      ['FROM scratch\nHEALTHCHECK --interval=10us CMD true', /cannot be less than 1ms/],
      ['FROM scratch\nHEALTHCHECK NONE x', /HEALTHCHECK NONE takes no other/],
      ['FROM scratch\nHEALTHCHECK WHAT', /HEALTHCHECK type must be CMD or NONE/],
      ['FROM scratch\nONBUILD ONBUILD RUN x', /^Dockerfile:2:9: chaining ONBUILD/],
      ['FROM scratch\nONBUILD FROM x', /FROM isn't allowed as an ONBUILD trigger/],
      ['FROM scratch\nARG 1x', /^Dockerfile:2:5: invalid ARG name "1x"/],
      ['FROM scratch\nRUN --mount=type=cache,target=/x true', /RUN --mount is not supported/],
      ['FROM scratch\nRUN --network=bridge true', /RUN --network must be none, host or default/],
      ['FROM scratch\nCOPY --chmod=rwx a b', /--chmod must be octal/],
      ['FROM scratch\nCOPY --from a b', /flag --from needs a value/],
      ['FROM scratch\nCMD', /CMD requires a command/],
      ['FROM scratch\nEXPOSE', /EXPOSE requires at least one argument/],
      ['FROM scratch\nVOLUME [""]', /VOLUME specified can not be an empty string/],
    ];
    for (const [text, re] of cases) expect(parseError(text).message, text).toMatch(re);
    const e = parseError('FROM scratch\n\n\n   BAD x');
    expect([e.line, e.column]).toEqual([4, 4]);
    expect(e.exitCode).toBe(125);
  });

  it('names the file in errors', () => {
    expect(() => parseDockerfile('NOPE', { file: 'docker/Dockerfile.prod' })).toThrow(/^docker\/Dockerfile.prod:1:1:/);
  });

  it('stage indices and lower-cased names', () => {
    const df = parseDockerfile('FROM a AS One\nFROM b\nFROM One');
    expect(df.stages.map((s) => [s.index, s.name])).toEqual([
      [0, 'one'],
      [1, undefined],
      [2, undefined],
    ]);
  });

  it('parses Go durations', () => {
    expect(parseDuration('30s')).toBe(30e9);
    expect(parseDuration('1m30s')).toBe(90e9);
    expect(parseDuration('500ms')).toBe(5e8);
    expect(parseDuration('1.5h')).toBe(5400e9);
    expect(parseDuration('0')).toBe(0);
    expect(parseDuration('10')).toBeUndefined();
    expect(parseDuration('')).toBeUndefined();
  });

  it('parses a single instruction (ONBUILD triggers, commit -c)', () => {
    expect(parseInstruction('RUN echo x')).toMatchObject({ kind: 'RUN', command: { shell: 'echo x' } });
    expect(() => parseInstruction('BOGUS')).toThrow(/ONBUILD:1:1: unknown instruction/);
  });

  it('handles CRLF line ends and a BOM', () => {
    const [from, run] = steps('\uFEFFFROM scratch\r\nRUN a \\\r\n b\r\n');
    expect(from).toMatchObject({ kind: 'FROM', image: 'scratch' });
    expect(run).toMatchObject({ command: { shell: 'a  b' } });
  });
});
