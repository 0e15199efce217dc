// Build progress as BuildKit prints it. Plain (not a terminal, or --progress plain): `[2/7] RUN
// make`, the step's output, then `[2/7] DONE 1.2s` or `[2/7] CACHED`. TTY (a terminal with
// --progress auto, or --progress tty): the running steps stay at the bottom of the screen, each
// with a live elapsed timer and the last lines of its output under it, redrawn in place with ANSI
// cursor movement; a finished step is printed once, for good, as `[2/7] RUN make DONE 1.2s`, and a
// failing step's whole output is printed before its error. Quiet (-q) keeps a step's output and
// shows it only when the step fails. The renderer (renderLive, renderFinished, redraw) is pure.
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
  /** The build is over: stop redrawing. */
  end(): void;
}

export type ProgressMode = 'plain' | 'tty' | 'quiet';

/** The mode --progress asks for; auto is tty on a terminal, plain otherwise. -q wins. */
export function progressMode(flag: string | undefined, quiet: boolean, isTTY: boolean): ProgressMode {
  if (quiet || flag === 'quiet') return 'quiet';
  if (flag === 'plain') return 'plain';
  if (flag === 'tty') return 'tty';
  return isTTY ? 'tty' : 'plain';
}

export function makeProgress(err: NodeJS.WritableStream & { columns?: number }, mode: ProgressMode): Progress {
  return mode === 'tty'
    ? new TtyProgress(err, () => (err.columns !== undefined && err.columns > 0 ? err.columns : 80))
    : plainProgress(err, mode === 'quiet');
}

function plainProgress(err: NodeJS.WritableStream, quiet: boolean): Progress {
  const kept = new Kept();
  const output = new Writable({
    write(chunk: Buffer, _enc, cb) {
      if (quiet) {
        kept.push(chunk);
        cb();
      } else {
        err.write(chunk, () => cb());
      }
    },
  });
  return {
    output,
    step(label, text) {
      kept.clear();
      if (!quiet) err.write(`${label} ${oneLine(text)}\n`);
    },
    cached(label, text) {
      if (!quiet) err.write(`${label} CACHED ${oneLine(text)}\n`);
    },
    done(label, ms) {
      if (!quiet) err.write(`${label} DONE ${seconds(ms)}\n`);
    },
    failed(label, message) {
      if (quiet) for (const b of kept.chunks) err.write(b);
      err.write(`${label} ERROR: ${message}\n`);
    },
    note(text) {
      if (!quiet) err.write(`${text}\n`);
    },
    end() {},
  };
}

/** The last MiB a step printed. */
class Kept {
  chunks: Buffer[] = [];
  private bytes = 0;
  push(b: Buffer): void {
    this.chunks.push(b);
    this.bytes += b.length;
    while (this.bytes > 1 << 20 && this.chunks.length > 1) this.bytes -= this.chunks.shift()!.length;
  }
  clear(): void {
    this.chunks = [];
    this.bytes = 0;
  }
}

// ---- the pure renderer ----

/** A running step as the TTY view shows it. */
export interface RunningStep {
  label: string;
  text: string;
  started: number;
  /** Its last output lines (at most TAIL_LINES shown). */
  tail: string[];
}

export const TAIL_LINES = 5;
const DIM = '\x1b[2m';
const BLUE = '\x1b[34m';
const RED = '\x1b[31m';
const RESET = '\x1b[0m';

export function seconds(ms: number): string {
  return `${(Math.max(0, ms) / 1000).toFixed(1)}s`;
}

function fit(s: string, cols: number): string {
  const w = Math.max(20, cols - 1);
  return s.length > w ? s.slice(0, w - 3) + '...' : s;
}

/** The live part of the screen: each running step with its timer and its last output lines. */
export function renderLive(steps: readonly RunningStep[], now: number, cols: number): string[] {
  const out: string[] = [];
  for (const s of steps) {
    const time = seconds(now - s.started);
    const head = fit(`${s.label} ${oneLine(s.text)}`, cols - time.length - 1);
    out.push(`${BLUE}${head}${RESET} ${time}`);
    for (const l of s.tail.slice(-TAIL_LINES)) out.push(`${DIM}${fit(`=> ${l}`, cols)}${RESET}`);
  }
  return out;
}

/** The line a finished step leaves for good. */
export function renderFinished(
  label: string,
  text: string,
  how: { state: 'done'; ms: number } | { state: 'cached' } | { state: 'error'; message: string },
  cols: number,
): string {
  if (how.state === 'cached') return `${label} CACHED ${fit(oneLine(text), cols - label.length - 8)}`;
  if (how.state === 'done') {
    const t = seconds(how.ms);
    return `${fit(`${label} ${oneLine(text)}`, cols - t.length - 6)} DONE ${t}`;
  }
  return `${RED}${label} ERROR: ${how.message}${RESET}`;
}

