// .dockerignore, with docker's pattern rules (moby/patternmatcher): one pattern a line, `#`
// comments, `!` re-includes, paths relative to the context root (a leading `/` is dropped),
// `*` and `?` within one path element, `[...]` classes, `**` any number of elements, and a
// pattern that matches a directory excludes everything below it. The last matching pattern
// wins. Pure.
import { posix } from 'node:path';

interface Pattern {
  re: RegExp;
  exclusion: boolean;
}

function cleanPattern(p: string): string {
  let c = posix.normalize(p);
  while (c.startsWith('/')) c = c.slice(1);
  if (c === '.' || c === '') return '';
  return c.replace(/\/+$/, '');
}

/** Converts one pattern to a regular expression over slash-separated relative paths. */
export function patternToRegExp(pattern: string): RegExp {
  let re = '^';
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (ch === '*') {
      if (pattern[i + 1] === '*') {
        i++;
        if (pattern[i + 1] === '/') {
          i++;
          re += '(?:.*/)?';
        } else {
          re += '.*';
        }
      } else {
        re += '[^/]*';
      }
    } else if (ch === '?') {
      re += '[^/]';
    } else if (ch === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end < 0) {
        re += '\\[';
        continue;
      }
      let cls = pattern.slice(i + 1, end);
      if (cls.startsWith('!') || cls.startsWith('^')) cls = '^' + cls.slice(1);
      re += '[' + cls.replace(/\\/g, '\\\\') + ']';
      i = end;
    } else if (ch === '\\' && i + 1 < pattern.length) {
      i++;
      re += pattern[i]!.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    } else {
      re += ch.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    }
  }
  return new RegExp(re + '$');
}

export class IgnoreMatcher {
  private readonly patterns: Pattern[];

  constructor(lines: readonly string[]) {
    this.patterns = [];
    for (const raw of lines) {
      let l = raw.trim();
      if (l === '' || l.startsWith('#')) continue;
      let exclusion = false;
      if (l.startsWith('!')) {
        exclusion = true;
        l = l.slice(1).trim();
      }
      const c = cleanPattern(l);
      if (c === '') continue;
      this.patterns.push({ re: patternToRegExp(c), exclusion });
    }
  }

  static parse(text: string): IgnoreMatcher {
    return new IgnoreMatcher(text.split(/\r?\n/));
  }

  get empty(): boolean {
    return this.patterns.length === 0;
  }

  /** True when some `!` pattern exists: an excluded directory may still hold included files. */
  get hasExclusions(): boolean {
    return this.patterns.some((p) => p.exclusion);
  }

  /** Is the context path `rel` ("a/b/c", no leading slash) left out? */
  ignored(rel: string): boolean {
    const parts = rel.split('/').filter(Boolean);
    const prefixes: string[] = [];
    for (let i = 1; i <= parts.length; i++) prefixes.push(parts.slice(0, i).join('/'));
    let out = false;
    for (const p of this.patterns) {
      // a pattern matching the path itself or one of its parent directories
      const hit = prefixes.some((x) => p.re.test(x));
      if (hit) out = !p.exclusion;
    }
    return out;
  }
}
