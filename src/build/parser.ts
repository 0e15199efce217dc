// The Dockerfile parser: text in, typed instructions out, no I/O. It follows docker's rules:
// parser directives (`# escape=`, `# syntax=`) only at the very top; comment lines anywhere
// (also inside a continuation); a line ending in the escape character continues on the next;
// heredocs for RUN, COPY and ADD; exec (JSON) or shell form. Anything it does not accept is
// one DockerfileError naming the line and column.
import { UsageError } from '../util/errors.js';
import { splitWords } from './lex.js';
import type {
  ArgInstruction,
  CommandForm,
  CopyInstruction,
  Dockerfile,
  FromInstruction,
  HealthcheckInstruction,
  Heredoc,
  Instruction,
  KeyValue,
  Position,
  Stage,
} from './instructions.js';

export class DockerfileError extends UsageError {
  readonly line: number;
  readonly column: number;
  constructor(file: string, line: number, column: number, message: string) {
    super(`${file}:${line}:${column}: ${message}`);
    this.line = line;
    this.column = column;
  }
}

/** One logical line: the keyword, its flags, the rest of the arguments, heredoc bodies. */
interface RawInstruction extends Position {
  keyword: string;
  /** Everything after the keyword, continuations joined. */
  rest: string;
  /** Column (1-based) where `rest` starts on the first line. */
  restColumn: number;
  heredocs: Heredoc[];
}

const KEYWORDS = new Set([
  'FROM',
  'ARG',
  'ENV',
  'LABEL',
  'RUN',
  'CMD',
  'ENTRYPOINT',
  'COPY',
  'ADD',
  'WORKDIR',
  'USER',
  'EXPOSE',
  'VOLUME',
  'STOPSIGNAL',
  'HEALTHCHECK',
  'SHELL',
  'ONBUILD',
  'MAINTAINER',
]);

