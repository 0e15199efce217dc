// Container networking end to end through the CLI (issue 4): real containers on a bridge of the
// test's own, published TCP/UDP ports reached from the host through loopback and through the
// bridge address, user networks with names and isolation, the other --network modes, the /etc
// files, port conflicts, leases through exit and rm, 50 concurrent starts. Traffic goes only to
// loopback and to the containers made here. Names are resolved from /etc/hosts; every container
// gets a resolv.conf naming only 127.0.0.1 (TSCONTAINER_HOST_RESOLV_CONF), so no lookup could
// ever leave this machine. Everything made is removed, and the host checked, at the end.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa, execaSync } from 'execa';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { REPO, makeRoot, scaled, type TestRoot } from './support/cli.js';

let t: TestRoot;
let etc: string;
const tag = randomBytes(3).toString('hex');
const appnet = `appnet-${tag}`;
let appBridge = '';
let appSubnet = ''; // 10.250-254.x.0/24
let gateway = '';
const spawned = new Set<ChildProcess>();

interface Ran {
  exitCode: number | undefined;
  stdout: string;
  stderr: string;
}

async function run(args: string[], opts: { timeout?: number; env?: NodeJS.ProcessEnv } = {}): Promise<Ran> {
  const r = await t.run(args, { ...opts, env: { TSCONTAINER_HOST_RESOLV_CONF: join(etc, 'resolv.conf'), ...opts.env } });
  return { exitCode: r.exitCode, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
}

async function ok(args: string[], opts: { timeout?: number } = {}): Promise<string> {
  const r = await run(args, opts);
  expect(r.exitCode, `tscontainer ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return String(r.stdout);
}

function db<T>(fn: (d: Database.Database) => T, write = false): T {
  const d = new Database(join(t.root, 'state.db'), { readonly: !write });
  try {
    return fn(d);
  } finally {
    d.close();
  }
}

function pidOf(name: string): number {
  const row = db((d) => d.prepare('SELECT pid FROM containers WHERE name = ?').get(name) as { pid: number | null } | undefined);
  if (!row?.pid) throw new Error(`container ${name} has no pid`);
  return row.pid;
}

function leases(): { name: string | null; address: string; network: string }[] {
  return db(
    (d) =>
      d
        .prepare(
          'SELECT c.name AS name, e.address AS address, n.name AS network FROM endpoints e JOIN networks n ON n.id = e.network_id LEFT JOIN containers c ON c.id = e.container_id',
        )
        .all() as { name: string | null; address: string; network: string }[],
  );
}

async function exited(name: string): Promise<boolean> {
  await run(['ps']); // reconciles exits
  return db(
    (d) =>
      (d.prepare('SELECT state FROM containers WHERE name = ?').get(name) as { state: string } | undefined)?.state === 'exited',
  );
}

function containerNames(): string[] {
  return db((d) => (d.prepare('SELECT name FROM containers').all() as { name: string }[]).map((r) => r.name));
}

async function publishRules(): Promise<string[]> {
  const r = await execa('nft', ['list', 'table', 'ip', String(t.env['TSCONTAINER_NFT_TABLE'])], { reject: false });
  return String(r.stdout)
    .split('\n')
    .filter((l) => /dnat to/.test(l))
    .map((l) => l.trim());
}

function vethsOfTest(): string[] {
  const prefix = String(t.env['TSCONTAINER_VETH_PREFIX']);
  return readLinks().filter((l) => l.startsWith(prefix));
}

/** Host veths die with their container's namespace a few milliseconds after it exits, and rm
 *  does not wait for that (docs/networking.md): poll for them to be gone. */
async function vethsOfTestSettled(expected: (n: number) => boolean, ms = 3000): Promise<string[]> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = vethsOfTest();
    if (expected(v.length) || Date.now() > deadline) return v;
    await new Promise((r) => setTimeout(r, 20));
  }
}

function readLinks(): string[] {
  return (JSON.parse(ip(['-j', 'link', 'show'])) as { ifname: string }[]).map((l) => l.ifname);
}

function ip(args: string[]): string {
  return String(execaSync('ip', args).stdout);
}

/** A TCP port nobody listens on right now (the kernel picks it). */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '0.0.0.0', () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function httpGet(host: string, port: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = get({ host, port, path: '/', timeout: 2000, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/** GETs until the container's server answers (it starts right after `run -d` returns). */
async function httpGetEventually(host: string, port: number, ms = 8000): Promise<{ status: number; body: string }> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await httpGet(host, port);
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

function udpRoundTrip(host: string, port: number, payload: string, ms = 1500): Promise<string | undefined> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    const timer = setTimeout(() => {
      s.close();
      resolve(undefined);
    }, ms);
    s.on('message', (m) => {
      clearTimeout(timer);
      s.close();
      resolve(m.toString());
    });
    s.send(payload, port, host);
  });
}

function netnsIno(pid: number | 'self'): number {
  return statSync(`/proc/${pid}/ns/net`).ino;
}

const webHtml = 'mkdir /www && echo hi-from-web > /www/index.html && exec httpd -f -p 80 -h /www';

beforeAll(async () => {
  t = makeRoot('net');
  gateway = t.subnet.replace(/0\/24$/, '1');
  appSubnet = `10.${250 + randomInt(5)}.${randomInt(256)}.0/24`;
  appBridge = `${t.bridge}a`;
  etc = mkdtempSync(join(tmpdir(), 'tsc-it-net-etc-'));
  writeFileSync(join(etc, 'resolv.conf'), 'nameserver 127.0.0.1\n');
  await ok(['run', '--rm', '--network', 'none', 'busybox', 'true']); // imports the built-in image
  // An image with EXPOSE (for -P): the built-in busybox layer imported with --change.
  const layer = join(REPO, 'images/busybox/out/layer.tar');
  if (!existsSync(layer)) await execa('node', [join(REPO, 'dist/tscontainer.cjs'), 'image', 'build-builtin'], { env: t.env });
  await ok(['import', '-c', 'EXPOSE 80', '-c', 'EXPOSE 53/udp', '-c', `CMD ["sh","-c","${webHtml}"]`, layer, `exposed-${tag}`]);
}, scaled(120_000));

afterAll(async () => {
  for (const c of spawned) c.kill('SIGKILL');
  const ids = String((await run(['ps', '-aq', '--no-trunc'])).stdout)
    .split('\n')
    .filter(Boolean);
  if (ids.length > 0) await run(['rm', '-f', ...ids], { timeout: 120_000 });
  await run(['network', 'rm', appnet]);
  await run(['network', 'prune', '-f']);
  const left = {
    leases: leases(),
    rules: await publishRules(),
    veths: await vethsOfTestSettled((n) => n === 0),
    appBridge: existsSync(`/sys/class/net/${appBridge}`),
  };
  if (left.appBridge) await execa('ip', ['link', 'del', appBridge], { reject: false });
  const leaks = await t.cleanup();
  rmSync(etc, { recursive: true, force: true });
  const table = String(t.env['TSCONTAINER_NFT_TABLE']);
  const tables = String((await execa('nft', ['list', 'tables'])).stdout);
  const vethLines = String((await execa('ip', ['-o', 'link', 'show', 'type', 'veth'])).stdout);
  expect(left).toEqual({ leases: [], rules: [], veths: [], appBridge: false });
  expect(leaks).toEqual([]);
  expect(tables).not.toContain(table);
  expect(vethLines).not.toContain(String(t.env['TSCONTAINER_VETH_PREFIX']));
  expect(existsSync(`/sys/class/net/${t.bridge}`)).toBe(false);
}, scaled(180_000));

describe('container networking through the CLI', () => {
  it('run --rm busybox ip addr: lo and eth0 with an address of the default network', async () => {
    const out = await ok(['run', '--rm', 'busybox', 'ip', '-o', '-4', 'addr']);
    const prefix = t.subnet.replace(/0\/24$/, '');
    expect(out).toMatch(/^1: lo\s+inet 127\.0\.0\.1\/8/m);
    expect(out).toMatch(new RegExp(`^\\d+: eth0\\s+inet ${prefix.replaceAll('.', '\\.')}\\d+/24`, 'm'));
    const links = await ok(['run', '--rm', 'busybox', 'sh', '-c', 'ls /sys/class/net']);
    expect(links.split('\n').sort()).toEqual(['eth0', 'lo']);
  });

  it('reaches the gateway (the bridge address)', async () => {
    const r = await run(['run', '--rm', 'busybox', 'ping', '-c1', '-W2', gateway]);
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('1 packets received');
  });

  let webPort = 0;
  it('-p HOST:80: the host GETs the page through 127.0.0.1 and through the bridge address', async () => {
    webPort = await freePort();
    await ok(['run', '-d', '--name', 'web', '-p', `${webPort}:80`, 'busybox', 'sh', '-c', webHtml]);
    expect((await ok(['port', 'web'])).trim()).toBe(`80/tcp -> 0.0.0.0:${webPort}`);
    const viaLoopback = await httpGetEventually('127.0.0.1', webPort);
    expect(viaLoopback).toEqual({ status: 200, body: 'hi-from-web\n' });
    const viaBridge = await httpGetEventually(gateway, webPort);
    expect(viaBridge).toEqual({ status: 200, body: 'hi-from-web\n' });
  });

  it('-P publishes every EXPOSEd port on a random host port; `port` lists them', async () => {
    await ok(['run', '-d', '-P', '--name', 'w2', `exposed-${tag}`]);
    const lines = (await ok(['port', 'w2'])).trim().split('\n').sort();
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^53\/udp -> 0\.0\.0\.0:\d+$/);
    expect(lines[1]).toMatch(/^80\/tcp -> 0\.0\.0\.0:\d+$/);
    const port = Number((await ok(['port', 'w2', '80'])).trim().split(':')[1]);
    const [lo, hi] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    expect(port).toBeGreaterThanOrEqual(lo!);
    expect(port).toBeLessThanOrEqual(hi!);
    expect(await httpGetEventually('127.0.0.1', port)).toEqual({ status: 200, body: 'hi-from-web\n' });
  });

  it('a published UDP port answers from 127.0.0.1 and the bridge address', async () => {
    // busybox's nc here has no -u and the image has no UDP server: the echo server is a Node
    // process started by the test inside the container's network namespace (nsenter -n).
    const udpPort = await freePort();
    await ok(['run', '-d', '--name', 'udp', '-p', `${udpPort}:53/udp`, 'busybox', 'sleep', '1000']);
    const pid = pidOf('udp');
    const echo = spawn(
      'nsenter',
      [
        `--net=/proc/${pid}/ns/net`,
        process.execPath,
        '-e',
        'const s=require("dgram").createSocket("udp4");s.on("message",(m,r)=>s.send("echo:"+m,r.port,r.address));s.bind(53,()=>console.log("ready"))',
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    spawned.add(echo);
    try {
      await new Promise<void>((resolve, reject) => {
        echo.stdout!.once('data', () => resolve());
        echo.once('exit', (c) => reject(new Error(`udp echo exited ${c}`)));
      });
      expect(netnsIno(echo.pid!)).toBe(netnsIno(pid)); // really inside the container's namespace
      expect(await udpRoundTrip('127.0.0.1', udpPort, 'one')).toBe('echo:one');
      expect(await udpRoundTrip(gateway, udpPort, 'two')).toBe('echo:two');
    } finally {
      echo.kill('SIGKILL');
      spawned.delete(echo);
    }
    await ok(['rm', '-f', 'udp']);
  });

  it('network create with --subnet/--gateway; names resolve on it, not from the default network', async () => {
    const id = (
      await ok([
        'network',
        'create',
        appnet,
        '--subnet',
        appSubnet,
        '--gateway',
        appSubnet.replace(/0\/24$/, '1'),
        '-o',
        `com.docker.network.bridge.name=${appBridge}`,
      ])
    ).trim();
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    expect(existsSync(`/sys/class/net/${appBridge}`)).toBe(true);
    await ok(['run', '-d', '--network', appnet, '--name', 'db', 'busybox', 'sleep', '1000']);
    const dbAddr = leases().find((l) => l.name === 'db')!.address;
    expect(dbAddr.startsWith(appSubnet.replace(/0\/24$/, ''))).toBe(true);

    const same = await run(['run', '--rm', '--network', appnet, 'busybox', 'ping', '-c1', '-W2', 'db']);
    expect(same.exitCode, same.stdout + same.stderr).toBe(0);
    expect(same.stdout).toContain(`PING db (${dbAddr})`);

    const noName = await run(['run', '--rm', 'busybox', 'ping', '-c1', '-W1', 'db']);
    expect(noName.exitCode).not.toBe(0);
    expect(noName.stderr).toContain("bad address 'db'");
    const noRoute = await run(['run', '--rm', 'busybox', 'ping', '-c1', '-W1', dbAddr]);
    expect(noRoute.exitCode).not.toBe(0);
    expect(noRoute.stdout).toContain('0 packets received');
  });

  it('network ls and inspect show the network and its members; rm is refused while used', async () => {
    const ls = await ok(['network', 'ls']);
    expect(ls).toMatch(
      new RegExp(`^\\w+\\s+bridge\\s+bridge\\s+local\\s+${t.subnet.replaceAll('.', '\\.')}\\s+${t.bridge}\\s`, 'm'),
    );
    expect(ls).toMatch(
      new RegExp(`\\s${appnet}\\s+bridge\\s+local\\s+${appSubnet.replaceAll('.', '\\.')}\\s+${appBridge}\\s+1\\s`),
    );
    const [doc] = JSON.parse(await ok(['network', 'inspect', appnet])) as {
      Name: string;
      IPAM: { Config: { Subnet: string; Gateway: string }[] };
      Containers: Record<string, { Name: string; IPv4Address: string }>;
    }[];
    expect(doc!.Name).toBe(appnet);
    expect(doc!.IPAM.Config).toEqual([{ Subnet: appSubnet, Gateway: appSubnet.replace(/0\/24$/, '1') }]);
    expect(Object.values(doc!.Containers).map((c) => c.Name)).toEqual(['db']);

    const rm = await run(['network', 'rm', appnet]);
    expect(rm.exitCode).not.toBe(0);
    expect(rm.stderr.trim().split('\n')).toHaveLength(1);
    expect(rm.stderr).toContain(`network ${appnet} is in use by container db`);
    expect(existsSync(`/sys/class/net/${appBridge}`)).toBe(true);
    const pre = await run(['network', 'rm', 'bridge']);
    expect(pre.exitCode).not.toBe(0);
  });

  it('network connect/disconnect a running container: its name appears and goes on the network', async () => {
    await ok(['network', 'connect', appnet, 'web']);
    const links = await ok(['run', '--rm', '--network', `container:web`, 'busybox', 'sh', '-c', 'ls /sys/class/net']);
    expect(links.split('\n').sort()).toEqual(['eth0', 'eth1', 'lo']);
    const reach = await run([
      'run',
      '--rm',
      '--network',
      appnet,
      'busybox',
      'sh',
      '-c',
      'wget -qO- http://web/ && ping -c1 -W2 db >/dev/null && echo db-ok',
    ]);
    expect(reach.exitCode, reach.stderr).toBe(0);
    expect(reach.stdout).toBe('hi-from-web\ndb-ok');
    const hosts = readFileSync(
      join(
        t.root,
        'containers',
        db((d) => (d.prepare("SELECT id FROM containers WHERE name = 'db'").get() as { id: string }).id),
        'hosts',
      ),
      'utf8',
    );
    expect(hosts).toMatch(/\sweb\s/);

    await ok(['network', 'disconnect', appnet, 'web']);
    const after = await ok(['run', '--rm', '--network', 'container:web', 'busybox', 'sh', '-c', 'ls /sys/class/net']);
    expect(after.split('\n').sort()).toEqual(['eth0', 'lo']);
    const gone = await run(['run', '--rm', '--network', appnet, 'busybox', 'ping', '-c1', '-W1', 'web']);
    expect(gone.stderr).toContain("bad address 'web'");
    // web is still served on its published port
    expect((await httpGet('127.0.0.1', webPort)).body).toBe('hi-from-web\n');
  });

  it('--network none: only lo, up', async () => {
    const out = await ok([
      'run',
      '--rm',
      '--network',
      'none',
      'busybox',
      'sh',
      '-c',
      'ls /sys/class/net; cat /sys/class/net/lo/operstate; ip -o -4 addr',
    ]);
    expect(out.split('\n')[0]).toBe('lo');
    expect(out).toContain('inet 127.0.0.1/8');
    expect(out).not.toContain('eth0');
  });

  it("--network host: the host's namespace and interfaces (no traffic sent)", async () => {
    const out = await ok([
      'run',
      '--rm',
      '--network',
      'host',
      'busybox',
      'sh',
      '-c',
      'stat -L -c %i /proc/self/ns/net; ls /sys/class/net',
    ]);
    const [ino, ...links] = out.split('\n');
    expect(Number(ino)).toBe(netnsIno('self'));
    expect(links).toContain('lo');
    expect(links).toContain(t.bridge); // our bridge, seen from inside
  });

  it("--network container:web shares web's network namespace and address", async () => {
    const out = await ok([
      'run',
      '--rm',
      '--network',
      'container:web',
      'busybox',
      'sh',
      '-c',
      'stat -L -c %i /proc/self/ns/net; ip -o -4 addr show eth0',
    ]);
    const [ino, addr] = out.split('\n');
    expect(Number(ino)).toBe(netnsIno(pidOf('web')));
    const webAddr = leases().find((l) => l.name === 'web')!.address;
    expect(addr).toContain(`inet ${webAddr}/24`);
    const refused = await run(['run', '--rm', '--network', 'container:web', '-p', '1:1', 'busybox', 'true']);
    expect(refused.exitCode).toBe(125);
    // An unknown container is our own error at run (125, as docker), one line, nothing left.
    const names = containerNames().sort();
    const missing = await run(['run', '--rm', '--network', 'container:nope-no-such', 'busybox', 'true']);
    expect(missing.exitCode).toBe(125);
    expect(missing.stderr.trim().split('\n')).toEqual(['tscontainer: No such container: nope-no-such']);
    expect(containerNames().sort()).toEqual(names);
  });

  it('--dns, --dns-search, --add-host and --hostname reach resolv.conf, hosts and hostname', async () => {
    const out = await ok([
      'run',
      '--rm',
      '--dns',
      '10.0.0.53',
      '--dns-search',
      'example.test',
      '--add-host',
      'h:10.1.1.1',
      '--add-host',
      'gw:host-gateway',
      '--hostname',
      'n1',
      'busybox',
      'sh',
      '-c',
      'cat /etc/resolv.conf; echo ---; cat /etc/hosts; echo ---; cat /etc/hostname; hostname',
    ]);
    const [resolv, hosts, rest] = out.split('---\n');
    expect(resolv!.trim().split('\n').sort()).toEqual(['nameserver 10.0.0.53', 'search example.test']);
    expect(hosts).toMatch(/^10\.1\.1\.1\th$/m);
    expect(hosts).toMatch(new RegExp(`^${gateway.replaceAll('.', '\\.')}\\tgw$`, 'm'));
    expect(hosts).toMatch(/^127\.0\.0\.1\tlocalhost$/m);
    expect(hosts).toMatch(/\tn1$/m);
    expect(rest!.trim().split('\n')).toEqual(['n1', 'n1']);
    // Without --dns: the host's resolv.conf minus loopback resolvers (here: nothing left, and no fallback)
    const plain = await ok(['run', '--rm', 'busybox', 'cat', '/etc/resolv.conf']);
    expect(plain).not.toContain('nameserver');
  });

  it('port conflicts are one line, exit 125, before the container starts, and leave nothing', async () => {
    const before = { leases: leases().length, rules: await publishRules(), names: containerNames().sort() };
    // another container's host port
    const dup = await run(['run', '-d', '--name', 'dup', '-p', `${webPort}:80`, 'busybox', 'sleep', '1000']);
    expect(dup.exitCode).toBe(125);
    expect(dup.stderr.trim().split('\n')).toEqual([
      `tscontainer: host port 0.0.0.0:${webPort}/tcp is already in use by container web`,
    ]);
    // a port a host process listens on (127.0.0.1 only; the request is for every address)
    const server: Server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const held = (server.address() as AddressInfo).port;
    try {
      const busy = await run(['run', '--rm', '-p', `${held}:80`, 'busybox', 'true']);
      expect(busy.exitCode).toBe(125);
      expect(busy.stderr.trim().split('\n')).toEqual([
        `tscontainer: host port 0.0.0.0:${held}/tcp is already in use by a process on this host`,
      ]);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
    expect({ leases: leases().length, rules: await publishRules(), names: containerNames().sort() }).toEqual(before);
    expect(existsSync(join(t.root, 'containers')) ? containerNames() : []).not.toContain('dup');
  });

  it('a container that exits by itself drops its DNAT rule and keeps its lease until rm', async () => {
    const port = await freePort();
    const r = await run(['run', '--name', 'ex', '-p', `${port}:80`, 'busybox', 'true']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect((await publishRules()).some((l) => l.includes(`dport ${port} `))).toBe(false);
    expect(leases().filter((l) => l.name === 'ex')).toHaveLength(1);
    expect((await ok(['port', 'ex'])).trim()).toBe(`80/tcp -> 0.0.0.0:${port}`);
    await ok(['rm', 'ex']);
    expect(leases().filter((l) => l.name === 'ex')).toEqual([]);
    expect(db((d) => d.prepare('SELECT count(*) AS n FROM port_mappings WHERE host_port = ?').get(port) as { n: number }).n).toBe(
      0,
    );
  });

  it('a stopped container whose host port another container took over cannot start again silently', async () => {
    const [p1, p2] = [await freePort(), await freePort()];
    expect((await run(['run', '--name', 'owner', '-p', `${p1}:80`, '-p', `${p2}:81`, 'busybox', 'true'])).exitCode).toBe(0);
    // the owner is stopped: its ports are free to take, as docker's are
    expect((await run(['run', '-d', '--name', 'taker', '-p', `${p1}:80`, 'busybox', 'sleep', '30'])).exitCode).toBe(0);
    const again = await run(['start', 'owner']);
    expect(again.exitCode).not.toBe(0);
    expect(again.stderr.trim().split('\n')).toHaveLength(1);
    expect(again.stderr).toContain(String(p1));
    await ok(['rm', '-f', 'taker']);
    // with the port free again, the owner starts with both of its ports
    expect((await run(['start', '-a', 'owner'])).exitCode).toBe(0);
    expect((await ok(['port', 'owner'])).trim().split('\n').sort()).toEqual(
      [`80/tcp -> 0.0.0.0:${p1}`, `81/tcp -> 0.0.0.0:${p2}`].sort(),
    );
    await ok(['rm', 'owner']);
  });

  it('rm -f of a running container removes its veth, rule and lease', async () => {
    const port = await freePort();
    await ok(['run', '-d', '--name', 'gone', '-p', `${port}:80`, 'busybox', 'sleep', '1000']);
    expect((await publishRules()).some((l) => l.includes(`dport ${port} `))).toBe(true);
    const veths = vethsOfTest().length;
    await ok(['rm', '-f', 'gone']);
    expect((await vethsOfTestSettled((n) => n === veths - 1)).length).toBe(veths - 1);
    expect((await publishRules()).some((l) => l.includes(`dport ${port} `))).toBe(false);
    expect(leases().filter((l) => l.name === 'gone')).toEqual([]);
  });

  it('a restarted container gets a fresh veth even while a joiner still holds its old namespace', async () => {
    // r1 must still run when j1 joins it, however slow the machine
    await ok(['run', '-d', '--name', 'r1', 'busybox', 'sleep', String(scaled(2000) / 1000)]);
    await ok(['run', '-d', '--name', 'j1', '--network', 'container:r1', 'busybox', 'sleep', '1000']);
    const addr = leases().find((l) => l.name === 'r1')!.address;
    const before = vethsOfTest();
    const deadline = Date.now() + scaled(10_000);
    while (!(await exited('r1'))) {
      if (Date.now() > deadline) throw new Error('r1 did not exit');
      await new Promise((r) => setTimeout(r, 200));
    }
    // j1 keeps r1's namespace, and with it the host end of r1's veth
    expect(vethsOfTest()).toEqual(before);
    const j1ns = netnsIno(pidOf('j1'));
    await ok(['start', 'r1']);
    expect(netnsIno(pidOf('r1'))).not.toBe(j1ns);
    const out = await ok(['run', '--rm', '--network', 'container:r1', 'busybox', 'ip', '-o', '-4', 'addr', 'show', 'eth0']);
    expect(out).toContain(`inet ${addr}/24`); // the lease was kept across the restart
    expect(vethsOfTest()).toHaveLength(before.length);
    await ok(['rm', '-f', 'r1', 'j1']);
  });

  it('network prune reclaims a lease left by a crash and removes unused user networks', async () => {
    const spare = `spare-${tag}`;
    const spareBridge = `${t.bridge}s`;
    await ok([
      'network',
      'create',
      spare,
      '-o',
      `com.docker.network.bridge.name=${spareBridge}`,
      '--subnet',
      `10.${250 + randomInt(5)}.${randomInt(256)}.0/24`,
    ]);
    // A crash between allocation and start: a lease whose container row never made it.
    db((d) => {
      const net = d.prepare("SELECT id FROM networks WHERE name = 'bridge'").get() as { id: string };
      d.prepare(
        "INSERT INTO endpoints (network_id, container_id, address, addr_int, mac, host_if, ifname, aliases, created_at) VALUES (?, ?, ?, ?, '02:42:00:00:00:00', 'vnone0', 'eth0', '[]', ?)",
      ).run(net.id, 'f'.repeat(64), t.subnet.replace(/0\/24$/, '250'), 0, new Date().toISOString());
    }, true);
    expect(leases().some((l) => l.name === null)).toBe(true);
    const out = await ok(['network', 'prune', '-f']);
    expect(out).toContain(spare);
    expect(out).not.toContain(appnet); // db still uses it
    expect(existsSync(`/sys/class/net/${spareBridge}`)).toBe(false);
    expect(leases().some((l) => l.name === null)).toBe(false);
  });

  it('50 concurrent run -d get 50 distinct addresses', async () => {
    const n = 50;
    const started = Date.now();
    const results = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        run(['run', '-d', '--name', `many${i}`, 'busybox', 'sleep', '1000'], { timeout: 120_000 }),
      ),
    );
    const elapsed = Date.now() - started;
    for (const r of results) expect(r.exitCode, r.stderr).toBe(0);
    const mine = leases().filter((l) => l.name?.startsWith('many'));
    expect(mine).toHaveLength(n);
    expect(new Set(mine.map((l) => l.address)).size).toBe(n);
    // each really has its address on eth0
    const sample = [0, 17, 49].map((i) => `many${i}`);
    for (const name of sample) {
      const addr = mine.find((l) => l.name === name)!.address;
      const out = await ok([
        'run',
        '--rm',
        '--network',
        `container:${name}`,
        'busybox',
        'ip',
        '-o',
        '-4',
        'addr',
        'show',
        'eth0',
      ]);
      expect(out).toContain(`inet ${addr}/24`);
    }
    const rm = await run(['rm', '-f', ...Array.from({ length: n }, (_, i) => `many${i}`)], { timeout: 120_000 });
    expect(rm.exitCode, rm.stderr).toBe(0);
    expect(leases().filter((l) => l.name?.startsWith('many'))).toEqual([]);
    console.log(`50 concurrent run -d: ${elapsed} ms`);
  }, scaled(150_000));

  it('after rm of every container and network: no lease, rule or veth of the test is left', async () => {
    await ok(['rm', '-f', 'web', 'w2', 'db']);
    await ok(['network', 'rm', appnet]);
    expect(existsSync(`/sys/class/net/${appBridge}`)).toBe(false);
    expect(leases()).toEqual([]);
    expect(await publishRules()).toEqual([]);
    expect(await vethsOfTestSettled((n) => n === 0)).toEqual([]);
    expect(ip(['-o', 'link', 'show', 'type', 'veth'])).not.toContain(String(t.env['TSCONTAINER_VETH_PREFIX']));
  });
});
