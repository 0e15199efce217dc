// A real registry for tests: Debian's docker-registry (the reference distribution registry)
// on 127.0.0.1 and a free port, with its own config and storage under a temporary directory;
// optionally TLS with a CA made here by openssl, and htpasswd (bcrypt) auth. Stopped by pid.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const REGISTRY_BIN = '/usr/bin/docker-registry';
export const haveRegistry = existsSync(REGISTRY_BIN);

export interface TestRegistry {
  host: string;
  port: number;
  dir: string;
  /** With tls: a certs.d directory holding <host>/ca.crt (TSCONTAINER_CERTS_D). */
  certsD?: string;
  caFile?: string;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => res(port));
    });
  });
}

function makeCa(dir: string, host: string): { cert: string; key: string; ca: string } {
  const ca = join(dir, 'ca.crt');
  const caKey = join(dir, 'ca.key');
  const key = join(dir, 'server.key');
  const csr = join(dir, 'server.csr');
  const cert = join(dir, 'server.crt');
  const ext = join(dir, 'ext.cnf');
  const q = { stdio: 'ignore' as const };
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', caKey, '-out', ca, '-days', '2', '-subj', '/CN=tsc-test-ca'],
    q,
  );
  execFileSync('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', csr, '-subj', `/CN=${host}`], q);
  writeFileSync(ext, `subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n`);
  execFileSync(
    'openssl',
    ['x509', '-req', '-in', csr, '-CA', ca, '-CAkey', caKey, '-CAcreateserial', '-out', cert, '-days', '2', '-extfile', ext],
    q,
  );
  return { cert, key, ca };
}

export async function startRegistry(opts: { tls?: boolean; users?: Record<string, string> } = {}): Promise<TestRegistry> {
  const dir = mkdtempSync(join(tmpdir(), 'tsc-registry-'));
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  let tls = '';
  let certsD: string | undefined;
  let caFile: string | undefined;
  if (opts.tls) {
    const c = makeCa(dir, '127.0.0.1');
    tls = `\n  tls:\n    certificate: ${c.cert}\n    key: ${c.key}`;
    certsD = join(dir, 'certs.d');
    execFileSync('mkdir', ['-p', join(certsD, host)]);
    execFileSync('cp', [c.ca, join(certsD, host, 'ca.crt')]);
    caFile = c.ca;
  }
  let auth = '';
  if (opts.users) {
    const file = join(dir, 'htpasswd');
    const lines = Object.entries(opts.users).map(([u, p]) =>
      execFileSync('htpasswd', ['-Bbn', u, p], { encoding: 'utf8' }).trim(),
    );
    writeFileSync(file, lines.join('\n') + '\n');
    auth = `\nauth:\n  htpasswd:\n    realm: tsc-test\n    path: ${file}`;
  }
  const config = join(dir, 'config.yml');
  writeFileSync(
    config,
    `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, 'data')}\n  delete:\n    enabled: true\nhttp:\n  addr: ${host}${tls}${auth}\n`,
  );
  const child: ChildProcess = spawn(REGISTRY_BIN, ['serve', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const stop = async () => {
    if (child.exitCode === null && child.pid !== undefined) {
      process.kill(child.pid, 'SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
    rmSync(dir, { recursive: true, force: true });
  };
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) break;
    try {
      await new Promise<void>((res, rej) => {
        const s = connect(port, '127.0.0.1', () => {
          s.end();
          res();
        });
        s.on('error', rej);
      });
      return { host, port, dir, certsD, caFile, stop };
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  await stop();
  throw new Error(`docker-registry did not start: ${stderr}`);
}

/** Uploads blobs (monolithic) and a manifest or index straight over HTTP, as another client would. */
export async function pushRaw(
  base: string,
  repo: string,
  blobs: Map<string, Buffer>,
  manifests: { ref: string; body: string; mediaType: string }[],
  headers: Record<string, string> = {},
): Promise<void> {
  for (const [digest, body] of blobs) {
    const start = await fetch(`${base}/v2/${repo}/blobs/uploads/`, { method: 'POST', headers });
    if (start.status !== 202) throw new Error(`upload start: ${start.status}`);
    const loc = new URL(start.headers.get('location')!, base);
    loc.searchParams.set('digest', digest);
    const put = await fetch(loc, {
      method: 'PUT',
      body: new Uint8Array(body),
      headers: { ...headers, 'content-type': 'application/octet-stream' },
    });
    if (put.status !== 201) throw new Error(`blob put: ${put.status} ${await put.text()}`);
  }
  for (const m of manifests) {
    const put = await fetch(`${base}/v2/${repo}/manifests/${m.ref}`, {
      method: 'PUT',
      body: m.body,
      headers: { ...headers, 'content-type': m.mediaType },
    });
    if (put.status !== 201) throw new Error(`manifest put: ${put.status} ${await put.text()}`);
  }
}