const HEREDOC_KEYWORDS = new Set(['RUN', 'COPY', 'ADD']);
const HEREDOC_RE = /^<<(-?)(["']?)([A-Za-z_][A-Za-z0-9_]*)\2$/;
const DIRECTIVE_RE = /^#\s*([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(.*?)\s*$/;

export interface ParseOptions {
  /** The name errors give the file (default "Dockerfile"). */
  file?: string;
}

/** Parses a whole Dockerfile. */
export function parseDockerfile(text: string, opts: ParseOptions = {}): Dockerfile {
  const file = opts.file ?? 'Dockerfile';
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const fail = (line: number, column: number, msg: string): never => {
    throw new DockerfileError(file, line, column, msg);
  };

  // Parser directives: only before anything else; the first other line ends them.
  let escape = '\\';
  let syntax: string | undefined;
  let i = 0;
  const seen = new Set<string>();
  for (; i < lines.length; i++) {
    const m = DIRECTIVE_RE.exec(lines[i]!.trim());
    if (!m) break;
    const key = m[1]!.toLowerCase();
    if (seen.has(key)) fail(i + 1, 1, `only one "${key}" parser directive can be used`);
    seen.add(key);
    if (key === 'escape') {
      if (m[2] !== '\\' && m[2] !== '`') fail(i + 1, 1, `invalid escape token "${m[2]}": it must be \\ or \``);
      escape = m[2]!;
    } else if (key === 'syntax') {
      syntax = m[2];
    }
    // other directives (check=...) are accepted and ignored, as comments
  }

  const raws = splitInstructions(lines, i, escape, fail);
  const instructions: Instruction[] = raws.map((r) => toInstruction(r, escape, fail));

  const globalArgs: ArgInstruction[] = [];
  const stages: Stage[] = [];
  const names = new Set<string>();
  for (const ins of instructions) {
    if (ins.kind === 'FROM') {
      const name = ins.stageName?.toLowerCase();
      if (name !== undefined) {
        if (names.has(name)) fail(ins.line, ins.column, `duplicate stage name "${ins.stageName}"`);
        names.add(name);
      }
      stages.push({ from: ins, index: stages.length, name, steps: [] });
    } else if (stages.length === 0) {
      if (ins.kind !== 'ARG') fail(ins.line, ins.column, `${ins.kind} before the first FROM: only ARG may come before FROM`);
      globalArgs.push(ins as ArgInstruction);
    } else {
      stages[stages.length - 1]!.steps.push(ins);
    }
  }
  if (stages.length === 0) fail(Math.max(lines.length, 1), 1, 'the Dockerfile has no FROM instruction');
  return { escape, syntax, globalArgs, stages };
}

type Fail = (line: number, column: number, msg: string) => never;

function isComment(line: string): boolean {
  return line.trimStart().startsWith('#');
}

function endsWithEscape(line: string, escape: string): boolean {
  const t = line.replace(/[ \t]+$/, '');
  return t.endsWith(escape);
}

function splitInstructions(lines: string[], from: number, escape: string, fail: Fail): RawInstruction[] {
  const out: RawInstruction[] = [];
  let i = from;
  while (i < lines.length) {
    const first = lines[i]!;
    if (first.trim() === '' || isComment(first)) {
      i++;
      continue;
    }
    const line = i + 1;
    const column = first.length - first.trimStart().length + 1;
    let text = first.trimStart();
    i++;
    while (endsWithEscape(text, escape)) {
      text = text.replace(/[ \t]+$/, '').slice(0, -1);
      // comment and blank lines inside a continuation are skipped, as docker does
      while (i < lines.length && (isComment(lines[i]!) || lines[i]!.trim() === '')) i++;
      if (i >= lines.length) break;
      text += lines[i]!;
      i++;
    }
    const m = /^(\S+)(\s*)([\s\S]*)$/.exec(text)!;
    const keyword = m[1]!.toUpperCase();
    const rest = m[3]!.replace(/\s+$/, '');
    const restColumn = column + m[1]!.length + m[2]!.length;
    const heredocs: Heredoc[] = [];
    if (HEREDOC_KEYWORDS.has(keyword) || (keyword === 'ONBUILD' && /^\s*(RUN|COPY|ADD)\s/i.test(rest))) {
      for (const { word } of splitWords(rest, escape)) {
        const h = HEREDOC_RE.exec(word);
        if (!h) continue;
        const name = h[3]!;
        const chomp = h[1] === '-';
        const body: string[] = [];
        for (;;) {
          if (i >= lines.length) fail(line, column, `unterminated heredoc: no line "${name}" ends it`);
          let l = lines[i]!;
          i++;
          if (chomp) l = l.replace(/^\t+/, '');
          if (l === name) break;
          body.push(l);
        }
        heredocs.push({ name, content: body.map((b) => b + '\n').join(''), expand: h[2] === '', chomp });
      }
    }
    out.push({ keyword, rest, restColumn, heredocs, line, column, endLine: i });
  }
  return out;
}

interface Flags {
  values: Map<string, string | true>;
  /** The arguments after the flags. */
  rest: string;
  restColumn: number;
}

/** Splits leading `--name=value` / `--name` flags off, allowing only `allowed`. */
function parseFlags(r: RawInstruction, allowed: readonly string[], fail: Fail): Flags {
  const values = new Map<string, string | true>();
  let rest = r.rest;
  let col = r.restColumn;
  for (;;) {
    const m = /^--([A-Za-z][A-Za-z0-9-]*)(=(\S*))?(\s+|$)/.exec(rest);
    if (!m) break;
    const name = m[1]!;
    if (!allowed.includes(name)) {
      fail(
        r.line,
        col,
        `unknown flag --${name} for ${r.keyword}${allowed.length ? ` (known: ${allowed.map((a) => `--${a}`).join(', ')})` : ''}`,
      );
    }
    if (values.has(name)) fail(r.line, col, `duplicate flag --${name}`);
    values.set(name, m[2] === undefined ? true : m[3]!);
    rest = rest.slice(m[0].length);
    col += m[0].length;
  }
  return { values, rest, restColumn: col };
}

function stringFlag(f: Flags, name: string, r: RawInstruction, fail: Fail): string | undefined {
  const v = f.values.get(name);
  if (v === undefined) return undefined;
  if (v === true || v === '') fail(r.line, r.restColumn, `flag --${name} needs a value (--${name}=VALUE)`);
  return v as string;
}

function boolFlag(f: Flags, name: string, r: RawInstruction, fail: Fail): boolean {
  const v = f.values.get(name);
  if (v === undefined) return false;
  if (v === true || v === 'true') return true;
  if (v === 'false') return false;
  return fail(r.line, r.restColumn, `flag --${name} takes true or false, not "${v}"`);
}

/** A JSON array of strings, or undefined when `s` is not one (then it is shell form). */
function jsonArray(s: string): string[] | undefined {
  if (!s.startsWith('[')) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(s);
  } catch {
    return undefined;
  }
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) return undefined;
  return v as string[];
}

