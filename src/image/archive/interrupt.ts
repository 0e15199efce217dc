// Ctrl-C (SIGINT) and SIGTERM during a load or pull: instead of dying with half-written
// directories, the work in progress is cancelled so its clean-up runs (layers already committed
// stay, for the next pull to reuse), and the command exits 130 as docker does.
import { TscError } from '../../util/errors.js';

export class InterruptedError extends TscError {
  override readonly name = 'InterruptedError';
  constructor() {
    super('interrupted', 130);
  }
}

/** Runs `fn` with a signal that aborts on SIGINT/SIGTERM; the handlers are removed afterwards. */
export async function interruptible<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ac = new AbortController();
  const onSignal = () => ac.abort(new InterruptedError());
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await fn(ac.signal);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
