// Finds a container by full id, name, or unambiguous id prefix, as docker does.
import type { DB } from '../store/db.js';
import { containersByIdPrefix, getContainer, getContainerByName, type ContainerRow } from '../store/containers.js';
import { EXIT_MANAGEMENT, NotFoundError, UsageError } from '../util/errors.js';

export function findContainer(db: DB, ref: string, exitCode = EXIT_MANAGEMENT): ContainerRow {
  const key = ref.startsWith('/') ? ref.slice(1) : ref;
  if (!key) throw new UsageError('a container name or id is required');
  const byId = /^[0-9a-f]{64}$/.test(key) ? getContainer(db, key) : undefined;
  if (byId) return byId;
  const byName = getContainerByName(db, key);
  if (byName) return byName;
  if (/^[0-9a-f]+$/.test(key)) {
    const matches = containersByIdPrefix(db, key);
    if (matches.length === 1) return matches[0]!;
    if (matches.length > 1) {
      throw new NotFoundError(`multiple containers match "${ref}": give more of the id`, exitCode);
    }
  }
  throw new NotFoundError(`No such container: ${ref}`, exitCode);
}