function commandForm(rest: string): CommandForm {
  return jsonArray(rest) !== undefined ? { exec: jsonArray(rest)! } : { shell: rest };
}

/** Whitespace-separated words, or the JSON array form. */
function wordList(rest: string): string[] {
  return jsonArray(rest) ?? rest.split(/\s+/).filter(Boolean);
}

function needArgs(r: RawInstruction, rest: string, fail: Fail, what = 'at least one argument'): void {
  if (rest.trim() === '') fail(r.line, r.restColumn, `${r.keyword} requires ${what}`);
}

/** ENV/LABEL pairs: `k=v k2="v 2"`, or the legacy `k v` form (one pair, the value is the rest). */
function keyValues(r: RawInstruction, rest: string, escape: string, fail: Fail): KeyValue[] {
  needArgs(r, rest, fail);
  const words = splitWords(rest, escape);
  if (!words[0]!.word.includes('=')) {
    // legacy form: the first word is the key, the rest of the line the value
    const key = words[0]!.word;
    const value = rest.slice(words[0]!.offset + key.length).trim();
    if (value === '' && r.keyword === 'ENV') fail(r.line, r.restColumn, `ENV ${key} needs a value (ENV ${key}=VALUE)`);
    return [{ key, value }];
  }
  return words.map(({ word, offset }) => {
    const eq = word.indexOf('=');
    if (eq <= 0) fail(r.line, r.restColumn + offset, `${r.keyword} needs KEY=VALUE, got "${word}"`);
    return { key: word.slice(0, eq), value: word.slice(eq + 1) };
  });
}

const DURATION_UNITS: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** A Go duration ("30s", "1m30s", "500ms") in nanoseconds. */
export function parseDuration(s: string): number | undefined {
  if (s === '0') return 0;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/y;
  let total = 0;
  let pos = 0;
  while (pos < s.length) {
    re.lastIndex = pos;
    const m = re.exec(s);
    if (!m) return undefined;
    total += Number(m[1]) * DURATION_UNITS[m[2]!]!;
    pos = re.lastIndex;
  }
  return pos === 0 ? undefined : Math.round(total);
}

function healthcheck(r: RawInstruction, fail: Fail): HealthcheckInstruction {
  const f = parseFlags(r, ['interval', 'timeout', 'start-period', 'start-interval', 'retries'], fail);
  const base = {
    kind: 'HEALTHCHECK' as const,
    line: r.line,
    column: r.column,
    endLine: r.endLine,
    text: `HEALTHCHECK ${r.rest}`,
  };
  const dur = (name: string): number => {
    const v = stringFlag(f, name, r, fail);
    if (v === undefined) return 0;
    const ns = parseDuration(v);
    if (ns === undefined) fail(r.line, r.restColumn, `--${name}: "${v}" is not a duration such as 30s or 1m30s`);
    if (ns! !== 0 && ns! < 1e6) fail(r.line, r.restColumn, `--${name} cannot be less than 1ms`);
    return ns!;
  };
  const m = /^(\S+)\s*([\s\S]*)$/.exec(f.rest);
  if (!m) return fail(r.line, f.restColumn, 'HEALTHCHECK requires NONE or CMD followed by a command');
  const type = m[1]!.toUpperCase();
  if (type === 'NONE') {
    if (m[2] !== '' || f.values.size > 0) fail(r.line, f.restColumn, 'HEALTHCHECK NONE takes no other arguments or flags');
    return { ...base, test: null, interval: 0, timeout: 0, startPeriod: 0, startInterval: 0, retries: 0 };
  }
  if (type !== 'CMD') fail(r.line, f.restColumn, `HEALTHCHECK type must be CMD or NONE, not "${m[1]}"`);
  if (m[2]!.trim() === '') fail(r.line, f.restColumn, 'HEALTHCHECK CMD requires a command');
  const cmd = commandForm(m[2]!);
  let retries = 0;
  const rv = stringFlag(f, 'retries', r, fail);
  if (rv !== undefined) {
    if (!/^\d+$/.test(rv)) fail(r.line, r.restColumn, `--retries must be a whole number, not "${rv}"`);
    retries = Number(rv);
  }
  return {
    ...base,
    test: 'exec' in cmd ? ['CMD', ...cmd.exec] : ['CMD-SHELL', cmd.shell],
    interval: dur('interval'),
    timeout: dur('timeout'),
    startPeriod: dur('start-period'),
    startInterval: dur('start-interval'),
    retries,
  };
}

