// Image references, as docker's distribution/reference parses them:
//   [domain[:port]/]path-component[/path-component...][:tag][@algorithm:hex]
// `busybox` normalizes to `docker.io/library/busybox:latest`; the familiar form drops the
// default domain and the `library/` prefix again for display.
import { UsageError } from '../util/errors.js';

export const DEFAULT_DOMAIN = 'docker.io';
export const LEGACY_DEFAULT_DOMAIN = 'index.docker.io';
export const OFFICIAL_REPO_PREFIX = 'library/';
export const DEFAULT_TAG = 'latest';
const NAME_TOTAL_LENGTH_MAX = 255;

const ALPHANUM = '[a-z0-9]+';
const SEPARATOR = '(?:[._]|__|[-]+)';
const PATH_COMPONENT = `${ALPHANUM}(?:${SEPARATOR}${ALPHANUM})*`;
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?`;
const TAG = '[\\w][\\w.-]{0,127}';
const DIGEST = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}';

const PATH_RE = new RegExp(`^${PATH_COMPONENT}(?:/${PATH_COMPONENT})*$`);
const DOMAIN_RE = new RegExp(`^${DOMAIN}$`);
const TAG_RE = new RegExp(`^${TAG}$`);
const DIGEST_RE = new RegExp(`^${DIGEST}$`);
const SHA256_RE = /^sha256:[0-9a-f]{64}$/;
const HEX64_RE = /^[0-9a-f]{64}$/;

/** A parsed, normalized reference. */
export interface Reference {
  /** Registry host, e.g. "docker.io" or "localhost:5000". */
  domain: string;
  /** Repository path inside the registry, e.g. "library/busybox". */
  path: string;
  /** The tag; `latest` is filled in by `parseReference` when neither tag nor digest is given. */
  tag: string | undefined;
  /** "sha256:<64 hex>" when the reference pins a digest. */
  digest: string | undefined;
}

function invalid(input: string, detail?: string): UsageError {
  return new UsageError(`invalid reference format: "${input}"${detail ? ` (${detail})` : ''}`);
}

/** Splits a name into domain and path as docker does: the first component is a registry host
 *  when it contains "." or ":" or is "localhost" (or has upper-case letters). */
function splitDomain(name: string): { domain: string; path: string } {
  const i = name.indexOf('/');
  let domain: string;
  let path: string;
  if (i === -1) {
    domain = DEFAULT_DOMAIN;
    path = name;
  } else {
    const first = name.slice(0, i);
    if (!first.includes('.') && !first.includes(':') && first !== 'localhost' && first.toLowerCase() === first) {
      domain = DEFAULT_DOMAIN;
      path = name;
    } else {
      domain = first;
      path = name.slice(i + 1);
    }
  }
  if (domain === LEGACY_DEFAULT_DOMAIN) domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && !path.includes('/')) path = OFFICIAL_REPO_PREFIX + path;
  return { domain, path };
}

/**
 * Parses and normalizes a reference the user typed. With `defaultTag` (the default) a bare name
 * gets `:latest`. Throws UsageError `invalid reference format: "..."` for anything docker rejects.
 */
export function parseReference(input: string, opts: { defaultTag?: boolean } = {}): Reference {
  const defaultTag = opts.defaultTag ?? true;
  if (input === '') throw invalid(input, 'empty reference');
  if (input !== input.trim() || /\s/.test(input)) throw invalid(input, 'contains white space');
  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST_RE.test(digest)) throw invalid(input, 'bad digest');
    if (digest.startsWith('sha256:') && !SHA256_RE.test(digest))
      throw invalid(input, 'a sha256 digest is 64 lower-case hex digits');
  }
  let tag: string | undefined;
  // The tag is after the last ":" that comes after the last "/" (a ":" before it is a port).
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG_RE.test(tag)) throw invalid(input, 'bad tag');
  }
  const name = rest;
  if (name === '') throw invalid(input, 'missing repository name');
  if (name.length > NAME_TOTAL_LENGTH_MAX)
    throw invalid(input, `repository name longer than ${NAME_TOTAL_LENGTH_MAX} characters`);
  const { domain, path } = splitDomain(name);
  if (!DOMAIN_RE.test(domain)) throw invalid(input, 'bad registry host');
  if (!PATH_RE.test(path)) {
    if (PATH_RE.test(path.toLowerCase())) throw invalid(input, 'repository name must be lowercase');
    throw invalid(input);
  }
  if (domain === DEFAULT_DOMAIN && HEX64_RE.test(path.slice(OFFICIAL_REPO_PREFIX.length)) && !name.includes('/')) {
    throw invalid(input, 'cannot specify 64-byte hexadecimal strings as a repository name');
  }
  if (tag === undefined && digest === undefined && defaultTag) tag = DEFAULT_TAG;
  return { domain, path, tag, digest };
}

/** "docker.io/library/busybox" */
export function repositoryName(ref: Reference): string {
  return `${ref.domain}/${ref.path}`;
}

/** The full normalized string: "docker.io/library/busybox:latest", "host:5000/a/b@sha256:...". */
export function formatReference(ref: Reference): string {
  return `${repositoryName(ref)}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest !== undefined ? `@${ref.digest}` : ''}`;
}

/** The repository as users write it: "busybox", "myuser/app", "localhost:5000/a/b". */
export function familiarRepository(ref: Pick<Reference, 'domain' | 'path'>): string {
  if (ref.domain !== DEFAULT_DOMAIN) return `${ref.domain}/${ref.path}`;
  return ref.path.startsWith(OFFICIAL_REPO_PREFIX) ? ref.path.slice(OFFICIAL_REPO_PREFIX.length) : ref.path;
}

/** "busybox:latest", "myuser/app:1", "localhost:5000/a/b@sha256:...". */
export function familiarString(ref: Reference): string {
  return `${familiarRepository(ref)}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest !== undefined ? `@${ref.digest}` : ''}`;
}

/** A stored tag name (normalized) back to its familiar form; unparsable names are returned as is. */
export function familiarName(stored: string): string {
  try {
    return familiarString(parseReference(stored, { defaultTag: false }));
  } catch {
    return stored;
  }
}

/** The normalized string of a reference the user typed: `busybox` -> `docker.io/library/busybox:latest`. */
export function normalizeReference(input: string): string {
  return formatReference(parseReference(input));
}

/** A string that can only mean an image id or id prefix: "sha256:<1-64 hex>" or 64 hex digits. */
export function idPrefixOf(s: string): string | undefined {
  const m = /^sha256:([0-9a-f]{1,64})$/.exec(s);
  if (m) return m[1];
  if (HEX64_RE.test(s)) return s;
  return undefined;
}

/** "<hex>" when `s` could be a short image id (a hex string) that is also a valid name. */
export function hexPrefix(s: string): string | undefined {
  return /^[0-9a-f]{1,64}$/.test(s) ? s : undefined;
}
