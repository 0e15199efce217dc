// Labs 4 and 5: a network namespace joined by a veth pair; a bridge, NAT and a published port.
// The facts come from the kernel's link, address and route tables (ip -j) and the nft ruleset.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { randomBytes } from 'node:crypto';
import { runScript, runToEnd } from '../runner.js';
import type { CheckInput, CheckList } from '../types.js';

interface IpLink {
  ifname: string;
  flags?: string[];
  master?: string;
  link_netnsid?: number;
  linkinfo?: { info_kind?: string };
  addr_info?: { family?: string; local?: string; prefixlen?: number }[];
}

function ipJson<T>(args: string[]): T | undefined {
  try {
    return JSON.parse(execFileSync('ip', ['-j', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })) as T;
  } catch {
    return undefined;
  }
}

function link(name: string, netns?: string): IpLink | undefined {
  const pre = netns ? ['-n', netns] : [];
  return ipJson<IpLink[]>([...pre, '-d', 'addr', 'show', 'dev', name])?.[0];
}

function hasAddr(l: IpLink | undefined, addr: string): boolean {
  return (l?.addr_info ?? []).some((a) => a.family === 'inet' && a.local === addr && a.prefixlen === 24);
}

const isUp = (l: IpLink | undefined) => (l?.flags ?? []).includes('UP');

async function runSetup(input: CheckInput, t: CheckList): Promise<void> {
  const run = runScript(input.script, [], input.workspace, input.env);
  const code = await runToEnd(run);
  t.output(run.output());
  t.expect(
    'your setup script succeeds',
    code === 0,
    `your script exited with code ${code}: see its output below (it runs with set -e semantics only if you ask for them)`,
  );
}

/** The netns, veth pair, addresses and routes both labs share. */
function checkNamespaceSide(input: CheckInput, t: CheckList, gateway: string): void {
  const ns = input.env['LAB_NETNS']!;
  const nsAddr = input.env['LAB_NS_ADDR']!;
  t.expect(
    `a network namespace named ${ns}`,
    existsSync(`/run/netns/${ns}`),
    `no /run/netns/${ns}: ip netns add ${ns} (it bind-mounts a new netns there)`,
  );
  const eth0 = link('eth0', ns);
  t.expect(
    `${ns} has an eth0`,
    eth0 !== undefined,
    `the namespace has no eth0: create a veth pair, move one end in (ip link set PEER netns ${ns}) and rename it (ip -n ${ns} link set PEER name eth0)`,
  );
  t.expect(
    'eth0 is one end of a veth pair',
    eth0?.linkinfo?.info_kind === 'veth',
    `eth0 in ${ns} is a ${eth0?.linkinfo?.info_kind ?? 'plain'} link, not a veth: ip link add ... type veth peer name ...`,
  );
  t.expect(`eth0 has ${nsAddr}/24`, hasAddr(eth0, nsAddr), `ip -n ${ns} addr add ${nsAddr}/24 dev eth0`);
  t.expect('eth0 is up', isUp(eth0), `ip -n ${ns} link set eth0 up`);
  t.expect(`lo is up in ${ns}`, isUp(link('lo', ns)), `a new netns starts with lo down: ip -n ${ns} link set lo up`);
  const routes = ipJson<{ dst?: string; gateway?: string }[]>(['-n', ns, 'route', 'show', 'default']) ?? [];
  t.expect(
    `${ns} has a default route via ${gateway}`,
    routes.some((r) => r.dst === 'default' && r.gateway === gateway),
    `ip -n ${ns} route add default via ${gateway}`,
    routes.map((r) => `${r.dst} via ${r.gateway ?? '-'}`).join(', ') || 'no default route',
  );
}