function toInstruction(r: RawInstruction, escape: string, fail: Fail): Instruction {
  const base = { line: r.line, column: r.column, endLine: r.endLine, text: r.rest ? `${r.keyword} ${r.rest}` : r.keyword };
  if (!KEYWORDS.has(r.keyword)) fail(r.line, r.column, `unknown instruction: ${r.keyword}`);
  if (r.heredocs.length > 0 && !HEREDOC_KEYWORDS.has(r.keyword) && r.keyword !== 'ONBUILD') {
    fail(r.line, r.column, `${r.keyword} does not take heredocs`);
  }
  const noFlags = (): Flags => parseFlags(r, [], fail);
  switch (r.keyword) {
    case 'FROM': {
      const f = parseFlags(r, ['platform'], fail);
      const w = f.rest.split(/\s+/).filter(Boolean);
      if (w.length === 1)
        return { ...base, kind: 'FROM', image: w[0]!, stageName: undefined, platform: stringFlag(f, 'platform', r, fail) };
      if (w.length === 3 && w[1]!.toUpperCase() === 'AS') {
        if (!/^[A-Za-z][A-Za-z0-9_.-]*$/.test(w[2]!)) fail(r.line, f.restColumn, `invalid stage name "${w[2]}"`);
        return { ...base, kind: 'FROM', image: w[0]!, stageName: w[2]!, platform: stringFlag(f, 'platform', r, fail) };
      }
      return fail(r.line, f.restColumn, 'FROM requires either one argument, or three: FROM <image> [AS <name>]');
    }
    case 'ARG': {
      const f = noFlags();
      needArgs(r, f.rest, fail);
      const args = splitWords(f.rest, escape).map(({ word, offset }) => {
        const eq = word.indexOf('=');
        const name = eq < 0 ? word : word.slice(0, eq);
        if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) fail(r.line, f.restColumn + offset, `invalid ARG name "${name}"`);
        return { name, default: eq < 0 ? undefined : word.slice(eq + 1) };
      });
      return { ...base, kind: 'ARG', args };
    }
    case 'ENV':
    case 'LABEL': {
      const f = noFlags();
      return { ...base, kind: r.keyword, pairs: keyValues(r, f.rest, escape, fail) };
    }
    case 'RUN': {
      const f = parseFlags(r, ['network', 'mount', 'security'], fail);
      if (f.values.has('mount')) fail(r.line, r.restColumn, 'RUN --mount is not supported');
      if (f.values.has('security')) fail(r.line, r.restColumn, 'RUN --security is not supported');
      const net = stringFlag(f, 'network', r, fail);
      if (net !== undefined && net !== 'none' && net !== 'host' && net !== 'default') {
        fail(r.line, r.restColumn, `RUN --network must be none, host or default, not "${net}"`);
      }
      needArgs(r, f.rest, fail, 'a command');
      const command = commandForm(f.rest);
      if ('exec' in command && r.heredocs.length > 0) fail(r.line, f.restColumn, 'RUN in exec form cannot take heredocs');
      return { ...base, kind: 'RUN', command, heredocs: r.heredocs, network: net as 'none' | 'host' | 'default' | undefined };
    }
    case 'CMD':
    case 'ENTRYPOINT': {
      const f = noFlags();
      needArgs(r, f.rest, fail, 'a command');
      return { ...base, kind: r.keyword, command: commandForm(f.rest) };
    }
    case 'COPY':
    case 'ADD': {
      const f = parseFlags(r, r.keyword === 'COPY' ? ['from', 'chown', 'chmod', 'link'] : ['chown', 'chmod', 'link'], fail);
      const words = wordList(f.rest);
      if (words.length < 2)
        fail(r.line, f.restColumn, `${r.keyword} requires at least two arguments: a source and a destination`);
      const chmod = stringFlag(f, 'chmod', r, fail);
      if (chmod !== undefined && !/^[0-7]{3,4}$/.test(chmod))
        fail(r.line, r.restColumn, `--chmod must be octal such as 755, not "${chmod}"`);
      const ins: CopyInstruction = {
        ...base,
        kind: r.keyword,
        sources: words.slice(0, -1),
        dest: words[words.length - 1]!,
        from: stringFlag(f, 'from', r, fail),
        chown: stringFlag(f, 'chown', r, fail),
        chmod,
        link: boolFlag(f, 'link', r, fail),
        heredocs: r.heredocs,
      };
      return ins;
    }
    case 'WORKDIR':
    case 'USER':
    case 'STOPSIGNAL':
    case 'MAINTAINER': {
      const f = noFlags();
      needArgs(r, f.rest, fail, 'an argument');
      const words = f.rest.split(/\s+/);
      if (r.keyword === 'WORKDIR') return { ...base, kind: 'WORKDIR', path: f.rest };
      if (r.keyword === 'MAINTAINER') return { ...base, kind: 'MAINTAINER', name: f.rest };
      if (words.length > 1) fail(r.line, f.restColumn, `${r.keyword} requires exactly one argument`);
      if (r.keyword === 'USER') return { ...base, kind: 'USER', user: words[0]! };
      return { ...base, kind: 'STOPSIGNAL', signal: words[0]! };
    }
    case 'EXPOSE': {
      const f = noFlags();
      needArgs(r, f.rest, fail);
      return { ...base, kind: 'EXPOSE', ports: f.rest.split(/\s+/) };
    }
    case 'VOLUME': {
      const f = noFlags();
      needArgs(r, f.rest, fail);
      const paths = wordList(f.rest);
      if (paths.some((p) => p.trim() === '')) fail(r.line, f.restColumn, 'VOLUME specified can not be an empty string');
      return { ...base, kind: 'VOLUME', paths };
    }
    case 'HEALTHCHECK':
      return healthcheck(r, fail);
    case 'SHELL': {
      const f = noFlags();
      const shell = jsonArray(f.rest);
      if (shell === undefined || shell.length === 0)
        fail(r.line, f.restColumn, 'SHELL requires the arguments to be in JSON form, e.g. ["/bin/sh", "-c"]');
      return { ...base, kind: 'SHELL', shell: shell! };
    }
    case 'ONBUILD': {
      const f = noFlags();
      needArgs(r, f.rest, fail, 'an instruction');
      const m = /^(\S+)(\s*)([\s\S]*)$/.exec(f.rest)!;
      const kw = m[1]!.toUpperCase();
      if (kw === 'ONBUILD') fail(r.line, f.restColumn, "chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
      if (kw === 'FROM' || kw === 'MAINTAINER') fail(r.line, f.restColumn, `${kw} isn't allowed as an ONBUILD trigger`);
      const inner = toInstruction(
        { ...r, keyword: kw, rest: m[3]!, restColumn: f.restColumn + m[1]!.length + m[2]!.length, column: f.restColumn },
        escape,
        fail,
      );
      return { ...base, kind: 'ONBUILD', trigger: f.rest, inner };
    }
  }
  return fail(r.line, r.column, `unknown instruction: ${r.keyword}`);
}

/** Parses one instruction outside a Dockerfile (ONBUILD triggers of a base image, commit -c). */
export function parseInstruction(text: string, file = 'ONBUILD'): Instruction {
  const lines = text.split(/\r?\n/);
  const fail: Fail = (line, column, msg) => {
    throw new DockerfileError(file, line, column, msg);
  };
  const escape = '\\';
  const raws = splitInstructions(lines, 0, escape, fail);
  if (raws.length !== 1) fail(1, 1, 'expected exactly one instruction');
  return toInstruction(raws[0]!, escape, fail);
}

export type { FromInstruction };
