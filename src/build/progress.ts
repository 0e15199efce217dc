// Build progress as BuildKit's plain output: `[2/7] RUN make`, the step's output, then
// `[2/7] DONE 1.2s` or `[2/7] CACHED`. Quiet (-q) keeps a step's output and shows it only when
// the step fails.
import { Writable } from 'node:stream';

export interface Progress {
  step(label: string, text: string): void;
  cached(label: string, text: string): void;
  done(label: string, ms: number): void;
  /** Where a running step's output goes. */
  readonly output: Writable;
  /** A step failed: a quiet build now shows what it printed. */
  failed(label: string, message: string): void;
  note(text: string): void;
}

export function makeProgress(err: NodeJS.WritableStream, quiet: boolean): Progress {
  let kept: Buffer[] = [];
  let keptBytes = 0;
  const KEEP = 1 << 20;
  const output = new Writable({
    write(chunk: Buffer, _enc, cb) {
      if (quiet) {
        kept.push(chunk);
        keptBytes += chunk.length;
        while (keptBytes > KEEP && kept.length > 1) keptBytes -= kept.shift()!.length;
        cb();
      } else {
        err.write(chunk, () => cb());
      }
    },
  });
  return {
    output,
    step(label, text) {
      kept = [];
      keptBytes = 0;
      if (!quiet) err.write(`${label} ${oneLine(text)}\n`);
    },
    cached(label, text) {
      if (!quiet) err.write(`${label} CACHED ${oneLine(text)}\n`);
    },
    done(label, ms) {
      if (!quiet) err.write(`${label} DONE ${(ms / 1000).toFixed(1)}s\n`);
    },
    failed(label, message) {
      if (quiet) for (const b of kept) err.write(b);
      err.write(`${label} ERROR: ${message}\n`);
    },
    note(text) {
      if (!quiet) err.write(`${text}\n`);
    },
  };
}

function oneLine(s: string): string {
  const l = s.replace(/\s*\n\s*/g, ' ');
  return l.length > 200 ? l.slice(0, 197) + '...' : l;
}
