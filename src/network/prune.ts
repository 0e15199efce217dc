// Reclaiming what crashed or removed containers left: leases, port mappings, unused networks.
import type { DB } from '../store/db.js';
import { writeTx } from '../store/db.js';
import {
  countEndpoints,
  listNetworkRows,
  orphanContainerIds,
  portMappingsOfContainer,
  setAttached,
  staleAttachedIds,
} from '../store/networks.js';
import { log } from '../util/log.js';
import { deleteLinks } from './link.js';
import { syncRules } from './nat.js';

import { cfg, type NetOptions } from './common.js';
import { removeNetwork } from './networks.js';
import { dropContainer } from './container.js';

export interface PruneResult {
  reclaimedContainers: string[];
  detachedContainers: string[];
  removedNetworks: string[];
}

/** Reclaims leases, ports and rules of containers that are gone (or exited without clean-up);
 *  with `removeUnused`, also removes user networks nobody uses (`network prune`). */
export async function pruneNetworks(db: DB, o: { removeUnused?: boolean } = {}, opts?: NetOptions): Promise<PruneResult> {
  const c = cfg(opts);
  const { links, gone, stale } = writeTx(db, () => {
    const gone = orphanContainerIds(db);
    const links: string[] = [];
    let resync = false;
    for (const id of gone) {
      const r = dropContainer(db, id);
      links.push(...r.links);
      resync ||= r.hadRules;
    }
    const stale = staleAttachedIds(db);
    for (const id of stale) {
      resync ||= portMappingsOfContainer(db, id).length > 0;
      setAttached(db, id, false);
    }
    if (resync) syncRules(db, c.nftTable);
    return { links, gone, stale };
  });
  await deleteLinks(links);
  const removed: string[] = [];
  if (o.removeUnused) {
    for (const n of listNetworkRows(db)) {
      if (n.is_default === 1 || countEndpoints(db, n.id) > 0) continue;
      try {
        await removeNetwork(db, n.id, opts);
        removed.push(n.name);
      } catch (err) {
        log('warn', 'network prune', { network: n.name, err: String(err) });
      }
    }
  }
  return { reclaimedContainers: gone, detachedContainers: stale, removedNetworks: removed };
}
