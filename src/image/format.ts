// A small subset of Go's text/template as docker's --format uses it: `{{.Field}}`,
// `{{.A.B}}`, `{{json .}}`, `{{json .Field}}`, `{{upper .F}}`/`{{lower .F}}`, and `\t` `\n`
// escapes. `table ...` prints a header row first (the field names).
import { UsageError } from '../util/errors.js';

function pick(obj: unknown, path: string): unknown {
  if (path === '.' || path === '') return obj;
  let v: unknown = obj;
  for (const part of path.replace(/^\./, '').split('.')) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[part];
  }
  return v;
}

function show(v: unknown): string {
  if (v === undefined || v === null) return '<no value>';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `[${v.map(show).join(' ')}]`;
  return `map[${Object.entries(v as Record<string, unknown>)
    .map(([k, x]) => `${k}:${show(x)}`)
    .join(' ')}]`;
}

/** Renders `tpl` for one value. */
export function renderTemplate(tpl: string, value: unknown): string {
  const unescaped = tpl.replace(/\\t/g, '\t').replace(/\\n/g, '\n');
  return unescaped.replace(/\{\{\s*(.*?)\s*\}\}/g, (_m, expr: string) => {
    const fn = /^(json|upper|lower|println)\s+(\S+)$/.exec(expr);
    if (fn) {
      const v = pick(value, fn[2]!);
      switch (fn[1]) {
        case 'json':
          return JSON.stringify(v ?? null);
        case 'upper':
          return show(v).toUpperCase();
        case 'lower':
          return show(v).toLowerCase();
        default:
          return `${show(v)}\n`;
      }
    }
    if (!/^\.[\w.]*$/.test(expr)) throw new UsageError(`template: unsupported expression "{{${expr}}}"`);
    return show(pick(value, expr));
  });
}

/** Header cells of a `table` template: each `{{.Field}}` becomes FIELD. */
export function templateHeader(tpl: string): string {
  return tpl
    .replace(/\\t/g, '\t')
    .replace(/\\n/g, '\n')
    .replace(/\{\{\s*(?:\w+\s+)?\.([\w.]*)\s*\}\}/g, (_m, f: string) =>
      f === '' ? '' : f.replace(/([a-z])([A-Z])/g, '$1 $2').toUpperCase(),
    );
}
