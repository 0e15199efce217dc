// A client for one repository of an OCI distribution registry, over Node's fetch:
//  * scheme: HTTPS with the system CA store plus certs.d CAs; plain HTTP only for an insecure
//    registry (--tls-verify=false, a loopback host as docker allows by default, or one listed in
//    TSCONTAINER_INSECURE_REGISTRIES), after HTTPS was refused at the protocol level;
//  * auth: on 401 the WWW-Authenticate challenge picks Basic (stored credentials) or the Bearer
//    token flow (the realm is asked for a token for the repository's scope);
//  * redirects are followed by hand (at most 10; credentials never go to another host);
//  * requests whose body can be made again are retried with back-off on 5xx and resets.
import { readdirSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import tls from 'node:tls';
import { TscError, UsageError } from '../../util/errors.js';
import { log } from '../../util/log.js';
import type { Credentials } from './credentials.js';
import { checkAllowedHost } from '../../util/allowed-hosts.js';

export class RegistryError extends TscError {
  override readonly name = 'RegistryError';
}

export interface ClientOptions {
  /** false: HTTPS without certificate checks, plain HTTP allowed. */
  tlsVerify?: boolean;
  credentials?: Credentials;
  /** "pull" or "pull,push" */
  actions?: string;
}

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  /** A body, or a function that makes it again for a retry (a stream can be made only once). */
  body?: string | Buffer | (() => Readable);
  /** Statuses that are not errors (default: 2xx). */
  ok?: (status: number) => boolean;
  /** False: a streamed body cannot be replayed, do not retry. */
  retry?: boolean;
}

const CERT_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
]);