function ping(ns: string, addr: string): boolean {
  try {
    execFileSync('ip', ['netns', 'exec', ns, 'busybox', 'ping', '-c', '1', '-W', '2', addr], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Lab 4: setup.sh makes $LAB_NETNS, a veth pair $LAB_HOST_IF <-> eth0 in it, addresses and a default route. */
export async function checkVeth(input: CheckInput, t: CheckList): Promise<void> {
  await runSetup(input, t);
  const hostIf = input.env['LAB_HOST_IF']!;
  const hostAddr = input.env['LAB_HOST_ADDR']!;
  const host = link(hostIf);
  t.expect(
    `the host has a link ${hostIf}`,
    host !== undefined,
    `no link ${hostIf} in the host's namespace: ip link add ${hostIf} type veth peer name PEER`,
  );
  t.expect(
    `${hostIf} is a veth whose peer is in another namespace`,
    host?.linkinfo?.info_kind === 'veth' && host.link_netnsid !== undefined,
    `${hostIf} must be a veth with its peer moved into ${input.env['LAB_NETNS']} (ip link set PEER netns ${input.env['LAB_NETNS']})`,
  );
  t.expect(`${hostIf} has ${hostAddr}/24`, hasAddr(host, hostAddr), `ip addr add ${hostAddr}/24 dev ${hostIf}`);
  t.expect(`${hostIf} is up`, isUp(host), `ip link set ${hostIf} up`);
  checkNamespaceSide(input, t, hostAddr);
  t.expect(
    `${input.env['LAB_NETNS']} reaches ${hostAddr} over the pair`,
    ping(input.env['LAB_NETNS']!, hostAddr),
    'the links and addresses are there but no ping gets through: are both ends up, on the same /24?',
  );
}

interface NftRule {
  chain?: string;
  expr?: unknown[];
}
interface NftChain {
  name?: string;
  type?: string;
  hook?: string;
}

/** Which hooks of table `table` hold a rule whose expression mentions `what` (masquerade, dnat). */
export function nftHooksWith(rulesetJson: string, what: string): string[] {
  const items = (JSON.parse(rulesetJson) as { nftables?: Record<string, unknown>[] }).nftables ?? [];
  const chains = new Map<string, NftChain>();
  for (const i of items) if (i['chain']) chains.set((i['chain'] as NftChain).name ?? '', i['chain'] as NftChain);
  const hooks: string[] = [];
  for (const i of items) {
    const r = i['rule'] as NftRule | undefined;
    if (!r || !JSON.stringify(r.expr ?? []).includes(`"${what}"`)) continue;
    const c = chains.get(r.chain ?? '');
    if (c?.type === 'nat' && c.hook) hooks.push(c.hook);
  }
  return hooks;
}

async function tcpRead(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    let data = '';
    const s = connect({ host, port, timeout: 3000 });
    s.setEncoding('utf8');
    s.on('data', (d: string) => (data += d));
    s.on('end', () => resolve(data));
    s.on('timeout', () => {
      s.destroy();
      resolve(data);
    });
    s.on('error', () => resolve(data));
  });
}

/** Lab 5: setup.sh makes a bridge, the netns on it, NAT for the subnet and port $LAB_PORT -> $LAB_NS_ADDR:80. */
export async function checkBridge(input: CheckInput, t: CheckList): Promise<void> {
  await runSetup(input, t);
  const br = input.env['LAB_BRIDGE']!;
  const gw = input.env['LAB_HOST_ADDR']!;
  const hostIf = input.env['LAB_HOST_IF']!;
  const table = input.env['LAB_NFT_TABLE']!;
  const port = Number(input.env['LAB_PORT']);
  const bridge = link(br);
  t.expect(`a bridge ${br}`, bridge?.linkinfo?.info_kind === 'bridge', `no bridge ${br}: ip link add ${br} type bridge`);
  t.expect(
    `${br} has ${gw}/24 and is up`,
    hasAddr(bridge, gw) && isUp(bridge),
    `the bridge is the subnet's gateway: ip addr add ${gw}/24 dev ${br}; ip link set ${br} up`,
  );
  const host = link(hostIf);
  t.expect(
    `${hostIf} is a port of ${br}`,
    host?.master === br && isUp(host),
    `attach the host end of the veth pair to the bridge and bring it up: ip link set ${hostIf} master ${br} up`,
    `master: ${host?.master ?? 'none'}`,
  );
  checkNamespaceSide(input, t, gw);
  t.expect(
    `${input.env['LAB_NETNS']} reaches the bridge`,
    ping(input.env['LAB_NETNS']!, gw),
    'no ping from the namespace to the bridge address: is the bridge up, and the veth end a port of it?',
  );
  const forward = readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim();
  t.expect(
    'the host forwards IPv4 packets',
    forward === '1',
    'net.ipv4.ip_forward is 0: sysctl -w net.ipv4.ip_forward=1 (or write 1 to /proc/sys/net/ipv4/ip_forward)',
  );
  let ruleset = '';
  try {
    ruleset = execFileSync('nft', ['-j', 'list', 'table', 'ip', table], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
  } catch {
    /* no table */
  }
  t.expect(`an nft table ip ${table}`, ruleset !== '', `nft add table ip ${table}`);
  t.expect(
    'a masquerade rule in a postrouting nat chain',
    nftHooksWith(ruleset, 'masquerade').includes('postrouting'),
    `packets from ${input.env['LAB_SUBNET']} leave with the host's address only through source NAT: a chain { type nat hook postrouting priority srcnat; } with ip saddr ${input.env['LAB_SUBNET']} oifname != ${br} masquerade`,
  );
  const dnat = nftHooksWith(ruleset, 'dnat');
  t.expect(
    'a dnat rule in a prerouting nat chain',
    dnat.includes('prerouting'),
    `publish the port for traffic from outside: a chain { type nat hook prerouting priority dstnat; } with tcp dport ${port} dnat to ${input.env['LAB_NS_ADDR']}:80`,
  );
  t.expect(
    'a dnat rule in an output nat chain',
    dnat.includes('output'),
    `connections the host itself opens skip prerouting: add the same dnat in a chain { type nat hook output priority dstnat; }`,
  );
  // a real connection: a server in the namespace, the host connecting to the published port
  const nonce = `lab5-${randomBytes(4).toString('hex')}`;
  const server = spawn(
    'ip',
    [
      'netns',
      'exec',
      input.env['LAB_NETNS']!,
      process.execPath,
      '-e',
      `require('net').createServer((s)=>s.end(${JSON.stringify(nonce + '\n')})).listen(80,'0.0.0.0',()=>console.log('up'))`,
    ],
    { stdio: ['ignore', 'pipe', 'ignore'] },
  );
  try {
    await new Promise<void>((resolve) => {
      server.stdout.once('data', () => resolve());
      setTimeout(resolve, 5000);
    });
    const got = await tcpRead(gw, port);
    t.expect(
      `a connection to ${gw}:${port} reaches port 80 in ${input.env['LAB_NETNS']}`,
      got.trim() === nonce,
      `the rules are there but a connection to ${gw}:${port} did not reach the server the checker started on ${input.env['LAB_NS_ADDR']}:80: check the dnat rules' port and address (nft list table ip ${table})`,
    );
  } finally {
    if (server.pid !== undefined) {
      try {
        process.kill(server.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }
}
