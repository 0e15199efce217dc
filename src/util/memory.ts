// Keeping RSS flat while hundreds of MB stream through. Every chunk of a stream is a Buffer
// whose JS handle is tiny, so V8 sees almost no heap growth and collects late: the chunks
// already passed on stay allocated outside the heap, and RSS climbs far above what is live
// (measured: ~1 GB peak for a 1 GB push; chunks that wait in a pipeline survive two scavenges
// and are promoted, so only a full collection frees them). After every 32 MiB streamed a full
// collection (a few milliseconds: the JS heap itself stays ~10 MB) releases them.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

type Gc = (opts?: { type?: 'major' | 'minor' }) => void;
const EVERY = 32 * 1024 * 1024;
let gc: Gc | null | undefined;
let since = 0;

function collector(): Gc | null {
  try {
    setFlagsFromString('--expose_gc');
    const fn: unknown = runInNewContext('gc');
    return typeof fn === 'function' ? (fn as Gc) : null;
  } catch {
    return null;
  }
}

/** Counts `bytes` as streamed; collects garbage every 32 MiB. */
export function streamed(bytes: number): void {
  since += bytes;
  if (since < EVERY) return;
  since = 0;
  gc ??= collector();
  gc?.();
}
