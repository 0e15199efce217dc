// The few file-system calls Node.js does not have: mknod(2) (device nodes, fifos, overlay's 0/0
// whiteouts) and the xattr calls (overlay's opaque flag, file capabilities, SCHILY.xattr.* in
// layer tars). They run in one python3 co-process per operation (python3 is a system package
// that scripts/setup.sh installs), started lazily on the first call and spoken to in JSON lines,
// so a layer with no whiteouts, devices or xattrs never starts it and one with thousands pays one
// process start, not one per node.
import { existsSync } from 'node:fs';
import { createInterface, type Interface } from 'node:readline';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { UnsupportedError } from '../util/errors.js';

const SCRIPT = String.raw`
import sys, os, json, base64, errno
os.umask(0)
def reply(o):
    sys.stdout.write(json.dumps(o) + "\n"); sys.stdout.flush()
for line in sys.stdin:
    try:
        r = json.loads(line); op = r["op"]
        if op == "mknod":
            kinds = {"char": 0o020000, "block": 0o060000, "fifo": 0o010000}
            os.mknod(r["path"], kinds[r["kind"]] | r["mode"], os.makedev(r["major"], r["minor"]))
            reply({"ok": True})
        elif op == "setxattr":
            os.setxattr(r["path"], r["name"], base64.b64decode(r["value"]), follow_symlinks=False)
            reply({"ok": True})
        elif op == "list":
            res = []
            for p in r["paths"]:
                d = {}
                try:
                    for n in os.listxattr(p, follow_symlinks=False):
                        try:
                            d[n] = base64.b64encode(os.getxattr(p, n, follow_symlinks=False)).decode()
                        except OSError:
                            pass
                except OSError as e:
                    if e.errno not in (errno.ENOTSUP, errno.ENOENT, errno.EPERM):
                        raise
                res.append(d)
            reply({"ok": True, "xattrs": res})
        else:
            reply({"ok": False, "code": "EINVAL", "error": "unknown op " + str(op)})
    except OSError as e:
        reply({"ok": False, "code": errno.errorcode.get(e.errno, "EIO"), "error": e.strerror or str(e)})
    except Exception as e:
        reply({"ok": False, "code": "EIO", "error": str(e)})
`;

/** A failed call, with the errno name in `code` (EPERM, ENOTSUP, ...). */
export class FsOpError extends Error {
  readonly code: string;
  constructor(message: string, code: string) {
    super(message);
    this.code = code;
  }
}

interface Reply {
  ok: boolean;
  code?: string;
  error?: string;
  xattrs?: Array<Record<string, string>>;
}

export type NodeKind = 'char' | 'block' | 'fifo';

export class FsOps {
  private proc: ChildProcessWithoutNullStreams | undefined;
  private lines: Interface | undefined;
  private waiting: Array<{ resolve: (r: Reply) => void; reject: (e: Error) => void }> = [];
  private dead: Error | undefined;

  private start(): void {
    // The distribution's python3 first: a version manager's shim on PATH costs ~200 ms a start.
    const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
    // node:child_process on first use (~4 ms to load): most commands never reach this
    const proc = process.getBuiltinModule('node:child_process').spawn(python, ['-I', '-S', '-c', SCRIPT], {
      stdio: 'pipe',
      env: { PYTHONIOENCODING: 'utf-8', PYTHONUTF8: '1' },
    });
    this.proc = proc;
    const fail = (err: Error) => {
      if (!this.dead) this.dead = err;
      for (const w of this.waiting.splice(0)) w.reject(this.dead);
    };
    proc.on('error', (e: NodeJS.ErrnoException) => {
      fail(
        e.code === 'ENOENT'
          ? new UnsupportedError('creating device nodes, whiteouts and extended attributes needs python3, which is not installed')
          : e,
      );
    });
    proc.stdin!.on('error', () => {
      /* reported through exit */
    });
    this.lines = createInterface({ input: proc.stdout! });
    this.lines.on('line', (line) => {
      const w = this.waiting.shift();
      if (!w) return;
      try {
        w.resolve(JSON.parse(line) as Reply);
      } catch (e) {
        w.reject(e as Error);
      }
    });
    this.lines.on('close', () => fail(new Error('the python3 file-system helper exited')));
    proc.stderr!.resume();
  }

  private call(req: Record<string, unknown>): Promise<Reply> {
    if (this.dead) return Promise.reject(this.dead);
    if (!this.proc) this.start();
    return new Promise<Reply>((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.proc!.stdin!.write(JSON.stringify(req) + '\n');
    }).then((r) => {
      if (!r.ok) throw new FsOpError(`${r.error ?? 'failed'} (${r.code ?? 'EIO'})`, r.code ?? 'EIO');
      return r;
    });
  }

  async mknod(path: string, kind: NodeKind, mode: number, major: number, minor: number): Promise<void> {
    await this.call({ op: 'mknod', path, kind, mode: mode & 0o7777, major, minor });
  }

  /** lsetxattr: never follows a symbolic link. */
  async setXattr(path: string, name: string, value: Buffer): Promise<void> {
    await this.call({ op: 'setxattr', path, name, value: value.toString('base64') });
  }

  /** llistxattr + lgetxattr for each path; a path that vanished or cannot hold xattrs gives {}. */
  async listXattrs(paths: string[]): Promise<Array<Map<string, Buffer>>> {
    if (paths.length === 0) return [];
    const r = await this.call({ op: 'list', paths });
    return (r.xattrs ?? []).map((d) => new Map(Object.entries(d).map(([k, v]) => [k, Buffer.from(v, 'base64')])));
  }

  /** Ends the co-process (if one was started). Safe to call more than once. */
  async close(): Promise<void> {
    const proc = this.proc;
    if (!proc) return;
    this.proc = undefined;
    this.dead ??= new Error('closed');
    const closed = proc.exitCode !== null || proc.signalCode !== null ? Promise.resolve() : once(proc, 'close');
    proc.stdin.end();
    await closed.catch(() => undefined);
  }
}