/** What to write to replace a live area of `prevLines` lines by `printed` (kept) then `live`. */
export function redraw(prevLines: number, printed: readonly string[], live: readonly string[]): string {
  let s = prevLines > 0 ? `\x1b[${prevLines}F` : '\r';
  s += '\x1b[J';
  for (const l of [...printed, ...live]) s += `${l}\n`;
  return s;
}

// ---- the thin writer ----

class TtyProgress implements Progress {
  readonly output: Writable;
  private running: (RunningStep & { kept: Kept; partial: string })[] = [];
  private liveLines = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly err: NodeJS.WritableStream,
    private readonly cols: () => number,
  ) {
    this.output = new Writable({
      write: (chunk: Buffer, _enc, cb) => {
        // concurrent stages share one stream: the output belongs to the step started last
        const s = this.running.at(-1);
        if (s) {
          s.kept.push(chunk);
          const lines = (s.partial + chunk.toString('utf8')).split(/\r?\n|\r/);
          s.partial = lines.pop() ?? '';
          s.tail.push(...lines.map(printable).filter((l) => l.trim() !== ''));
          s.tail.splice(0, Math.max(0, s.tail.length - TAIL_LINES));
          this.draw([]);
        }
        cb();
      },
    });
  }

  private draw(printed: string[]): void {
    const now = Date.now();
    if (printed.length === 0 && this.running.length === 0 && this.liveLines === 0) return;
    const live = renderLive(
      this.running.map((s) => (printable(s.partial).trim() !== '' ? { ...s, tail: [...s.tail, printable(s.partial)] } : s)),
      now,
      this.cols(),
    );
    this.err.write(redraw(this.liveLines, printed, live));
    this.liveLines = live.length;
    if (this.running.length > 0 && this.timer === undefined) {
      this.timer = setInterval(() => this.draw([]), 100);
      this.timer.unref();
    } else if (this.running.length === 0 && this.timer !== undefined) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  private take(label: string): (RunningStep & { kept: Kept }) | undefined {
    const i = this.running.findIndex((s) => s.label === label);
    return i < 0 ? undefined : this.running.splice(i, 1)[0];
  }

  /** Steps that never report done (FROM) end when the next step of their stage starts. */
  private settle(label: string, now: number): string[] {
    const key = stageKey(label);
    const ended = this.running.filter((s) => stageKey(s.label) === key);
    this.running = this.running.filter((s) => stageKey(s.label) !== key);
    return ended.map((s) => renderFinished(s.label, s.text, { state: 'done', ms: now - s.started }, this.cols()));
  }

  step(label: string, text: string): void {
    const now = Date.now();
    const printed = this.settle(label, now);
    this.running.push({ label, text, started: now, tail: [], kept: new Kept(), partial: '' });
    this.draw(printed);
  }

  cached(label: string, text: string): void {
    const printed = this.settle(label, Date.now());
    this.draw([...printed, renderFinished(label, text, { state: 'cached' }, this.cols())]);
  }

  done(label: string, ms: number): void {
    const s = this.take(label);
    this.draw([renderFinished(label, s?.text ?? '', { state: 'done', ms }, this.cols())]);
  }

  failed(label: string, message: string): void {
    const s = this.take(label);
    const printed: string[] = [];
    if (s) {
      printed.push(`${s.label} ${oneLine(s.text)}`);
      const all = Buffer.concat(s.kept.chunks).toString('utf8').replace(/\n$/, '');
      if (all !== '') printed.push(...all.split('\n'));
    }
    printed.push(renderFinished(label, '', { state: 'error', message }, this.cols()));
    this.draw(printed);
  }

  note(text: string): void {
    this.draw([text]);
  }

  end(): void {
    const now = Date.now();
    const printed = this.running.map((s) => renderFinished(s.label, s.text, { state: 'done', ms: now - s.started }, this.cols()));
    this.running = [];
    this.draw(printed);
  }
}

/** An output line without the control characters (colours, cursor moves) it may carry. */
function printable(l: string): string {
  return l
    .replace(/\x1b\[[0-9;?]*[ -\/]*[@-~]/g, '')
    .replace(/\t/g, ' ')
    .replace(/[\x00-\x1f\x7f]/g, '');
}

function stageKey(label: string): string {
  return label.replace(/\s?\d+\/\d+\].*$/, '');
}

function oneLine(s: string): string {
  const l = s.replace(/\s*\n\s*/g, ' ');
  return l.length > 200 ? l.slice(0, 197) + '...' : l;
}
