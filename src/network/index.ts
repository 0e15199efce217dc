// The network module's API for the runtime and the CLI. Calling order (docs/networking.md):
//   parseNetworkRequest (pure, before anything is made)
//   insertContainer (runtime)  ->  prepareContainerNetwork (db + /etc files, returns the plan)
//   helper reports pid         ->  attachContainerNetwork (links, addresses, nftables)  ->  go
//   container exits / stop     ->  detachContainerNetwork (rules away, lease kept)
//   failed start               ->  detachContainerNetwork (as a stop: lease and ports kept)
//   rm                         ->  releaseContainerNetwork (rules, leases, member hosts; links die with the netns)
//   system prune               ->  pruneNetworks
export {
  parseNetworkRequest,
  validateHostname,
  type NetworkRequest,
  type NetworkRequestInput,
  type NetworkKind,
} from './request.js';
export { netConfig, type NetConfig } from './config.js';
export { formatMapping, parseExposed, type PortMapping } from './ports.js';
export { DEFAULT_NETWORK, type PlannedEndpoint, type NetworkPlan, type NetOptions } from './common.js';
export {
  findNetwork,
  createNetwork,
  removeNetwork,
  listNetworks,
  inspectNetwork,
  type CreateNetworkOptions,
  type NetworkSummary,
} from './networks.js';
export {
  prepareContainerNetwork,
  attachContainerNetwork,
  detachContainerNetwork,
  releaseContainerNetwork,
  connectNetwork,
  disconnectNetwork,
  containerPorts,
  containerNetworkHandle,
  type AttachTiming,
  type ContainerNetworkHandle,
} from './container.js';
export { pruneNetworks, type PruneResult } from './prune.js';
export { toMapping } from './leases.js';
import { cfg, type NetOptions } from './common.js';
import { deleteTable } from './nat.js';

/** Removes the nftables table (tests, uninstall). */
export function removeRuleTable(opts?: NetOptions): void {
  deleteTable(cfg(opts).nftTable);
}
