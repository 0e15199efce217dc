// Name resolution on user networks: each member's /etc/hosts lists the other members (container
// name and aliases). Whenever membership changes, the hosts files of every member of the
// affected networks are regenerated from the database and rewritten in place. Callers hold
// the write lock (writeTx) so that two rewrites never interleave with stale reads.
import type { DB } from '../store/db.js';
import { getContainer } from '../store/containers.js';
import { endpointsOfContainer, getNetSettings, getNetworkById, membersOfNetwork, type EndpointRow } from '../store/networks.js';
import { log } from '../util/log.js';
import { buildHosts, etcPaths, writeInPlace } from './etcfiles.js';

function aliasesOf(e: EndpointRow): string[] {
  try {
    const a = JSON.parse(e.aliases) as unknown;
    return Array.isArray(a) ? a.filter((x): x is string => typeof x === 'string') : [];
  } catch {
    return [];
  }
}

/** The /etc/hosts content of a container in bridge or user-network mode, from the database. */
export function hostsContent(db: DB, containerId: string, containerName: string | null): string | undefined {
  const s = getNetSettings(db, containerId);
  if (!s || s.mode === 'host' || s.mode === 'none' || s.mode.startsWith('container:')) return undefined;
  const own = endpointsOfContainer(db, containerId);
  const extraHosts = JSON.parse(s.extra_hosts) as [string, string][];
  const members: { address: string; names: string[] }[] = [];
  const seen = new Set<string>();
  for (const ep of own) {
    const net = getNetworkById(db, ep.network_id);
    if (!net || net.is_default === 1) continue; // the default network has no name resolution, as in docker
    for (const m of membersOfNetwork(db, net.id)) {
      if (m.container_id === containerId || m.container_name === null) continue;
      const key = `${m.address} ${m.container_id}`;
      if (seen.has(key)) continue;
      seen.add(key);
      members.push({ address: m.address, names: [m.container_name, ...aliasesOf(m), m.container_id.slice(0, 12)] });
    }
  }
  const first = own[0];
  const selfNames = [s.hostname];
  if (containerName && containerName !== s.hostname && own.some((e) => getNetworkById(db, e.network_id)?.is_default === 0))
    selfNames.push(containerName);
  for (const e of own) selfNames.push(...aliasesOf(e));
  return buildHosts({
    extraHosts,
    self: first ? { address: first.address, names: selfNames } : undefined,
    members,
  });
}

/** Rewrites the hosts file of each member of the given networks (and of `extra` containers). */
export function refreshHosts(db: DB, networkIds: string[], extra: string[] = []): void {
  const ids = new Set(extra);
  for (const nid of networkIds) {
    const net = getNetworkById(db, nid);
    if (!net || net.is_default === 1) continue;
    for (const m of membersOfNetwork(db, nid)) if (m.container_name !== null) ids.add(m.container_id);
  }
  for (const id of ids) {
    const row = getContainer(db, id);
    const s = getNetSettings(db, id);
    if (!row || !s) continue;
    const text = hostsContent(db, id, row.name);
    if (text === undefined) continue;
    try {
      writeInPlace(etcPaths(s.dir).hosts, text);
    } catch (err) {
      // A member whose directory is gone (being removed) must not fail another container's start.
      log('warn', 'cannot rewrite a member hosts file', { id, err: String(err) });
    }
  }
}
