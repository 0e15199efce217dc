// The runtime's side of networking: what the spec needs (namespace, /etc files) and the hook
// between the helper's pid report and go. Replaced by the network module's plan (issue 4).
import type { Context } from '../cli/context.js';
import type { ContainerRow } from '../store/containers.js';
import type { ContainerConfig } from './config.js';

export interface AttachedNetwork {
  netns: 'host' | { path: string } | undefined;
  etcFiles: { destination: string; source: string }[];
  attach(pid: number): Promise<void>;
  release(): Promise<void>;
}

export async function containerNetwork(_ctx: Context, _row: ContainerRow, _config: ContainerConfig): Promise<AttachedNetwork> {
  return { netns: undefined, etcFiles: [], attach: async () => undefined, release: async () => undefined };
}
