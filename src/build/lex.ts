// Docker's word processing for the instructions it substitutes (FROM, ARG, ENV, LABEL, COPY,
// ADD, WORKDIR, USER, EXPOSE, VOLUME, STOPSIGNAL): quote removal, the escape character, and
// `$V`, `${V}`, `${V:-d}`, `${V-d}`, `${V:+x}`, `${V+x}`, `${V:?msg}`, `${V?msg}`. Pure.
//
//  * 'single quotes' keep everything literally;
//  * "double quotes" expand variables; the escape character only escapes `"`, `$` and itself;
//  * outside quotes the escape character makes the next character literal (and is dropped);
//  * `$` not followed by a name or `{` is a literal `$`.

export type Lookup = (name: string) => string | undefined;

export class LexError extends Error {
  override readonly name = 'LexError';
  /** 0-based offset in the word where the problem is. */
  readonly offset: number;
  constructor(message: string, offset: number) {
    super(message);
    this.offset = offset;
  }
}

export interface Processed {
  value: string;
  /** Names of variables the word referred to (set or not), for the build cache key. */
  used: string[];
}

const NAME_START = /[A-Za-z_]/;
const NAME_CHAR = /[A-Za-z0-9_]/;

class Scanner {
  pos = 0;
  readonly used = new Set<string>();
  constructor(
    readonly s: string,
    readonly env: Lookup,
    readonly escape: string,
  ) {}
  peek(): string | undefined {
    return this.s[this.pos];
  }
  next(): string | undefined {
    return this.s[this.pos++];
  }
  eof(): boolean {
    return this.pos >= this.s.length;
  }

  /** Reads until `stop` (not consumed) or the end; outside any quotes. */
  word(stop?: string): string {
    let out = '';
    while (!this.eof()) {
      const ch = this.peek()!;
      if (stop !== undefined && ch === stop) break;
      if (ch === "'") {
        out += this.single();
      } else if (ch === '"') {
        out += this.double();
      } else if (ch === '$') {
        out += this.dollar();
      } else if (ch === this.escape) {
        this.next();
        const n = this.next();
        if (n !== undefined) out += n;
      } else {
        out += this.next();
      }
    }
    return out;
  }

  single(): string {
    const start = this.pos;
    this.next();
    let out = '';
    for (;;) {
      const ch = this.next();
      if (ch === undefined) throw new LexError('unexpected end of statement while looking for matching single-quote', start);
      if (ch === "'") return out;
      out += ch;
    }
  }

  double(): string {
    const start = this.pos;
    this.next();
    let out = '';
    for (;;) {
      const ch = this.peek();
      if (ch === undefined) throw new LexError('unexpected end of statement while looking for matching double-quote', start);
      if (ch === '"') {
        this.next();
        return out;
      }
      if (ch === '$') {
        out += this.dollar();
      } else if (ch === this.escape) {
        this.next();
        const n = this.peek();
        if (n === '"' || n === '$' || n === this.escape) {
          out += n;
          this.next();
        } else {
          out += this.escape;
        }
      } else {
        out += ch;
        this.next();
      }
    }
  }

  name(): string {
    let n = '';
    while (!this.eof() && NAME_CHAR.test(this.peek()!)) n += this.next();
    return n;
  }

  lookup(name: string): string | undefined {
    this.used.add(name);
    return this.env(name);
  }

  dollar(): string {
    const start = this.pos;
    this.next(); // $
    const ch = this.peek();
    if (ch === '{') {
      this.next();
      const name = this.name();
      if (name === '') throw new LexError('bad substitution: a variable name must follow "${"', start);
      const c = this.peek();
      if (c === '}') {
        this.next();
        return this.lookup(name) ?? '';
      }
      if (c === undefined) throw new LexError(`missing '}' in the substitution of ${name}`, start);
      let colon = false;
      if (c === ':') {
        colon = true;
        this.next();
      }
      const op = this.next();
      if (op !== '-' && op !== '+' && op !== '?') {
        throw new LexError(`unsupported modifier (${colon ? ':' : ''}${op ?? ''}) in the substitution of ${name}`, start);
      }
      const word = this.word('}');
      if (this.next() !== '}') throw new LexError(`missing '}' in the substitution of ${name}`, start);
      const v = this.lookup(name);
      const set = colon ? v !== undefined && v !== '' : v !== undefined;
      if (op === '-') return set ? v! : word;
      if (op === '+') return set ? word : '';
      if (!set) throw new LexError(`${name}: ${word || 'is not allowed to be unset'}`, start);
      return v!;
    }
    if (ch !== undefined && NAME_START.test(ch)) return this.lookup(this.name()) ?? '';
    return '$';
  }
}

/** Processes one word (quotes, escapes, variables). Throws LexError on bad syntax. */
export function processWord(word: string, env: Lookup, escape = '\\'): Processed {
  const sc = new Scanner(word, env, escape);
  const value = sc.word();
  return { value, used: [...sc.used] };
}

/**
 * Splits a string into words at unquoted, unescaped white space, keeping quotes and escapes in
 * each word (docker's parseWords, used for `ENV a=1 b="x y"` and `ARG a b`).
 */
export function splitWords(s: string, escape = '\\'): { word: string; offset: number }[] {
  const out: { word: string; offset: number }[] = [];
  let cur = '';
  let start = -1;
  let quote: string | undefined;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    if (quote === undefined && /\s/.test(ch)) {
      if (start >= 0) out.push({ word: cur, offset: start });
      cur = '';
      start = -1;
      continue;
    }
    if (start < 0) start = i;
    if (ch === escape && quote !== "'" && i + 1 < s.length) {
      cur += ch + s[i + 1];
      i++;
      continue;
    }
    if (quote === undefined && (ch === '"' || ch === "'")) quote = ch;
    else if (ch === quote) quote = undefined;
    cur += ch;
  }
  if (start >= 0) out.push({ word: cur, offset: start });
  return out;
}
