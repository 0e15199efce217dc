// prepareContainerNetwork / releaseContainerNetwork against a real SQLite file, without root:
// nothing here touches links or nftables (no container is attached).
import { mkdtempSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDb, type DB } from '../../src/store/db.js';
import { insertContainer, setContainerState, deleteContainer } from '../../src/store/containers.js';
import { insertNetwork } from '../../src/store/networks.js';
import {
  containerPorts,
  parseNetworkRequest,
  prepareContainerNetwork,
  releaseContainerNetwork,
  removeNetwork,
  listNetworks,
  pruneNetworks,
  type NetConfig,
} from '../../src/network/index.js';
import { hostRoutes } from '../../src/network/ipam.js';
import { formatCidr } from '../../src/network/ip.js';
import { ConflictError } from '../../src/util/errors.js';

let dir: string;
let db: DB;
const config = (over: Partial<NetConfig> = {}): NetConfig => ({
  defaultBridge: 'tsctu0',
  defaultSubnet: '10.199.77.0/24',
  nftTable: 'tsct_unit',
  vethPrefix: 'tsctv',
  fallbackDns: [],
  hostResolvConf: join(dir, 'host-resolv.conf'),
  hostHosts: '/etc/hosts',
  ...over,
});

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
  return { id, dir: cdir };
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tsct-net-unit-'));
  db = openDb(join(dir, 'state.db'));
  db.prepare(`INSERT INTO images (id, config, top_layer, size, created_at) VALUES ('img', '{}', NULL, 0, '')`).run();
  writeFileSync(join(dir, 'host-resolv.conf'), 'nameserver 127.0.0.53\nnameserver 10.199.99.53\nsearch example.test\n');
});
afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('prepareContainerNetwork', () => {
  it('creates the default network on first use, leases addresses in order, writes /etc files', () => {
    const a = addContainer('a');
    const plan = prepareContainerNetwork(db, a.id, a.dir, parseNetworkRequest({ addHosts: ['h:10.1.1.1'] }), {
      config: config(),
    });
    expect(plan.netns).toBeUndefined();
    expect(plan.endpoints).toMatchObject([
      { bridge: 'tsctu0', address: '10.199.77.2', gateway: '10.199.77.1', prefix: 24, ifname: 'eth0' },
    ]);
    expect(plan.endpoints[0]!.hostIf).toMatch(/^tsctv[0-9a-f]{10}$/);
    expect(plan.etcFiles.map((f) => f.destination)).toEqual(['/etc/hosts', '/etc/resolv.conf', '/etc/hostname']);
    expect(readFileSync(join(a.dir, 'hostname'), 'utf8')).toBe(`${a.id.slice(0, 12)}\n`);
    expect(readFileSync(join(a.dir, 'resolv.conf'), 'utf8')).toBe('search example.test\nnameserver 10.199.99.53\n');
    expect(readFileSync(join(a.dir, 'hosts'), 'utf8')).toContain(`10.1.1.1\th\n10.199.77.2\t${a.id.slice(0, 12)}\n`);
    expect(listNetworks(db)).toMatchObject([{ name: 'bridge', bridge: 'tsctu0', subnet: '10.199.77.0/24', containers: 1 }]);

    // idempotent for a second start
    const again = prepareContainerNetwork(db, a.id, a.dir, parseNetworkRequest({}), { config: config() });
    expect(again.endpoints[0]!.address).toBe('10.199.77.2');

    const b = addContainer('b');
    expect(prepareContainerNetwork(db, b.id, b.dir, parseNetworkRequest({}), { config: config() }).endpoints[0]!.address).toBe(
      '10.199.77.3',
    );

    // a lease whose container row is gone is reclaimed by the next allocation
    deleteContainer(db, a.id);
    const c = addContainer('c');
    expect(prepareContainerNetwork(db, c.id, c.dir, parseNetworkRequest({}), { config: config() }).endpoints[0]!.address).toBe(
      '10.199.77.2',
    );
  });

  it('refuses a container row that does not exist', () => {
    expect(() => prepareContainerNetwork(db, 'f'.repeat(64), dir, parseNetworkRequest({}), { config: config() })).toThrow(
      /no such container/,
    );
  });

  it('refuses a default subnet that overlaps a host route', () => {
    const r = hostRoutes()[0];
    if (!r) return;
    const a = addContainer('a');
    expect(() =>
      prepareContainerNetwork(db, a.id, a.dir, parseNetworkRequest({}), { config: config({ defaultSubnet: formatCidr(r.dst) }) }),
    ).toThrow(/overlaps the host route/);
  });

  it('detects port conflicts with other containers and with host listeners', async () => {
    const a = addContainer('web');
    const plan = prepareContainerNetwork(db, a.id, a.dir, parseNetworkRequest({ publish: ['18080:80', '127.0.0.1::53/udp'] }), {
      config: config(),
    });
    expect(plan.ports[0]).toEqual({ proto: 'tcp', hostIp: '', hostPort: 18080, containerPort: 80 });
    expect(plan.ports[1]).toMatchObject({ proto: 'udp', hostIp: '127.0.0.1', containerPort: 53 });
    expect(containerPorts(db, 'web')).toHaveLength(2);

    const b = addContainer('b');
    const err = (() => {
      try {
        prepareContainerNetwork(db, b.id, b.dir, parseNetworkRequest({ publish: ['127.0.0.1:18080:80'] }), { config: config() });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(ConflictError);
    expect((err as Error).message).toBe('host port 127.0.0.1:18080/tcp is already in use by container web');
    // nothing was recorded for b
    expect(containerPorts(db, b.id)).toEqual([]);
    expect(listNetworks(db)[0]!.containers).toBe(1);

    // an exited container's ports are free again
    setContainerState(db, a.id, 'exited');
    expect(
      prepareContainerNetwork(db, b.id, b.dir, parseNetworkRequest({ publish: ['18080:80'] }), { config: config() }).ports[0]!
        .hostPort,
    ).toBe(18080);
    expect(containerPorts(db, a.id).map((p) => p.hostPort)).not.toContain(18080);

    const server: Server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as { port: number }).port;
    try {
      const c = addContainer('c');
      expect(() =>
        prepareContainerNetwork(db, c.id, c.dir, parseNetworkRequest({ publish: [`${port}:80`] }), { config: config() }),
      ).toThrow(`host port 0.0.0.0:${port}/tcp is already in use by a process on this host`);
      // but a random port never lands on it
      const d = addContainer('d');
      const p = prepareContainerNetwork(db, d.id, d.dir, parseNetworkRequest({ publishAll: true, exposedPorts: ['80/tcp'] }), {
        config: config(),
      });
      expect(p.ports[0]!.hostPort).not.toBe(port);
    } finally {
      server.close();
    }
  });

  it("keeps user-network members in each other's /etc/hosts, rewriting in place", async () => {
    insertNetwork(db, {
      id: 'n'.repeat(64),
      name: 'appnet',
      driver: 'bridge',
      bridge: 'tsctu1',
      subnet: '10.199.78.0/24',
      gateway: '10.199.78.1',
      is_default: 0,
      internal: 0,
      labels: '{}',
      created_at: '',
    });
    const web = addContainer('web');
    const dbc = addContainer('db');
    prepareContainerNetwork(db, web.id, web.dir, parseNetworkRequest({ mode: 'appnet' }), { config: config() });
    const inode = statSync(join(web.dir, 'hosts')).ino;
    prepareContainerNetwork(db, dbc.id, dbc.dir, parseNetworkRequest({ mode: 'appnet', aliases: ['database'] }), {
      config: config(),
    });
    const webHosts = readFileSync(join(web.dir, 'hosts'), 'utf8');
    expect(webHosts).toContain(`10.199.78.3\tdb database ${dbc.id.slice(0, 12)}\n`);
    expect(statSync(join(web.dir, 'hosts')).ino).toBe(inode);
    expect(readFileSync(join(dbc.dir, 'hosts'), 'utf8')).toContain(`10.199.78.2\tweb ${web.id.slice(0, 12)}\n`);

    await expect(removeNetwork(db, 'appnet', { config: config() })).rejects.toThrow(
      'network appnet is in use by containers web, db',
    );

    await releaseContainerNetwork(db, dbc.id, { config: config() });
    // the name as a hosts entry: a random hex id may well contain the letters "db"
    expect(readFileSync(join(web.dir, 'hosts'), 'utf8')).not.toContain('\tdb ');
    expect(statSync(join(web.dir, 'hosts')).ino).toBe(inode);
  });

  it('none and host modes', () => {
    const a = addContainer('a');
    const none = prepareContainerNetwork(db, a.id, a.dir, parseNetworkRequest({ mode: 'none', hostname: 'n1' }), {
      config: config(),
    });
    expect(none).toMatchObject({ netns: undefined, kind: 'none', hostname: 'n1', endpoints: [] });
    const b = addContainer('b');
    const host = prepareContainerNetwork(db, b.id, b.dir, parseNetworkRequest({ mode: 'host', addHosts: ['h:10.1.1.1'] }), {
      config: config(),
    });
    expect(host.netns).toBe('host');
    expect(readFileSync(join(b.dir, 'hosts'), 'utf8')).toContain('10.1.1.1\th\n');
    expect(readFileSync(join(b.dir, 'resolv.conf'), 'utf8')).toContain('nameserver 127.0.0.53');
    expect(listNetworks(db)).toEqual([]);
  });

  it('prune reclaims state of removed containers', async () => {
    const a = addContainer('a');
    prepareContainerNetwork(db, a.id, a.dir, parseNetworkRequest({ publish: ['18081:80'] }), { config: config() });
    deleteContainer(db, a.id);
    const r = await pruneNetworks(db, {}, { config: config() });
    expect(r.reclaimedContainers).toEqual([a.id]);
    expect(listNetworks(db)[0]!.containers).toBe(0);
    expect(db.prepare('SELECT count(*) AS n FROM port_mappings').get()).toEqual({ n: 0 });
  });
});
