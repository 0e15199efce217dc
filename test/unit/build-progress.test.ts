// The build progress renderer: TTY frames as strings (running steps with timers and the last
// output lines, finished lines, the redraw sequence), and the plain/tty/quiet writers over a
// fake stream.
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import {
  makeProgress,
  progressMode,
  redraw,
  renderFinished,
  renderLive,
  seconds,
  TAIL_LINES,
  type Progress,
} from '../../src/build/progress.js';

// eslint-disable-next-line no-control-regex
const plain = (s: string) => s.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '');

function sink(columns = 80): NodeJS.WritableStream & { columns: number; text: () => string } {
  let out = '';
  const w = new Writable({
    write(chunk: Buffer | string, _enc, cb) {
      out += chunk.toString();
      cb();
    },
  }) as Writable & { columns: number; text: () => string };
  w.columns = columns;
  w.text = () => out;
  return w;
}

function write(p: Progress, s: string): Promise<void> {
  return new Promise((res) => p.output.write(s, () => res()));
}

describe('progressMode', () => {
  it('auto is tty on a terminal and plain elsewhere; -q and quiet win', () => {
    expect(progressMode(undefined, false, true)).toBe('tty');
    expect(progressMode('auto', false, false)).toBe('plain');
    expect(progressMode('plain', false, true)).toBe('plain');
    expect(progressMode('tty', false, false)).toBe('tty');
    expect(progressMode('quiet', false, true)).toBe('quiet');
    expect(progressMode('tty', true, true)).toBe('quiet');
  });
});

describe('the TTY renderer', () => {
  it('shows each running step with its elapsed time and its last output lines', () => {
    const tail = Array.from({ length: 8 }, (_, i) => `line ${i}`);
    const frame = renderLive(
      [
        { label: '[2/7]', text: 'RUN make', started: 1000, tail },
        { label: '[b 1/2]', text: 'FROM busybox', started: 2500, tail: [] },
      ],
      3200,
      80,
    ).map(plain);
    expect(frame).toEqual(['[2/7] RUN make 2.2s', ...tail.slice(-TAIL_LINES).map((l) => `=> ${l}`), '[b 1/2] FROM busybox 0.7s']);
  });

  it('fits long lines to the terminal width, timer included', () => {
    const [head] = renderLive([{ label: '[1/1]', text: 'RUN ' + 'x'.repeat(200), started: 0, tail: [] }], 1500, 40).map(plain);
    expect(head!.length).toBeLessThan(40);
    expect(head).toMatch(/^\[1\/1\] RUN x+\.\.\. 1\.5s$/);
  });

  it('prints finished steps as DONE with a time, CACHED, or ERROR', () => {
    expect(plain(renderFinished('[2/7]', 'RUN make', { state: 'done', ms: 1234 }, 80))).toBe('[2/7] RUN make DONE 1.2s');
    expect(plain(renderFinished('[3/7]', 'COPY . /src', { state: 'cached' }, 80))).toBe('[3/7] CACHED COPY . /src');
    expect(plain(renderFinished('[4/7]', '', { state: 'error', message: 'exit code 2' }, 80))).toBe('[4/7] ERROR: exit code 2');
    expect(seconds(-5)).toBe('0.0s');
  });

  it('redraws in place: up over the old live area, clear, then kept lines and the new live area', () => {
    expect(redraw(0, [], ['a'])).toBe('\r\x1b[Ja\n');
    expect(redraw(3, ['[1/2] FROM busybox DONE 0.0s'], ['b', 'c'])).toBe('\x1b[3F\x1b[J[1/2] FROM busybox DONE 0.0s\nb\nc\n');
  });
});

describe('the writers', () => {
  it('tty: a step redrawn with its output, then DONE; FROM ends when its stage moves on', async () => {
    const err = sink();
    const p = makeProgress(err, 'tty');
    p.step('[1/3]', 'FROM busybox');
    p.step('[2/3]', 'RUN make');
    await write(p, 'compiling a\ncompiling \x1b[1mb\x1b[0m\npartial');
    p.done('[2/3]', 1500);
    p.cached('[3/3]', 'CMD ["sh"]');
    p.note('writing image sha256:abc done');
    p.end();
    const out = err.text();
    expect(out).toContain('\x1b[J');
    expect(out).toMatch(/\x1b\[\d+F/);
    const s = plain(out);
    expect(s).toMatch(/\[1\/3\] FROM busybox DONE \d+\.\ds/);
    expect(s).toContain('=> compiling b');
    expect(s).toContain('=> partial');
    expect(s).toContain('[2/3] RUN make DONE 1.5s');
    expect(s).toContain('[3/3] CACHED CMD ["sh"]');
    expect(s.trimEnd().endsWith('writing image sha256:abc done')).toBe(true);
  });

  it('tty: a failing step prints its whole output, not just the last lines', async () => {
    const err = sink();
    const p = makeProgress(err, 'tty');
    p.step('[2/2]', 'RUN build');
    await write(p, Array.from({ length: 20 }, (_, i) => `out ${i}\n`).join(''));
    p.failed('[2/2]', 'process "/bin/sh -c build" did not complete successfully: exit code: 3');
    p.end();
    const s = plain(err.text());
    for (let i = 0; i < 20; i++) expect(s).toContain(`out ${i}\n`);
    expect(s).toContain('[2/2] ERROR: process "/bin/sh -c build" did not complete successfully: exit code: 3');
  });

  it('tty: a terminal that reports no width (0 columns) is taken as 80 wide', () => {
    const err = sink(0);
    const p = makeProgress(err, 'tty');
    p.step('[1/1]', 'RUN echo a fairly long command line');
    p.done('[1/1]', 100);
    expect(plain(err.text())).toContain('[1/1] RUN echo a fairly long command line DONE 0.1s');
  });

  it('plain: lines as BuildKit prints them, no cursor movement', async () => {
    const err = sink();
    const p = makeProgress(err, 'plain');
    p.step('[1/2]', 'RUN echo hi');
    await write(p, 'hi\n');
    p.done('[1/2]', 300);
    p.cached('[2/2]', 'CMD x');
    p.end();
    expect(err.text()).toBe('[1/2] RUN echo hi\nhi\n[1/2] DONE 0.3s\n[2/2] CACHED CMD x\n');
  });

  it('quiet: nothing unless a step fails, then its output and the error', async () => {
    const err = sink();
    const p = makeProgress(err, 'quiet');
    p.step('[1/1]', 'RUN false');
    await write(p, 'oops\n');
    p.note('x');
    p.failed('[1/1]', 'exit code: 1');
    expect(err.text()).toBe('oops\n[1/1] ERROR: exit code: 1\n');
  });
});
