// Registry credentials, where docker and podman keep them:
//   docker: $DOCKER_CONFIG/config.json (default ~/.docker/config.json), {"auths": {host: {"auth":
//           base64("user:password")}}}; written here, mode 0600, other keys left as they are.
//   podman: $REGISTRY_AUTH_FILE, else $XDG_RUNTIME_DIR/containers/auth.json, else
//           ~/.config/containers/auth.json; same format; read only.
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { UsageError } from '../../util/errors.js';

export interface Credentials {
  username: string;
  password: string;
}

interface AuthFile {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string }>;
  [key: string]: unknown;
}

export function dockerConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(env['DOCKER_CONFIG'] ?? join(env['HOME'] ?? homedir(), '.docker'), 'config.json');
}

function podmanAuthPaths(env: NodeJS.ProcessEnv = process.env): string[] {
  if (env['REGISTRY_AUTH_FILE']) return [env['REGISTRY_AUTH_FILE']];
  const out: string[] = [];
  if (env['XDG_RUNTIME_DIR']) out.push(join(env['XDG_RUNTIME_DIR'], 'containers', 'auth.json'));
  out.push(join(env['HOME'] ?? homedir(), '.config', 'containers', 'auth.json'));
  return out;
}

function readAuthFile(path: string): AuthFile | undefined {
  if (!existsSync(path)) return undefined;
  try {
    const v: unknown = JSON.parse(readFileSync(path, 'utf8'));
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as AuthFile) : undefined;
  } catch {
    throw new UsageError(`cannot read the credentials file ${path}: it is not valid JSON`);
  }
}

/** The keys a registry may be stored under: "host", "https://host", docker.io's legacy URL. */
function keysFor(host: string): string[] {
  const keys = [host, `https://${host}`, `http://${host}`, `https://${host}/v1/`, `https://${host}/v2/`];
  if (host === 'docker.io' || host === 'registry-1.docker.io' || host === 'index.docker.io') {
    keys.push('https://index.docker.io/v1/', 'index.docker.io', 'docker.io', 'registry-1.docker.io');
  }
  return keys;
}

function decode(entry: { auth?: string; username?: string; password?: string }, path: string): Credentials | undefined {
  if (entry.username !== undefined && entry.password !== undefined) return { username: entry.username, password: entry.password };
  if (entry.auth === undefined || entry.auth === '') return undefined;
  const text = Buffer.from(entry.auth, 'base64').toString('utf8');
  const i = text.indexOf(':');
  if (i <= 0) throw new UsageError(`the credentials in ${path} are malformed (auth is not base64 of user:password)`);
  return { username: text.slice(0, i), password: text.slice(i + 1) };
}

/** Stored credentials for `host`: docker's config.json first, then podman's auth.json. */
export function findCredentials(host: string, env: NodeJS.ProcessEnv = process.env): Credentials | undefined {
  for (const path of [dockerConfigPath(env), ...podmanAuthPaths(env)]) {
    const f = readAuthFile(path);
    for (const k of keysFor(host)) {
      const e = f?.auths?.[k];
      if (e) {
        const c = decode(e, path);
        if (c) return c;
      }
    }
  }
  return undefined;
}

function writeAuthFile(path: string, f: AuthFile): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    writeFileSync(tmp, JSON.stringify(f, null, '\t') + '\n', { mode: 0o600 });
    chmodSync(tmp, 0o600);
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

export function storeCredentials(host: string, creds: Credentials, env: NodeJS.ProcessEnv = process.env): string {
  const path = dockerConfigPath(env);
  const f = readAuthFile(path) ?? {};
  const auths = { ...(f.auths ?? {}) };
  for (const k of keysFor(host)) if (k !== host) delete auths[k];
  auths[host] = { auth: Buffer.from(`${creds.username}:${creds.password}`).toString('base64') };
  writeAuthFile(path, { ...f, auths });
  return path;
}

/** Removes `host`'s entry; false when there was none. */
export function removeCredentials(host: string, env: NodeJS.ProcessEnv = process.env): boolean {
  const path = dockerConfigPath(env);
  const f = readAuthFile(path);
  if (!f?.auths) return false;
  const auths = { ...f.auths };
  let found = false;
  for (const k of keysFor(host)) {
    if (k in auths) {
      delete auths[k];
      found = true;
    }
  }
  if (found) writeAuthFile(path, { ...f, auths });
  return found;
}
