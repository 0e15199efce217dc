// 50 separate Node processes prepare and attach 50 "containers" at once on one state.db: every
// one gets its own address and its own random host port, the default network (and its bridge)
// is created exactly once although all of them race to create it, and everything is removed.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scaled } from './support/cli.js';
import { openDb, type DB } from '../../src/store/db.js';
import { insertContainer } from '../../src/store/containers.js';
import { listNetworks, releaseContainerNetwork, removeRuleTable, type NetConfig } from '../../src/network/index.js';
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

const REPO = resolve(new URL('../../', import.meta.url).pathname);
const N = 50;

function whyNot(): string | undefined {
  if (process.platform !== 'linux') return 'needs Linux';
  if (process.getuid?.() !== 0) return 'needs root';
  return undefined;
}
const skip = whyNot();
const tag = randomBytes(3).toString('hex');
const [third] = skip ? [0] : freeTestSubnets(1);
const config: NetConfig = {
  defaultBridge: `tsct${tag}c`,
  defaultSubnet: `10.199.${third}.0/24`,
  nftTable: `tsct_${tag}`,
  vethPrefix: 'tsctv',
  fallbackDns: [],
  hostResolvConf: '/nonexistent',
  hostHosts: '/etc/hosts',
};

describe.skipIf(skip !== undefined)(`50 concurrent allocations${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let dir: string;
  let build: string;
  let db: DB;
  const ids: string[] = [];

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'tsct-net-conc-'));
    // Compile the network module's import closure where node_modules resolves (this Node runs no TS without a flag).
    build = join(REPO, 'node_modules', '.cache', `tsct-net-${tag}`);
    mkdirSync(build, { recursive: true });
    writeFileSync(
      join(build, 'tsconfig.json'),
      JSON.stringify({
        extends: join(REPO, 'tsconfig.json'),
        compilerOptions: { outDir: join(build, 'out'), rootDir: join(REPO, 'src'), noEmit: false },
        include: [],
        files: [join(REPO, 'src/network/index.ts')],
      }),
    );
    const tsc = spawnSync(join(REPO, 'node_modules/.bin/tsc'), ['-p', join(build, 'tsconfig.json')], { encoding: 'utf8' });
    if (tsc.status !== 0) throw new Error(`tsc failed: ${tsc.stdout}${tsc.stderr}`);
    writeFileSync(
      join(build, 'child.mjs'),
      `import { openDb } from './out/store/db.js';
import { prepareContainerNetwork, attachContainerNetwork, parseNetworkRequest } from './out/network/index.js';
const [dbPath, id, dir, pid, cfg] = process.argv.slice(2);
const db = openDb(dbPath);
const config = JSON.parse(cfg);
try {
  const plan = prepareContainerNetwork(db, id, dir, parseNetworkRequest({ publishAll: true, exposedPorts: ['80/tcp'] }), { config });
  const t = await attachContainerNetwork(db, plan, Number(pid), { config });
  process.stdout.write(JSON.stringify({ address: plan.endpoints[0].address, hostPort: plan.ports[0].hostPort, ms: t.totalMs }));
} catch (e) {
  process.stdout.write(JSON.stringify({ error: String(e && e.message) }));
} finally {
  db.close();
}
`,
    );
    db = openDb(join(dir, 'state.db'));
    db.prepare(`INSERT INTO images (id, config, top_layer, size, created_at) VALUES ('img', '{}', NULL, 0, '')`).run();
    for (let i = 0; i < N; i++) {
      const id = randomBytes(32).toString('hex');
      mkdirSync(join(dir, 'containers', id), { recursive: true });
      insertContainer(db, {
        id,
        name: `c${i}`,
        image_id: 'img',
        image_ref: 'busybox',
        config: '{}',
        driver: 'vfs',
        init_layer: 'i',
        rw_layer: 'r',
        created_at: new Date().toISOString(),
      });
      ids.push(id);
    }
  });

  afterAll(async () => {
    if (db) for (const id of ids) await releaseContainerNetwork(db, id, { config }).catch(() => undefined);
    await killAll();
    deleteLinkIfPresent(config.defaultBridge);
    try {
      removeRuleTable({ config });
    } catch {
      /* reported below */
    }
    db?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (build) rmSync(build, { recursive: true, force: true });
    expect(linkNames().filter((n) => n.startsWith(`tsct${tag}`) || n.startsWith('tsctv'))).toEqual([]);
    expect(nftTables().filter((t) => t.includes(config.nftTable))).toEqual([]);
  });

  it('gives 50 parallel processes distinct addresses and host ports, and one bridge', async () => {
    const nss: FakeContainer[] = [];
    for (let i = 0; i < N; i++) nss.push(await fakeContainer());
    const t0 = Date.now();
    const results = await Promise.all(
      ids.map(
        (id, i) =>
          new Promise<{ address?: string; hostPort?: number; ms?: number; error?: string }>((res, rej) => {
            const ch = spawn(
              process.execPath,
              [
                join(build, 'child.mjs'),
                join(dir, 'state.db'),
                id,
                join(dir, 'containers', id),
                String(nss[i]!.pid),
                JSON.stringify(config),
              ],
              {
                stdio: ['ignore', 'pipe', 'inherit'],
              },
            );
            let out = '';
            ch.stdout.on('data', (d) => (out += d));
            ch.on('error', rej);
            ch.on('close', () => res(JSON.parse(out || '{"error":"no output"}')));
          }),
      ),
    );
    const wall = Date.now() - t0;
    expect(results.filter((r) => r.error)).toEqual([]);
    const addrs = results.map((r) => r.address!);
    expect(new Set(addrs).size).toBe(N);
    for (const a of addrs) expect(a).toMatch(new RegExp(`^10\\.199\\.${third}\\.(\\d+)$`));
    expect(new Set(results.map((r) => r.hostPort)).size).toBe(N);
    expect(listNetworks(db)).toMatchObject([{ name: 'bridge', containers: N }]);
    // every namespace really has its address and reaches the gateway
    for (let i = 0; i < N; i++) expect(nss[i]!.exec(['ip', '-br', 'addr', 'show', 'eth0']).stdout).toContain(`${addrs[i]}/24`);
    for (const i of [0, 17, 49]) expect(nss[i]!.exec(['busybox', 'ping', '-c1', '-W2', `10.199.${third}.1`]).code).toBe(0);
    const ms = results.map((r) => r.ms!).sort((a, b) => a - b);
    console.log(
      `50 parallel prepare+attach in separate processes: wall ${wall} ms, attach median ${ms[25]!.toFixed(1)} ms, max ${ms[N - 1]!.toFixed(1)} ms`,
    );
    expect(sh('nft', ['list', 'chain', 'ip', config.nftTable, 'publish']).stdout.match(/dnat to/g)).toHaveLength(N);
  }, scaled(180_000));
});
