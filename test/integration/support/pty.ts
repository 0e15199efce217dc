// A real pseudo-terminal for tests, without a native npm module: a short python3 program
// (pty.fork) runs the command on the slave side and relays the master to its own stdio.
// Commands to the driver arrive as JSON lines on its stdin: {"w": "text"} types text,
// {"resize": [rows, cols]} sets the window size on the master (the kernel then sends SIGWINCH
// to the terminal's foreground process group, as a terminal emulator does).
import { spawn, type ChildProcess } from 'node:child_process';
import { scaled } from './cli.js';

const DRIVER = String.raw`
import fcntl, json, os, pty, select, struct, sys, termios
rows, cols = int(sys.argv[1]), int(sys.argv[2])
argv = sys.argv[3:]
pid, master = pty.fork()
if pid == 0:
    fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack('HHHH', rows, cols, 0, 0))
    os.execvp(argv[0], argv)
buf = b''
stdin_open = True
while True:
    fds = [master] + ([0] if stdin_open else [])
    r, _, _ = select.select(fds, [], [])
    if master in r:
        try:
            data = os.read(master, 65536)
        except OSError:
            data = b''
        if not data:
            break
        os.write(1, data)
    if 0 in r:
        chunk = os.read(0, 65536)
        if not chunk:
            stdin_open = False
            continue
        buf += chunk
        while b'\n' in buf:
            line, buf = buf.split(b'\n', 1)
            cmd = json.loads(line)
            if 'w' in cmd:
                os.write(master, cmd['w'].encode())
            if 'resize' in cmd:
                fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack('HHHH', cmd['resize'][0], cmd['resize'][1], 0, 0))
_, status = os.waitpid(pid, 0)
sys.stderr.write('EXIT %d\n' % (os.waitstatus_to_exitcode(status)))
`;

export class PtySession {
  readonly child: ChildProcess;
  output = '';
  private stderr = '';
  readonly exited: Promise<number>;
  private listeners = new Set<() => void>();

  constructor(argv: string[], opts: { env?: NodeJS.ProcessEnv; rows?: number; cols?: number } = {}) {
    this.child = spawn('python3', ['-c', DRIVER, String(opts.rows ?? 24), String(opts.cols ?? 80), ...argv], {
      env: opts.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      this.output += d;
      // answer a cursor-position query (ESC [ 6 n) as a terminal emulator does: busybox's
      // line editor asks after each prompt and would otherwise take our typing as the reply
      if (d.includes('\x1b[6n')) this.type('\x1b[1;5R');
      for (const l of this.listeners) l();
    });
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
    this.exited = new Promise((resolve) => {
      this.child.on('close', () => {
        for (const l of this.listeners) l();
        const m = /EXIT (-?\d+)/.exec(this.stderr);
        resolve(m ? Number(m[1]) : -1);
      });
    });
  }

  /** Types text into the terminal at once (\r is Enter, \x03 Ctrl-C, \x04 Ctrl-D). */
  type(text: string): void {
    this.child.stdin!.write(JSON.stringify({ w: text }) + '\n');
  }

  resize(rows: number, cols: number): void {
    this.child.stdin!.write(JSON.stringify({ resize: [rows, cols] }) + '\n');
  }

  /** Output after `from` (an offset into output) matching `re`; rejects after the timeout. */
  waitFor(re: RegExp, from = 0, timeoutMs = 10_000): Promise<RegExpExecArray> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const m = re.exec(this.output.slice(from));
        if (m) {
          this.listeners.delete(check);
          clearTimeout(timer);
          resolve(m);
        }
      };
      const timer = setTimeout(() => {
        this.listeners.delete(check);
        const why = this.stderr.trim() ? ` (driver stderr: ${JSON.stringify(this.stderr.trim().slice(-400))})` : '';
        reject(new Error(`timed out waiting for ${re} in ${JSON.stringify(this.output.slice(from))}${why}`));
      }, scaled(timeoutMs));
      this.listeners.add(check);
      check();
    });
  }

  /** Types a line and waits for `re` in what follows. */
  async line(text: string, re: RegExp, timeoutMs?: number): Promise<RegExpExecArray> {
    // a human types after the prompt has settled: busybox's line editor drops keys that
    // arrive in the same read as the answer to its cursor-position query
    await new Promise((r) => setTimeout(r, 150));
    const from = this.output.length;
    this.type(text + '\r');
    return this.waitFor(re, from, timeoutMs);
  }

  kill(): void {
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}
