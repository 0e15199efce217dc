// The network module against the real kernel (root): bridges, veths, addresses, nftables.
// "Containers" are processes in network namespaces of their own (unshare), attached exactly as
// the runtime attaches a container's blocked init. Traffic goes only to loopback and to the
// namespaces made here. Every bridge, veth, namespace, table and lease is removed afterwards.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { createSocket } from 'node:dgram';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openDb, type DB } from '../../src/store/db.js';
import { insertContainer, deleteContainer } from '../../src/store/containers.js';
import {
  attachContainerNetwork,
  connectNetwork,
  createNetwork,
  disconnectNetwork,
  parseNetworkRequest,
  prepareContainerNetwork,
  pruneNetworks,
  releaseContainerNetwork,
  removeNetwork,
  removeRuleTable,
  type AttachTiming,
  type NetConfig,
  type NetworkPlan,
  type NetworkRequestInput,
} from '../../src/network/index.js';
import { masqueradeCounters } from '../../src/network/nat.js';
import {
  deleteLinkIfPresent,
  fakeContainer,
  freeTestSubnets,
  killAll,
  linkNames,
  nftTables,
  sh,
  type FakeContainer,
} from './support/netns.js';

function whyNot(): string | undefined {
  if (process.platform !== 'linux') return 'needs Linux';
  if (process.getuid?.() !== 0) return 'needs root';
  for (const bin of ['ip', 'nft', 'nsenter', 'unshare', 'busybox'])
    if (sh('sh', ['-c', `command -v ${bin}`]).code !== 0) return `needs ${bin}`;
  return undefined;
}
const skip = whyNot();
const tag = randomBytes(3).toString('hex');
const [netA, netB, netOut] = skip ? [0, 0, 0] : freeTestSubnets(3);
const config: NetConfig = {
  defaultBridge: `tsct${tag}a`,
  defaultSubnet: `10.199.${netA}.0/24`,
  nftTable: `tsct_${tag}`,
  vethPrefix: 'tsctv',
  fallbackDns: [],
  hostResolvConf: '/nonexistent',
  hostHosts: '/etc/hosts',
};
const opts = { config };
const userBridge = `tsct${tag}b`;
const outsideHostIf = `tsct${tag}o`;

