// Knobs read from the environment, so tests (and unusual hosts) can use bridges, subnets and
// an nftables table of their own without touching the defaults.
export interface NetConfig {
  /** Linux bridge of the default network `bridge` (TSCONTAINER_BRIDGE, default tsc0). */
  defaultBridge: string;
  /** Subnet of the default network (TSCONTAINER_BRIDGE_SUBNET); else the first free 10.89.N.0/24. */
  defaultSubnet: string | undefined;
  /** nftables table (family ip) holding every rule of ours (TSCONTAINER_NFT_TABLE, default tscontainer). */
  nftTable: string;
  /** Prefix of host-side veth names (TSCONTAINER_VETH_PREFIX, default "vtsc", at most 5 characters). */
  vethPrefix: string;
  /** Nameservers written when the host has only loopback ones (TSCONTAINER_FALLBACK_DNS, comma list). */
  fallbackDns: string[];
  /** Host resolv.conf and hosts to start from (TSCONTAINER_HOST_RESOLV_CONF / TSCONTAINER_HOST_HOSTS). */
  hostResolvConf: string;
  hostHosts: string;
}

const IFNAME = /^[a-zA-Z0-9_.-]{1,15}$/;
const TABLE = /^[a-zA-Z][a-zA-Z0-9_-]{0,63}$/;

export function netConfig(env: NodeJS.ProcessEnv = process.env): NetConfig {
  const bridge = env['TSCONTAINER_BRIDGE'] || 'tsc0';
  const table = env['TSCONTAINER_NFT_TABLE'] || 'tscontainer';
  const prefix = env['TSCONTAINER_VETH_PREFIX'] || 'vtsc';
  if (!IFNAME.test(bridge)) throw new Error(`TSCONTAINER_BRIDGE="${bridge}" is not a valid interface name`);
  if (!TABLE.test(table)) throw new Error(`TSCONTAINER_NFT_TABLE="${table}" is not a valid nftables table name`);
  if (!/^[a-z][a-z0-9]{0,4}$/.test(prefix))
    throw new Error(`TSCONTAINER_VETH_PREFIX="${prefix}" must be 1-5 lower-case letters or digits`);
  return {
    defaultBridge: bridge,
    defaultSubnet: env['TSCONTAINER_BRIDGE_SUBNET'] || undefined,
    nftTable: table,
    vethPrefix: prefix,
    fallbackDns: (env['TSCONTAINER_FALLBACK_DNS'] ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    hostResolvConf: env['TSCONTAINER_HOST_RESOLV_CONF'] || '/etc/resolv.conf',
    hostHosts: env['TSCONTAINER_HOST_HOSTS'] || '/etc/hosts',
  };
}
