// nftables: every rule of ours lives in one table (family ip, TSCONTAINER_NFT_TABLE, default
// `tscontainer`). The table's content is a pure function of the database (networks, and the
// published ports of attached containers), and each change rewrites it with one `nft -f -`
// batch, which the kernel applies atomically. The caller holds the SQLite write lock while
// reading the state and running nft, so two processes never interleave their rewrites.
import type { DB } from '../store/db.js';
import {
  attachedContainerIds,
  endpointsOfContainer,
  getNetworkById,
  listNetworkRows,
  portMappingsOfContainer,
} from '../store/networks.js';
import { SystemError } from '../util/errors.js';
import { execInputSync, firstLine } from '../util/exec.js';

export interface NatNetwork {
  bridge: string;
  subnet: string;
  internal: boolean;
}

export interface NatPort {
  proto: string;
  hostIp: string;
  hostPort: number;
  address: string;
  containerPort: number;
}

export interface NatState {
  table: string;
  networks: NatNetwork[];
  ports: NatPort[];
}

const q = (s: string) => `"${s}"`;

/** The complete nft script for a state: declare, flush, and refill the table. */
export function buildRuleset(s: NatState): string {
  const t = `ip ${s.table}`;
  const publish = s.ports.map((p) => {
    const dst = p.hostIp ? `ip daddr ${p.hostIp} ` : '';
    return `    ${dst}${p.proto} dport ${p.hostPort} counter dnat to ${p.address}:${p.containerPort}`;
  });
  const post: string[] = [];
  const fwd: string[] = [];
  for (const n of s.networks) {
    // Published ports reached from the host's loopback: DNAT in output keeps source 127.0.0.1,
    // which route_localnet lets out onto the bridge; masquerade makes replies come back to us.
    post.push(`    oifname ${q(n.bridge)} ip saddr 127.0.0.0/8 counter masquerade`);
    // Hairpin: a container reaching a published port of its own network through a host address.
    post.push(`    oifname ${q(n.bridge)} ip saddr ${n.subnet} ct status dnat counter masquerade`);
    if (!n.internal) post.push(`    ip saddr ${n.subnet} oifname != ${q(n.bridge)} counter masquerade`);
    const others = s.networks.filter((o) => o.bridge !== n.bridge).map((o) => q(o.bridge));
    if (n.internal) {
      fwd.push(`    iifname ${q(n.bridge)} oifname != ${q(n.bridge)} counter drop`);
      fwd.push(`    oifname ${q(n.bridge)} iifname != ${q(n.bridge)} counter drop`);
    } else if (others.length > 0) {
      // Isolation: nothing is routed from one of our bridges to another.
      fwd.push(`    iifname ${q(n.bridge)} oifname { ${others.join(', ')} } counter drop`);
    }
  }
  return [
    `table ${t} {}`,
    `flush table ${t}`,
    `table ${t} {`,
    `  chain prerouting {`,
    `    type nat hook prerouting priority dstnat; policy accept;`,
    `    fib daddr type local jump publish`,
    `  }`,
    `  chain output {`,
    `    type nat hook output priority -100; policy accept;`,
    `    fib daddr type local jump publish`,
    `  }`,
    `  chain publish {`,
    ...publish,
    `  }`,
    `  chain postrouting {`,
    `    type nat hook postrouting priority srcnat; policy accept;`,
    ...post,
    `  }`,
    `  chain forward {`,
    `    type filter hook forward priority filter; policy accept;`,
    ...fwd,
    `  }`,
    `}`,
    '',
  ].join('\n');
}

/** Reads what the table must hold. Only bridge networks count; ports of attached containers only. */
export function natState(db: DB, table: string): NatState {
  const networks = listNetworkRows(db).map((n) => ({ bridge: n.bridge, subnet: n.subnet, internal: n.internal === 1 }));
  const ports: NatPort[] = [];
  for (const id of attachedContainerIds(db)) {
    const eps = endpointsOfContainer(db, id);
    // Published ports go to the container's first endpoint that lives on a non-internal network.
    const ep = eps.find((e) => getNetworkById(db, e.network_id)?.internal === 0) ?? eps[0];
    if (!ep) continue;
    for (const p of portMappingsOfContainer(db, id))
      ports.push({
        proto: p.proto,
        hostIp: p.host_ip,
        hostPort: p.host_port,
        address: ep.address,
        containerPort: p.container_port,
      });
  }
  ports.sort((a, b) => (a.hostIp === '' ? 1 : 0) - (b.hostIp === '' ? 1 : 0) || a.hostPort - b.hostPort);
  return { table, networks, ports };
}

export function applyRuleset(text: string): void {
  const r = execInputSync('nft', ['-f', '-'], text);
  if (r.code !== 0) throw new SystemError(`cannot update the nftables rules: ${firstLine(r.stderr) || `nft exited ${r.code}`}`);
}

/** Rewrites the table from the database. Call inside writeTx. Without networks the table is deleted. */
export function syncRules(db: DB, table: string): void {
  const s = natState(db, table);
  if (s.networks.length === 0) {
    deleteTable(table);
    return;
  }
  applyRuleset(buildRuleset(s));
}

export function deleteTable(table: string): void {
  // "table X {}" makes the delete succeed whether or not it existed.
  applyRuleset(`table ip ${table} {}\ndelete table ip ${table}\n`);
}

/** Packet counters of the postrouting masquerade rules, by bridge (for tests and inspect). */
export function masqueradeCounters(table: string): { rule: string; packets: number }[] {
  const r = execInputSync('nft', ['list', 'chain', 'ip', table, 'postrouting'], '');
  if (r.code !== 0) return [];
  const out: { rule: string; packets: number }[] = [];
  for (const line of r.stdout.split('\n')) {
    const m = /^\s*(.*?)\s*counter packets (\d+) bytes \d+\s*masquerade/.exec(line);
    if (m) out.push({ rule: m[1]!, packets: Number(m[2]) });
  }
  return out;
}
