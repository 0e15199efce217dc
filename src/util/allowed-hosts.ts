// TSCONTAINER_ALLOWED_HOSTS: the hosts the CLI may open a network connection to (registries,
// their token servers and redirect targets, ADD's downloads). Unset means any host. A comma-
// separated list of names or addresses, each optionally with a port (`127.0.0.1` allows every
// port of it, `registry.local:5000` only that one). Set it to keep a machine, a CI job or a test
// suite from ever reaching a host it should not: the test suite sets it to loopback, so a test
// that names an image nobody has never reaches docker.io.
import { UsageError } from './errors.js';

function allowedList(): string[] | undefined {
  const v = process.env['TSCONTAINER_ALLOWED_HOSTS'];
  if (v === undefined || v.trim() === '') return undefined;
  return v
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
}

/** Throws the one-line refusal when `url`'s host is not allowed. */
export function checkAllowedHost(url: string | URL): void {
  const list = allowedList();
  if (!list) return;
  const u = typeof url === 'string' ? new URL(url) : url;
  const host = u.hostname.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  const port = u.port || (u.protocol === 'https:' ? '443' : '80');
  const ok = list.some((entry) => {
    // a bare IPv6 address has no port; [addr]:port and name:port do
    if (!entry.startsWith('[') && entry.split(':').length > 2) return entry === host;
    const m = /^(?:\[([^\]]+)\]|([^:]+))(?::(\d+))?$/.exec(entry);
    if (!m) return false;
    return (m[1] ?? m[2]) === host && (m[3] === undefined || m[3] === port);
  });
  if (!ok) {
    throw new UsageError(`${u.host} is not in TSCONTAINER_ALLOWED_HOSTS (${list.join(',')}): no connection was made`);
  }
}