function causeCode(err: unknown): string | undefined {
  let e: unknown = err;
  for (let i = 0; i < 4 && e !== null && typeof e === 'object'; i++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1');
  return h === 'localhost' || h === '::1' || (isIP(h) === 4 && h.startsWith('127.'));
}

function insecureListed(host: string): boolean {
  return (process.env['TSCONTAINER_INSECURE_REGISTRIES'] ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .includes(host);
}

/** The host to talk to for a reference's domain (docker.io's API lives elsewhere). */
export function apiHost(domain: string): string {
  return domain === 'docker.io' ? 'registry-1.docker.io' : domain;
}

let caInstalled = new Set<string>();

/** Trusts the system store and the certs.d CAs of `host` (docker's and podman's folders, or
 *  $TSCONTAINER_CERTS_D for tests), in addition to Node's bundled ones. */
function installCAs(host: string): void {
  if (caInstalled.has(host)) return;
  caInstalled = new Set([...caInstalled, host]);
  const dirs = process.env['TSCONTAINER_CERTS_D']
    ? [process.env['TSCONTAINER_CERTS_D']]
    : ['/etc/containers/certs.d', '/etc/docker/certs.d'];
  const extra: string[] = [];
  for (const base of dirs) {
    const d = join(base, host);
    let names: string[] = [];
    try {
      names = readdirSync(d);
    } catch {
      continue;
    }
    for (const n of names) if (n.endsWith('.crt')) extra.push(readFileSync(join(d, n), 'utf8'));
  }
  try {
    tls.setDefaultCACertificates([...tls.getCACertificates('default'), ...tls.getCACertificates('system'), ...extra]);
  } catch (err) {
    log('warn', 'could not install CA certificates', { err: String(err) });
  }
}

function parseChallenge(header: string): { scheme: string; params: Record<string, string> } {
  const m = /^\s*(\w+)\s*(.*)$/.exec(header);
  if (!m) return { scheme: '', params: {} };
  const params: Record<string, string> = {};
  const re = /(\w+)="([^"]*)"|(\w+)=([^,\s]*)/g;
  let x: RegExpExecArray | null;
  while ((x = re.exec(m[2]!)) !== null) params[(x[1] ?? x[3])!.toLowerCase()] = x[2] ?? x[4] ?? '';
  return { scheme: m[1]!.toLowerCase(), params };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class RegistryClient {
  private base: string | undefined;
  private probing: Promise<string> | undefined;
  private authHeader: string | undefined;
  readonly host: string;

  constructor(
    host: string,
    readonly repository: string,
    private readonly opts: ClientOptions = {},
  ) {
    this.host = apiHost(host);
  }

  private insecure(): boolean {
    return this.opts.tlsVerify === false || isLoopbackHost(this.host) || insecureListed(this.host);
  }

  /** Finds the scheme: HTTPS; for an insecure registry, plain HTTP when it answers that (a TLS
   *  server answers a plain request with 400 and gets HTTPS). */
  private baseUrl(): Promise<string> {
    this.probing ??= this.probe();
    return this.probing;
  }

  private async probe(): Promise<string> {
    if (this.base) return this.base;
    checkAllowedHost(`https://${this.host}/`);
    if (this.insecure()) {
      try {
        const res = await fetch(`http://${this.host}/v2/`, { redirect: 'manual', signal: AbortSignal.timeout(30_000) });
        await res.body?.cancel();
        if (res.status !== 400) {
          this.base = `http://${this.host}`;
          return this.base;
        }
      } catch (err) {
        const code = causeCode(err);
        if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EAI_AGAIN') throw this.networkError(err);
      }
    }
    installCAs(this.host);
    if (this.opts.tlsVerify === false && process.env['NODE_TLS_REJECT_UNAUTHORIZED'] !== '0') {
      // the user asked for it: Node's warning about the variable would only repeat the flag
      process.removeAllListeners('warning');
      process.env['NODE_TLS_REJECT_UNAUTHORIZED'] = '0';
    }
    try {
      const res = await fetch(`https://${this.host}/v2/`, { redirect: 'manual', signal: AbortSignal.timeout(30_000) });
      await res.body?.cancel();
      this.base = `https://${this.host}`;
    } catch (err) {
      const code = causeCode(err);
      if (code !== undefined && CERT_CODES.has(code)) {
        throw new RegistryError(
          `cannot reach ${this.host}: its TLS certificate is not trusted (${code}); add its CA to /etc/containers/certs.d/${this.host}/ or use --tls-verify=false`,
        );
      }
      throw this.networkError(err);
    }
    return this.base;
  }

  private networkError(err: unknown): RegistryError {
    const code = causeCode(err);
    return new RegistryError(`cannot reach the registry ${this.host}: ${code ?? (err as Error).message}`);
  }

  private async authenticate(res: Response): Promise<boolean> {
    const header = res.headers.get('www-authenticate');
    if (!header) return false;
    const { scheme, params } = parseChallenge(header);
    const creds = this.opts.credentials;
    if (scheme === 'basic') {
      if (!creds) return false;
      const next = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
      if (this.authHeader === next) return false;
      this.authHeader = next;
      return true;
    }
    if (scheme === 'bearer' && params['realm']) {
      const url = new URL(params['realm']);
      if (params['service']) url.searchParams.set('service', params['service']);
      url.searchParams.set('scope', params['scope'] ?? `repository:${this.repository}:${this.opts.actions ?? 'pull'}`);
      const headers: Record<string, string> = {};
      if (creds) headers['authorization'] = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
      checkAllowedHost(url);
      let tr: Response;
      try {
        tr = await fetch(url, { headers, signal: AbortSignal.timeout(30_000) });
      } catch (err) {
        throw this.networkError(err);
      }
      if (tr.status === 401 || tr.status === 403)
        throw new RegistryError(`${this.host}: authentication required or denied (token server answered ${tr.status})`);
      if (!tr.ok) throw new RegistryError(`${this.host}: the token server answered ${tr.status}`);
      const body = (await tr.json().catch(() => ({}))) as { token?: string; access_token?: string };
      const token = body.token ?? body.access_token;
      if (typeof token !== 'string' || token === '') throw new RegistryError(`${this.host}: the token server sent no token`);
      const next = `Bearer ${token}`;
      if (this.authHeader === next) return false;
      this.authHeader = next;
      return true;
    }
    return false;
  }

  /** A request to `path` (under /v2/<repository>/ unless it starts with "/" or a URL). */
  async request(path: string, o: RequestOptions = {}): Promise<Response> {
    const base = await this.baseUrl();
    let url = /^https?:/.test(path) ? path : path.startsWith('/') ? `${base}${path}` : `${base}/v2/${this.repository}/${path}`;
    const method = o.method ?? 'GET';
    const ok = o.ok ?? ((s: number) => s >= 200 && s < 300);
    let attempt = 0;
    let authTries = 0;
    let redirects = 0;
    for (;;) {
      const sameHost = new URL(url).host === this.host;
      const headers: Record<string, string> = { ...(o.headers ?? {}) };
      if (this.authHeader && sameHost) headers['authorization'] = this.authHeader;
      // a stream goes to undici as an async iterable (no web-stream queue in between)
      const body = typeof o.body === 'function' ? o.body() : o.body;
      checkAllowedHost(url);
      let res: Response;
      try {
        res = await fetch(url, {
          method,
          headers,
          body: body as BodyInit | undefined,
          redirect: 'manual',
          ...(typeof o.body === 'function' ? { duplex: 'half' } : {}),
        } as RequestInit);
      } catch (err) {
        const code = causeCode(err);
        if (
          o.retry !== false &&
          attempt < 3 &&
          code !== undefined &&
          ['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'UND_ERR_SOCKET'].includes(code)
        ) {
          await sleep(200 * 2 ** attempt++);
          continue;
        }
        throw this.networkError(err);
      }
      if (res.status >= 300 && res.status < 400 && res.headers.get('location')) {
        await res.body?.cancel();
        if (++redirects > 10) throw new RegistryError(`${this.host}: too many redirects (a redirect loop) for ${method} ${path}`);
        url = new URL(res.headers.get('location')!, url).toString();
        continue;
      }
      if (res.status === 401 && authTries++ < 2) {
        await res.body?.cancel();
        if (await this.authenticate(res)) continue;
        throw new RegistryError(
          `${this.host}: authentication required${this.opts.credentials ? ' (the stored credentials were refused)' : `; run tscontainer login ${this.host}`}`,
        );
      }
      if (res.status >= 500 && o.retry !== false && attempt < 3) {
        await res.body?.cancel();
        await sleep(200 * 2 ** attempt++);
        continue;
      }
      if (!ok(res.status)) {
        const text = await res.text().catch(() => '');
        throw this.statusError(res.status, method, path, text);
      }
      return res;
    }
  }

  private statusError(status: number, method: string, path: string, text: string): TscError {
    let detail = '';
    try {
      const v = JSON.parse(text) as { errors?: { code?: string; message?: string }[] };
      const e = v.errors?.[0];
      if (e) detail = `: ${e.code ?? ''}${e.message ? ` ${e.message}` : ''}`.trimEnd();
    } catch {
      /* not a distribution error body */
    }
    if (status === 401 || status === 403)
      return new RegistryError(`${this.host}: access to ${this.repository} denied (${status})${detail}`);
    if (status === 404) return new RegistryError(`${this.host}/${this.repository}: not found (${method} ${path})${detail}`);
    return new RegistryError(`${this.host}: ${method} ${path} failed with ${status}${detail}`);
  }

  /**
   * Streams `body` to `url` with node:http(s), which, unlike fetch here (measured: Node 24's
   * fetch queues a streamed request body in memory as fast as it is produced, a whole layer),
   * stops reading the body while the socket is full. No retries: a body is sent once; a 401
   * is answered with the challenge taken for the next attempt.
   */
  async upload(
    url: string,
    method: string,
    headers: Record<string, string>,
    body: Readable,
    ok: (s: number) => boolean,
  ): Promise<Response> {
    const u = new URL(url);
    checkAllowedHost(u);
    const h: Record<string, string> = { ...headers };
    if (this.authHeader && u.host === this.host) h['authorization'] = this.authHeader;
    const mod = u.protocol === 'https:' ? await import('node:https') : await import('node:http');
    const res = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
      const req = mod.request(u, { method, headers: { ...h, 'transfer-encoding': 'chunked' } }, resolve);
      req.on('error', (err) => reject(this.networkError(err)));
      body.on('error', (err) => req.destroy(err));
      body.pipe(req);
    });
    const out = new Response(res.statusCode === 204 ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>), {
      status: res.statusCode ?? 500,
      headers: Object.entries(res.headers).flatMap(([k, v]) =>
        v === undefined ? [] : Array.isArray(v) ? v.map((x) => [k, x] as [string, string]) : [[k, v] as [string, string]],
      ),
    });
    if (out.status === 401) {
      await out.body?.cancel();
      await this.authenticate(out);
      throw new RegistryError(`${this.host}: authentication required for the upload`);
    }
    if (!ok(out.status)) throw this.statusError(out.status, method, u.pathname, await out.text().catch(() => ''));
    return out;
  }

  /** GET /v2/ (login's check): throws when the registry or the credentials are refused. */
  async ping(): Promise<void> {
    const res = await this.request('/v2/');
    await res.body?.cancel();
  }
}

/** Reads a response body of at most `limit` bytes. */
export async function readLimited(res: Response, limit: number, what: string): Promise<Buffer> {
  const declared = Number(res.headers.get('content-length') ?? '-1');
  if (declared > limit) throw new UsageError(`${what} is ${declared} bytes, more than the ${limit} allowed`);
  const chunks: Buffer[] = [];
  let n = 0;
  if (!res.body) return Buffer.alloc(0);
  for await (const c of res.body as unknown as AsyncIterable<Uint8Array>) {
    n += c.length;
    if (n > limit) throw new UsageError(`${what} is larger than the ${limit} bytes allowed`);
    chunks.push(Buffer.from(c));
  }
  return Buffer.concat(chunks);
}
