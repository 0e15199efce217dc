// The runtime's side of networking: turn the container's stored network options into the
// network module's plan (namespace, /etc files, hostname), attach between the helper's pid
// report and go, and give everything back on failure, exit or removal.
import type { Context } from './context.js';
import {
  containerNetworkHandle,
  detachContainerNetwork,
  parseExposed,
  parseNetworkRequest,
  releaseContainerNetwork,
  type NetworkRequestInput,
} from '../network/index.js';
import type { ContainerRow } from '../store/containers.js';
import type { ContainerConfig } from './config.js';

export interface AttachedNetwork {
  netns: 'host' | { path: string } | undefined;
  etcFiles: { destination: string; source: string }[];
  hostname: string;
  /** Network plan warnings (e.g. -p dropped with --network host): start prints them on stderr. */
  warnings: string[];
  attach(pid: number): Promise<void>;
  release(): Promise<void>;
}

export function networkInput(config: Pick<ContainerConfig, 'network' | 'exposedPorts' | 'hostname'>): NetworkRequestInput {
  const n = config.network;
  return {
    mode: n.mode,
    publish: n.publish,
    publishAll: n.publishAll,
    exposedPorts: config.exposedPorts,
    dns: n.dns,
    dnsSearch: n.dnsSearch,
    dnsOptions: n.dnsOptions,
    addHosts: n.addHosts,
    // Only a --hostname the user gave: --network container:X refuses one, host uses the host's.
    hostname: config.hostname || undefined,
    aliases: n.aliases,
  };
}

/**
 * Validates the network flags and every port of `exposedPorts` (pure; `prepareCreate` passes the
 * --expose values): called before the image is resolved and anything is created.
 */
export function validateNetwork(config: Pick<ContainerConfig, 'network' | 'exposedPorts' | 'hostname'>): void {
  for (const p of config.exposedPorts) parseExposed(p);
  parseNetworkRequest(networkInput(config));
}

/** Leases an address and ports (kept across restarts) and writes the /etc files. */
export async function containerNetwork(ctx: Context, row: ContainerRow, config: ContainerConfig): Promise<AttachedNetwork> {
  const db = ctx.db();
  const h = containerNetworkHandle(db, row.id, ctx.layout.container(row.id), networkInput(config));
  return {
    netns: h.netns,
    etcFiles: h.etcFiles,
    hostname: h.hostname,
    warnings: h.warnings,
    attach: async (pid) => {
      await h.attach(pid);
    },
    // A failed start gives back its rules but keeps lease and ports, as a stopped container does.
    release: () => h.detach(),
  };
}

/** The container stopped: its rules go; the lease and host ports stay for the next start. */
export function detachNetwork(ctx: Context, id: string): Promise<void> {
  return detachContainerNetwork(ctx.db(), id);
}

/** rm (the container is not running): lease, ports, rules, veths and the /etc/hosts entries in other members go. */
export function releaseNetwork(ctx: Context, id: string): Promise<void> {
  return releaseContainerNetwork(ctx.db(), id, undefined, { exited: true });
}