describe.skipIf(skip !== undefined)(`networking on the real kernel${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let dir: string;
  let db: DB;
  const made: string[] = []; // container ids of this file
  const timings: AttachTiming[] = [];

  function addContainer(name: string): { id: string; dir: string } {
    const id = randomBytes(32).toString('hex');
    const cdir = join(dir, 'containers', id);
    mkdirSync(cdir, { recursive: true });
    insertContainer(db, {
      id,
      name,
      image_id: 'img',
      image_ref: 'busybox',
      config: '{}',
      driver: 'vfs',
      init_layer: 'i',
      rw_layer: 'r',
      created_at: new Date().toISOString(),
    });
    db.prepare(`UPDATE containers SET state = 'running' WHERE id = ?`).run(id);
    made.push(id);
    return { id, dir: cdir };
  }

  /** prepare + spawn a namespace (with its /etc files mounted) + attach, as the runtime does. */
  async function start(
    name: string,
    req: NetworkRequestInput = {},
  ): Promise<{ id: string; plan: NetworkPlan; ns: FakeContainer; ip: string }> {
    const c = addContainer(name);
    // --dns 127.0.0.1: any lookup inside stays in the namespace's own loopback
    const plan = prepareContainerNetwork(db, c.id, c.dir, parseNetworkRequest({ dns: ['127.0.0.1'], ...req }), opts);
    const ns = await fakeContainer(
      plan.etcFiles.filter((f) => f.destination !== '/etc/hostname').map((f) => [f.source, f.destination]),
    );
    db.prepare('UPDATE containers SET pid = ? WHERE id = ?').run(ns.pid, c.id);
    timings.push(await attachContainerNetwork(db, plan, ns.pid, opts));
    return { id: c.id, plan, ns, ip: plan.endpoints[0]?.address ?? '' };
  }

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'tsct-net-real-'));
    db = openDb(join(dir, 'state.db'));
    db.prepare(`INSERT INTO images (id, config, top_layer, size, created_at) VALUES ('img', '{}', NULL, 0, '')`).run();
  });

  afterEach(async () => {
    for (const id of made.splice(0)) {
      await releaseContainerNetwork(db, id, opts);
      deleteContainer(db, id);
    }
    await killAll();
    deleteLinkIfPresent(outsideHostIf);
    expect(db.prepare('SELECT count(*) AS n FROM endpoints').get()).toEqual({ n: 0 });
    expect(db.prepare('SELECT count(*) AS n FROM port_mappings').get()).toEqual({ n: 0 });
  });

  afterAll(async () => {
    await killAll();
    for (const l of [config.defaultBridge, userBridge, outsideHostIf]) deleteLinkIfPresent(l);
    try {
      removeRuleTable(opts);
    } catch {
      /* reported below */
    }
    db?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
    const links = linkNames().filter((n) => n.startsWith(`tsct${tag}`) || n.startsWith('tsctv'));
    const tables = nftTables().filter((t) => t.includes(config.nftTable));
    if (timings.length > 0) {
      const tot = timings.map((t) => t.totalMs).sort((a, b) => a - b);
      console.log(
        `attach timings (ms, n=${tot.length}): median ${tot[Math.floor(tot.length / 2)]!.toFixed(1)}, min ${tot[0]!.toFixed(1)}, max ${tot[tot.length - 1]!.toFixed(1)}; first: ${JSON.stringify(timings[0])}`,
      );
    }
    expect(links).toEqual([]);
    expect(tables).toEqual([]);
  });

  it('gives each container eth0 with an address, a default route and lo; containers reach the gateway and each other', async () => {
    const a = await start('a');
    const b = await start('b');
    const gw = a.plan.endpoints[0]!.gateway;
    expect(gw).toBe(`10.199.${netA}.1`);
    expect(a.ip).toBe(`10.199.${netA}.2`);
    expect(b.ip).toBe(`10.199.${netA}.3`);
    const addr = JSON.parse(a.ns.exec(['ip', '-j', 'addr', 'show']).stdout) as {
      ifname: string;
      operstate: string;
      mtu: number;
      addr_info: { local: string; prefixlen: number }[];
    }[];
    expect(addr.map((l) => l.ifname).sort()).toEqual(['eth0', 'lo']);
    const eth0 = addr.find((l) => l.ifname === 'eth0')!;
    expect(eth0.addr_info.some((i) => i.local === a.ip && i.prefixlen === 24)).toBe(true);
    expect(eth0.mtu).toBe(Number(readFileSync(`/sys/class/net/${config.defaultBridge}/mtu`, 'utf8')));
    expect(a.ns.exec(['ip', 'route', 'show', 'default']).stdout).toContain(`default via ${gw} dev eth0`);
    expect(readFileSync(`/proc/sys/net/ipv4/conf/${config.defaultBridge}/route_localnet`, 'utf8').trim()).toBe('1');
    expect(readFileSync(`/sys/class/net/${a.plan.endpoints[0]!.hostIf}/master/uevent`, 'utf8')).toContain(
      `INTERFACE=${config.defaultBridge}`,
    );

    expect(a.ns.exec(['busybox', 'ping', '-c1', '-W2', gw]).code).toBe(0);
    expect(a.ns.exec(['busybox', 'ping', '-c1', '-W2', b.ip]).code).toBe(0);
    expect(b.ns.exec(['busybox', 'ping', '-c1', '-W2', a.ip]).code).toBe(0);
    expect(a.ns.exec(['busybox', 'ping', '-c1', '-W2', '127.0.0.1']).code).toBe(0); // lo is up

    // rm: the veth goes, the lease goes
    const hostIf = a.plan.endpoints[0]!.hostIf;
    await releaseContainerNetwork(db, a.id, opts);
    expect(linkNames()).not.toContain(hostIf);
    expect(a.ns.exec(['ip', '-br', 'link']).stdout).not.toContain('eth0');
  });

  it('publishes TCP and UDP ports reachable from the host through 127.0.0.1 and through the bridge address', async () => {
    const [tcpPort, udpPort] = [20000 + Math.floor(Math.random() * 5000), 25000 + Math.floor(Math.random() * 5000)];
    const web = await start('web', { publish: [`${tcpPort}:80`, `${udpPort}:53/udp`] });
    // servers inside the namespace: node, so the test controls what they answer
    const server = `
      const net = require('net'), dgram = require('dgram');
      net.createServer((s) => s.end('hello from ' + s.remoteAddress + '\\n')).listen(80, '0.0.0.0');
      const u = dgram.createSocket('udp4');
      u.on('message', (m, r) => u.send('pong ' + m, r.port, r.address));
      u.bind(53, '0.0.0.0', () => console.log('ready'));
      setTimeout(() => process.exit(0), 30000);`;
    const { spawn } = await import('node:child_process');
    const srv = spawn('nsenter', [`--net=/proc/${web.ns.pid}/ns/net`, process.execPath, '-e', server], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      await new Promise<void>((r) => srv.stdout!.once('data', () => r()));
      const gw = web.plan.endpoints[0]!.gateway;
      for (const host of ['127.0.0.1', gw]) {
        const text = await tcpGet(host, tcpPort);
        expect(text).toMatch(/^hello from /);
        expect(await udpAsk(host, udpPort, 'ping')).toBe('pong ping');
      }
      // the rule names the container's address; the DNAT counters moved
      const rules = sh('nft', ['list', 'chain', 'ip', config.nftTable, 'publish']).stdout;
      expect(rules).toContain(`tcp dport ${tcpPort} counter packets`);
      expect(rules).toContain(`dnat to ${web.ip}:80`);
      expect(rules).not.toMatch(new RegExp(`tcp dport ${tcpPort} counter packets 0 `));
    } finally {
      srv.kill('SIGKILL');
    }
    await releaseContainerNetwork(db, web.id, opts);
    expect(sh('nft', ['list', 'chain', 'ip', config.nftTable, 'publish']).stdout).not.toContain(`dport ${tcpPort}`);
  });

  it('refuses a host port another container publishes or a host process listens on, before anything starts', async () => {
    const port = 30000 + Math.floor(Math.random() * 2000);
    await start('holder', { publish: [`${port}:80`] });
    const c = addContainer('late');
    expect(() => prepareContainerNetwork(db, c.id, c.dir, parseNetworkRequest({ publish: [`${port}:8080`] }), opts)).toThrow(
      `host port 0.0.0.0:${port}/tcp is already in use by container holder`,
    );
    const listener = (await import('node:net')).createServer();
    await new Promise<void>((r) => listener.listen(0, '127.0.0.1', () => r()));
    try {
      const p = (listener.address() as { port: number }).port;
      expect(() =>
        prepareContainerNetwork(db, c.id, c.dir, parseNetworkRequest({ publish: [`127.0.0.1:${p}:80`] }), opts),
      ).toThrow(`host port 127.0.0.1:${p}/tcp is already in use by a process on this host`);
    } finally {
      listener.close();
    }
  });

  it('isolates user networks from each other and resolves member names through /etc/hosts', async () => {
    await createNetwork(db, { name: 'appnet', subnet: `10.199.${netB}.0/24`, bridgeName: userBridge }, opts);
    await expect(createNetwork(db, { name: 'clash', subnet: `10.199.${netB}.128/25` }, opts)).rejects.toThrow(
      /overlaps network appnet/,
    );
    const other = await start('other'); // default network
    const dbc = await start('db', { mode: 'appnet', aliases: ['database'] });
    const app = await start('app', { mode: 'appnet' });
    expect(dbc.ip).toBe(`10.199.${netB}.2`);

    // same network: by address and by name (the bind-mounted hosts file was rewritten in place)
    expect(app.ns.exec(['busybox', 'ping', '-c1', '-W2', dbc.ip]).code).toBe(0);
    expect(app.ns.exec(['busybox', 'ping', '-c1', '-W2', 'db'], { mount: true }).code).toBe(0);
    expect(dbc.ns.exec(['busybox', 'ping', '-c1', '-W2', 'app'], { mount: true }).code).toBe(0); // joined after db started
    expect(app.ns.exec(['cat', '/etc/hosts'], { mount: true }).stdout).toContain(`${dbc.ip}\tdb database`);
    // other network: no name, no route through the host
    expect(other.ns.exec(['cat', '/etc/hosts'], { mount: true }).stdout).not.toMatch(/\bdb\b/);
    expect(other.ns.exec(['busybox', 'ping', '-c1', '-W1', dbc.ip]).code).not.toBe(0);
    expect(app.ns.exec(['busybox', 'ping', '-c1', '-W1', other.ip]).code).not.toBe(0);
    const fwd = sh('nft', ['list', 'chain', 'ip', config.nftTable, 'forward']).stdout;
    expect(fwd).toMatch(
      new RegExp(`iifname "${config.defaultBridge}" oifname (\\{ )?"${userBridge}"( \\})? counter packets [1-9]`),
    );

    await expect(removeNetwork(db, 'appnet', opts)).rejects.toThrow('network appnet is in use by containers db, app');

    // connect / disconnect a running container
    const ep = await connectNetwork(db, 'appnet', other.id, {}, opts);
    expect(ep.ifname).toBe('eth1');
    expect(other.ns.exec(['busybox', 'ping', '-c1', '-W2', dbc.ip]).code).toBe(0);
    expect(other.ns.exec(['busybox', 'ping', '-c1', '-W2', 'db'], { mount: true }).code).toBe(0);
    expect(app.ns.exec(['cat', '/etc/hosts'], { mount: true }).stdout).toContain(`${ep.address}\tother`);
    await disconnectNetwork(db, 'appnet', other.id, opts);
    expect(other.ns.exec(['ip', '-br', 'link']).stdout).not.toContain('eth1');
    expect(app.ns.exec(['cat', '/etc/hosts'], { mount: true }).stdout).not.toContain('other');

    // members leave: names go from the others' hosts files
    await releaseContainerNetwork(db, dbc.id, opts);
    expect(app.ns.exec(['cat', '/etc/hosts'], { mount: true }).stdout).not.toContain('database');
    await releaseContainerNetwork(db, app.id, opts);
    await removeNetwork(db, 'appnet', opts);
    expect(linkNames()).not.toContain(userBridge);
  });

  it('masquerades traffic leaving the bridge subnet (checked with an "outside" namespace of our own)', async () => {
    const c = await start('masq');
    const outside = await fakeContainer();
    const outIp = `10.199.${netOut}.2`;
    expect(
      sh(
        'ip',
        ['-batch', '-'],
        [
          `link add ${outsideHostIf} type veth peer name eth0 netns ${outside.pid}`,
          `addr add 10.199.${netOut}.1/24 dev ${outsideHostIf}`,
          `link set ${outsideHostIf} up`,
        ].join('\n') + '\n',
      ).code,
    ).toBe(0);
    sh(
      'nsenter',
      [`--net=/proc/${outside.pid}/ns/net`, 'ip', '-batch', '-'],
      `link set lo up\naddr add ${outIp}/24 dev eth0\nlink set eth0 up\n`,
    );
    const before = counterFor(`ip saddr 10.199.${netA}.0/24 oifname != "${config.defaultBridge}"`);
    // The outside namespace has no route to the container subnet: replies only arrive if the
    // source was rewritten to the host's address on its link.
    expect(c.ns.exec(['busybox', 'ping', '-c1', '-W2', outIp]).code).toBe(0);
    const after = counterFor(`ip saddr 10.199.${netA}.0/24 oifname != "${config.defaultBridge}"`);
    expect(after).toBeGreaterThan(before);
    deleteLinkIfPresent(outsideHostIf);
  });

  it('refuses to configure a pid that lives in the host network namespace', async () => {
    const c = addContainer('guard');
    const plan = prepareContainerNetwork(db, c.id, c.dir, parseNetworkRequest({}), opts);
    await expect(attachContainerNetwork(db, plan, process.pid, opts)).rejects.toThrow(/shares the host's network namespace/);
    expect(linkNames()).not.toContain(plan.endpoints[0]!.hostIf);
  });

  it('prune reclaims leases and rules of containers whose rows vanished (crash between allocation and start)', async () => {
    const port = 33000 + Math.floor(Math.random() * 2000);
    const c = await start('crashy', { publish: [`${port}:80`] });
    deleteContainer(db, c.id);
    made.splice(made.indexOf(c.id), 1);
    const r = await pruneNetworks(db, {}, opts);
    expect(r.reclaimedContainers).toEqual([c.id]);
    expect(sh('nft', ['list', 'chain', 'ip', config.nftTable, 'publish']).stdout).not.toContain(`dport ${port}`);
    expect(linkNames()).not.toContain(c.plan.endpoints[0]!.hostIf);
  });
});

function counterFor(prefix: string): number {
  const hit = masqueradeCounters(config.nftTable).find((c) => c.rule.startsWith(prefix));
  if (!hit) throw new Error(`no masquerade rule starting with ${prefix}: ${JSON.stringify(masqueradeCounters(config.nftTable))}`);
  return hit.packets;
}

function tcpGet(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s: Socket = connect({ host, port });
    let data = '';
    s.setTimeout(3000, () => s.destroy(new Error(`timeout talking to ${host}:${port}`)));
    s.on('data', (d) => (data += d.toString()));
    s.on('end', () => resolve(data));
    s.on('error', reject);
  });
}

function udpAsk(host: string, port: number, msg: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const u = createSocket('udp4');
    const t = setTimeout(() => {
      u.close();
      reject(new Error(`no UDP answer from ${host}:${port}`));
    }, 3000);
    u.on('message', (m) => {
      clearTimeout(t);
      u.close();
      resolve(m.toString());
    });
    u.send(msg, port, host);
  });
}
