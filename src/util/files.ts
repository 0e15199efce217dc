// Small file helpers every module may use.
import { readFileSync } from 'node:fs';

/** A text file's content, or `fallback` when it cannot be read (missing, gone, no permission). */
export function readTextOr(path: string, fallback = ''): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return fallback;
  }
}
