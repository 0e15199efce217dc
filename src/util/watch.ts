// Waiting cheaply for something to change on disk (a monitor writing exit.json, a log growing):
// resolves on the first change inside `dir`, after `ms`, or when `signal` aborts.
import { watch, type FSWatcher } from 'node:fs';

export function changeOrTimeout(dir: string, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    let w: FSWatcher | undefined;
    const done = () => {
      clearTimeout(timer);
      w?.close();
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    try {
      w = watch(dir, done);
      w.on('error', () => undefined);
    } catch {
      /* the directory does not exist (yet): the timer alone decides */
    }
    signal?.addEventListener('abort', done);
  });
}
