// Networks, their leases (one endpoint per container and network), published ports, and each
// container's network settings (mode, hostname, extra hosts, where its /etc files live).
// Leases have no foreign key to containers on purpose: a crash between allocation and start,
// or an `rm` that lost its network clean-up, leaves a lease whose container row is gone; the
// next allocation on that network and `system prune` reclaim it.
export const m002 = `
CREATE TABLE networks (
  id          TEXT PRIMARY KEY,              -- 64 hex characters
  name        TEXT NOT NULL UNIQUE,
  driver      TEXT NOT NULL DEFAULT 'bridge',
  bridge      TEXT NOT NULL UNIQUE,          -- Linux bridge interface name
  subnet      TEXT NOT NULL,                 -- IPv4 CIDR, e.g. 10.89.0.0/24
  gateway     TEXT NOT NULL,                 -- the bridge's own address
  is_default  INTEGER NOT NULL DEFAULT 0,    -- 1 for the predefined 'bridge' network
  internal    INTEGER NOT NULL DEFAULT 0,    -- 1: no masquerade to the outside
  labels      TEXT NOT NULL DEFAULT '{}',
  created_at  TEXT NOT NULL
);

CREATE TABLE endpoints (
  network_id   TEXT NOT NULL REFERENCES networks(id) ON DELETE RESTRICT,
  container_id TEXT NOT NULL,                -- no FK: see above
  address      TEXT NOT NULL,                -- dotted IPv4
  addr_int     INTEGER NOT NULL,             -- the same as a 32-bit number, for allocation
  mac          TEXT NOT NULL,
  host_if      TEXT NOT NULL UNIQUE,         -- host end of the veth pair
  ifname       TEXT NOT NULL,                -- name inside the container: eth0, eth1, ...
  aliases      TEXT NOT NULL DEFAULT '[]',   -- JSON array of extra names on this network
  created_at   TEXT NOT NULL,
  PRIMARY KEY (network_id, container_id),
  UNIQUE (network_id, addr_int)
);
CREATE INDEX endpoints_container ON endpoints(container_id);

CREATE TABLE port_mappings (
  container_id   TEXT NOT NULL,
  proto          TEXT NOT NULL,              -- tcp | udp
  host_ip        TEXT NOT NULL,              -- '' = every host address
  host_port      INTEGER NOT NULL,
  container_port INTEGER NOT NULL,
  PRIMARY KEY (proto, host_port, host_ip)
);
CREATE INDEX port_mappings_container ON port_mappings(container_id);

CREATE TABLE net_settings (
  container_id TEXT PRIMARY KEY,
  mode         TEXT NOT NULL,                -- bridge | none | host | container:<id> | <network name>
  hostname     TEXT NOT NULL,
  extra_hosts  TEXT NOT NULL DEFAULT '[]',   -- JSON [[name, address], ...] from --add-host
  dir          TEXT NOT NULL,                -- container dir holding hosts, resolv.conf, hostname
  attached     INTEGER NOT NULL DEFAULT 0,   -- 1 while its veths and nftables rules are in place
  created_at   TEXT NOT NULL
);
`;
