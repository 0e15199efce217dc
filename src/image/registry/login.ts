// `tscontainer login` / `logout`: check the credentials against the registry (GET /v2/ through
// its Basic or Bearer challenge), then store them in docker's config.json.
import { UsageError } from '../../util/errors.js';
import { apiHost, RegistryClient } from './client.js';
import { removeCredentials, storeCredentials, type Credentials } from './credentials.js';

/** "https://host:5000/v2/" or "host:5000" -> "host:5000" (docker.io for the hub). */
export function registryHost(input: string): string {
  const h = input.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
  if (h === '' || !/^[A-Za-z0-9.-]+(:\d+)?$|^\[[0-9a-fA-F:]+\](:\d+)?$/.test(h))
    throw new UsageError(`invalid registry "${input}"`);
  if (h === 'index.docker.io' || h === 'registry-1.docker.io') return 'docker.io';
  return h;
}

export async function login(input: string, creds: Credentials, opts: { tlsVerify?: boolean } = {}): Promise<string> {
  const host = registryHost(input);
  if (creds.username === '') throw new UsageError('login needs a username (-u)');
  if (creds.password === '') throw new UsageError('login needs a password (--password-stdin or -p)');
  const client = new RegistryClient(apiHost(host), '', { tlsVerify: opts.tlsVerify, credentials: creds });
  await client.ping();
  return storeCredentials(host, creds);
}

export function logout(input: string): boolean {
  return removeCredentials(registryHost(input));
}
