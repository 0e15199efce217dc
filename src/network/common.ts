// Types and small helpers shared by the network module's parts.
import { existsSync } from 'node:fs';
import { type ContainerRow } from '../store/containers.js';
import { netConfig, type NetConfig } from './config.js';
import { type PortMapping } from './ports.js';
import { type NetworkKind } from './request.js';

export const DEFAULT_NETWORK = 'bridge';
export const RESERVED = new Set(['bridge', 'host', 'none', 'default']);

export interface PlannedEndpoint {
  networkId: string;
  networkName: string;
  bridge: string;
  subnet: string;
  gateway: string;
  prefix: number;
  address: string;
  mac: string;
  hostIf: string;
  ifname: string;
}

/** What the runtime needs to build the spec and, later, to attach. JSON-serializable. */
export interface NetworkPlan {
  containerId: string;
  kind: NetworkKind;
  /** undefined: a new network namespace; 'host': none listed; path: join another container's. */
  netns: 'host' | { path: string } | undefined;
  /** The UTS hostname the container gets. */
  hostname: string;
  /** Bind mounts over the init layer's mount points (destination inside the container). */
  etcFiles: { destination: string; source: string }[];
  endpoints: PlannedEndpoint[];
  ports: PortMapping[];
  warnings: string[];
}

export interface NetOptions {
  config?: NetConfig;
}

export const now = () => new Date().toISOString();

export function cfg(opts?: NetOptions): NetConfig {
  return opts?.config ?? netConfig();
}

// ---------------------------------------------------------------- containers

export function livePid(row: ContainerRow): number | undefined {
  if (row.pid === null || (row.state !== 'running' && row.state !== 'paused')) return undefined;
  return existsSync(`/proc/${row.pid}`) ? row.pid : undefined;
}
