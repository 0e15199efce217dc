// Pure parts of the network module: -p parsing, port assignment, /proc/net parsing, IPv4
// arithmetic, routes, resolv.conf and hosts generation, the nftables script, request validation.
import { describe, expect, it } from 'vitest';
import { assignPorts, parseExposed, parseProcNet, parsePublish, clashes } from '../../src/network/ports.js';
import { formatCidr, macFor, overlaps, parseCidr, parseIpv4, requireCidr } from '../../src/network/ip.js';
import { parseProcRoute } from '../../src/network/ipam.js';
import { buildHosts, buildResolvConf } from '../../src/network/etcfiles.js';
import { buildRuleset } from '../../src/network/nat.js';
import { parseNetworkRequest, validateHostname } from '../../src/network/request.js';
import { failedBatchLines, hostBatch, nsBatch } from '../../src/network/link.js';
import { UsageError } from '../../src/util/errors.js';

describe('parsePublish', () => {
  it('accepts the docker forms', () => {
    expect(parsePublish('8080:80')).toEqual({
      proto: 'tcp',
      hostIp: '',
      hostStart: 8080,
      hostEnd: 8080,
      containerStart: 80,
      containerEnd: 80,
    });
    expect(parsePublish('127.0.0.1:8080:80/udp')).toMatchObject({ proto: 'udp', hostIp: '127.0.0.1', hostStart: 8080 });
    expect(parsePublish('80')).toMatchObject({ hostStart: 0, hostEnd: 0, containerStart: 80 });
    expect(parsePublish('127.0.0.1::53/udp')).toMatchObject({
      hostIp: '127.0.0.1',
      hostStart: 0,
      containerStart: 53,
      proto: 'udp',
    });
    expect(parsePublish('8000-8002:80-82')).toMatchObject({
      hostStart: 8000,
      hostEnd: 8002,
      containerStart: 80,
      containerEnd: 82,
    });
    expect(parsePublish('8000-8010:80')).toMatchObject({ hostStart: 8000, hostEnd: 8010, containerStart: 80, containerEnd: 80 });
    expect(parsePublish('0.0.0.0:8080:80')).toMatchObject({ hostIp: '' });
  });
  it('refuses bad values with one sentence', () => {
    for (const bad of [
      '',
      'x:80',
      '8080:0',
      '70000:80',
      '8080:80/sctp',
      '1.2.3:8080:80',
      '8000-8001:80-82',
      '[::1]:80:80',
      '90-80:80',
      '8080:',
    ])
      expect(() => parsePublish(bad), bad).toThrow(UsageError);
    expect(() => parsePublish('8080:80/icmp')).toThrow(/invalid protocol "icmp"/);
  });
  it('parses exposed ports', () => {
    expect(parseExposed('80/tcp')).toMatchObject({ proto: 'tcp', containerStart: 80, hostStart: 0 });
    expect(parseExposed('53/udp')).toMatchObject({ proto: 'udp' });
    expect(parseExposed('8080')).toMatchObject({ proto: 'tcp', containerStart: 8080 });
  });
});

describe('assignPorts', () => {
  const conflict = (m: string) => new Error(m);
  it('maps explicit ports and refuses clashes with their owner named', () => {
    const taken = [{ proto: 'tcp', hostIp: '', port: 8080, owner: 'container web' }];
    expect(() => assignPorts([parsePublish('8080:80')], taken, [32768, 32770], conflict)).toThrow(
      'host port 0.0.0.0:8080/tcp is already in use by container web',
    );
    expect(() => assignPorts([parsePublish('127.0.0.1:8080:80')], taken, [32768, 32770], conflict)).toThrow(/container web/);
    expect(assignPorts([parsePublish('8080:80/udp')], taken, [32768, 32770], conflict)).toEqual([
      { proto: 'udp', hostIp: '', hostPort: 8080, containerPort: 80 },
    ]);
  });
  it('refuses the same host port twice in one request', () => {
    expect(() => assignPorts([parsePublish('8080:80'), parsePublish('8080:81')], [], [1, 2], conflict)).toThrow(
      /published twice/,
    );
  });
  it('picks free ports from the range for random and host-range specs', () => {
    const taken = [{ proto: 'tcp', hostIp: '', port: 32768, owner: 'a process on this host' }];
    const m = assignPorts(
      [parsePublish('80'), parsePublish('81'), parsePublish('9000-9001:82')],
      taken,
      [32768, 32800],
      conflict,
    );
    expect(m.map((x) => x.hostPort)).toEqual([32769, 32770, 9000]);
    expect(() => assignPorts([parsePublish('80')], taken, [32768, 32768], conflict)).toThrow(/no free host port/);
  });
  it('ranges map one to one', () => {
    expect(
      assignPorts([parsePublish('8000-8001:80-81')], [], [1, 2], conflict).map((m) => [m.hostPort, m.containerPort]),
    ).toEqual([
      [8000, 80],
      [8001, 81],
    ]);
  });
  it('clashes: wildcard covers every address', () => {
    expect(clashes({ proto: 'tcp', hostIp: '127.0.0.1', port: 1 }, { proto: 'tcp', hostIp: '10.0.0.1', port: 1 })).toBe(false);
    expect(clashes({ proto: 'tcp', hostIp: '', port: 1 }, { proto: 'tcp', hostIp: '10.0.0.1', port: 1 })).toBe(true);
  });
});

describe('/proc parsing', () => {
  it('reads LISTEN tcp and bound udp sockets', () => {
    const tcp = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0
   1: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1 0 100 0 0 10 0
   2: 0100007F:9C40 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0 100 0 0 10 0`;
    expect(parseProcNet(tcp, 'tcp')).toEqual([
      { proto: 'tcp', addr: '127.0.0.1', port: 8080 },
      { proto: 'tcp', addr: '', port: 22 },
    ]);
    const tcp6 = `  sl  local_address                         remote_address                        st
   0: 00000000000000000000000000000000:0050 00000000000000000000000000000000:0000 0A 0
   1: 00000000000000000000000001000000:0051 00000000000000000000000000000000:0000 0A 0
   2: 0000000000000000FFFF00000100007F:0052 00000000000000000000000000000000:0000 0A 0`;
    expect(parseProcNet(tcp6, 'tcp')).toEqual([
      { proto: 'tcp', addr: '', port: 80 },
      { proto: 'tcp', addr: '127.0.0.1', port: 82 },
    ]);
    const udp = `  sl  local_address rem_address   st
  1: 00000000:0035 00000000:0000 07 0`;
    expect(parseProcNet(udp, 'udp')).toEqual([{ proto: 'udp', addr: '', port: 53 }]);
  });
  it('reads /proc/net/route', () => {
    const text = `Iface	Destination	Gateway 	Flags	RefCnt	Use	Metric	Mask		MTU	Window	IRTT
eth0	00000000	010200C0	0003	0	0	0	00000000	0	0	0
eth0	000200C0	00000000	0001	0	0	0	00FFFFFF	0	0	0
docker0	000011AC	00000000	0001	0	0	0	0000FFFF	0	0	0`;
    expect(parseProcRoute(text).map((r) => `${r.iface} ${formatCidr(r.dst)}`)).toEqual([
      'eth0 192.0.2.0/24',
      'docker0 172.17.0.0/16',
    ]);
  });
});

describe('IPv4', () => {
  it('parses and compares', () => {
    expect(parseIpv4('10.1.2.3')).toBe(0x0a010203);
    expect(parseIpv4('256.1.1.1')).toBeUndefined();
    expect(parseIpv4('01.1.1.1')).toBeUndefined();
    expect(parseCidr('10.1.2.0/24')).toEqual({ base: 0x0a010200, prefix: 24 });
    expect(parseCidr('10.1.2.1/24')).toBeUndefined();
    expect(overlaps(parseCidr('10.0.0.0/8')!, parseCidr('10.1.2.0/24')!)).toBe(true);
    expect(overlaps(parseCidr('10.1.3.0/24')!, parseCidr('10.1.2.0/24')!)).toBe(false);
    expect(macFor(0x0a010203)).toBe('02:42:0a:01:02:03');
    expect(() => requireCidr('10.1.2.1/24', 'subnet')).toThrow(/host bits are set \(did you mean 10.1.2.0\/24\?\)/);
    expect(() => requireCidr('10.1.2.0/31', 'subnet')).toThrow(/prefix length/);
  });
});

describe('/etc files', () => {
  const opts = { dns: [], dnsSearch: [], dnsOptions: [], fallbackDns: [], keepLoopback: false };
  it('drops loopback and IPv6 nameservers from the host resolv.conf', () => {
    const host =
      '# generated\nnameserver 127.0.0.53\nnameserver 10.255.255.53\nnameserver ::1\nnameserver fd00::1\nsearch example.test\noptions edns0\n';
    expect(buildResolvConf(host, opts)).toBe('search example.test\nnameserver 10.255.255.53\noptions edns0\n');
    expect(buildResolvConf('nameserver 127.0.0.53\n', opts)).toBe('\n');
    expect(buildResolvConf('nameserver 127.0.0.53\n', { ...opts, fallbackDns: ['10.9.9.9'] })).toBe('nameserver 10.9.9.9\n');
    expect(buildResolvConf('nameserver 127.0.0.53\n', { ...opts, keepLoopback: true })).toBe('nameserver 127.0.0.53\n');
  });
  it('applies --dns, --dns-search and --dns-option', () => {
    const r = buildResolvConf('nameserver 10.255.255.53\nsearch a.test\n', {
      ...opts,
      dns: ['10.0.0.53'],
      dnsSearch: ['b.test'],
      dnsOptions: ['ndots:2'],
    });
    expect(r).toBe('search b.test\nnameserver 10.0.0.53\noptions ndots:2\n');
    expect(buildResolvConf('search a.test\n', { ...opts, dnsSearch: ['.'] })).toBe('\n');
  });
  it('builds /etc/hosts', () => {
    const h = buildHosts({
      extraHosts: [['h', '10.1.1.1']],
      self: { address: '10.89.0.2', names: ['n1', 'web', 'n1'] },
      members: [{ address: '10.89.0.3', names: ['db', 'database'] }],
    });
    expect(h).toContain('127.0.0.1\tlocalhost\n');
    expect(h).toContain('10.1.1.1\th\n10.89.0.2\tn1 web\n10.89.0.3\tdb database\n');
  });
});

describe('nftables script', () => {
  it('declares, flushes and refills our table', () => {
    const s = buildRuleset({
      table: 'tsct_t',
      networks: [
        { bridge: 'tsct1', subnet: '10.199.1.0/24', internal: false },
        { bridge: 'tsct2', subnet: '10.199.2.0/24', internal: false },
      ],
      ports: [{ proto: 'tcp', hostIp: '', hostPort: 8080, address: '10.199.1.2', containerPort: 80 }],
    });
    expect(s.startsWith('table ip tsct_t {}\nflush table ip tsct_t\n')).toBe(true);
    expect(s).toContain('tcp dport 8080 counter dnat to 10.199.1.2:80');
    expect(s).toContain('oifname "tsct1" ip saddr 127.0.0.0/8 counter masquerade');
    expect(s).toContain('ip saddr 10.199.2.0/24 oifname != "tsct2" counter masquerade');
    expect(s).toContain('iifname "tsct1" oifname { "tsct2" } counter drop');
    expect(s).toContain('iifname "tsct2" oifname { "tsct1" } counter drop');
  });
});

describe('ip batches', () => {
  it('creates the peer inside the netns and configures it there', () => {
    const v = {
      bridge: 'tsct1',
      hostIf: 'vtscabc',
      ifname: 'eth0',
      mac: '02:42:0a:c7:01:02',
      address: '10.199.1.2',
      prefix: 24,
      gateway: '10.199.1.1',
      defaultRoute: true,
    };
    const h = hostBatch([{ bridge: 'tsct1', gateway: '10.199.1.1', prefix: 24 }], [v], 4242, () => true);
    expect(h.text).toMatch(
      /^link add tsct1 type bridge\naddr replace 10.199.1.1\/24 dev tsct1\nlink set tsct1 up\nlink add vtscabc mtu \d+ master tsct1 type veth peer name eth0 mtu \d+ address 02:42:0a:c7:01:02 netns 4242\nlink set vtscabc up\n$/,
    );
    expect([...h.mayExist]).toEqual([1]);
    expect(nsBatch([v], true)).toBe(
      'link set lo up\naddr add 10.199.1.2/24 dev eth0\nlink set eth0 up\nroute add default via 10.199.1.1 dev eth0\n',
    );
    expect(failedBatchLines('RTNETLINK answers: File exists\nCommand failed -:1\n')).toEqual(
      new Map([[1, 'RTNETLINK answers: File exists']]),
    );
  });
  it('deletes a stale host veth of the same container first (a restart, or a joiner holding the old netns)', () => {
    const v = {
      bridge: 'tsct1',
      hostIf: 'vtscabc',
      ifname: 'eth0',
      mac: '02:42:0a:c7:01:02',
      address: '10.199.1.2',
      prefix: 24,
      gateway: '10.199.1.1',
      defaultRoute: true,
    };
    const h = hostBatch(
      [{ bridge: 'tsct1', gateway: '10.199.1.1', prefix: 24 }],
      [v],
      4242,
      () => false,
      (n) => n === 'vtscabc',
    );
    expect(h.text.split('\n').slice(0, 3)).toEqual([
      'addr replace 10.199.1.1/24 dev tsct1',
      'link set tsct1 up',
      'link del vtscabc',
    ]);
    expect([...h.mayBeGone]).toEqual([3]);
    expect(h.text.split('\n')[3]).toMatch(/^link add vtscabc /);
  });
});

describe('parseNetworkRequest', () => {
  it('defaults to the bridge network', () => {
    const r = parseNetworkRequest({});
    expect(r).toMatchObject({ kind: 'bridge', target: 'bridge', mode: 'bridge', publish: [], hostname: '' });
  });
  it('classifies modes', () => {
    expect(parseNetworkRequest({ mode: 'none' }).kind).toBe('none');
    expect(parseNetworkRequest({ mode: 'host' }).kind).toBe('host');
    expect(parseNetworkRequest({ mode: 'container:web' })).toMatchObject({ kind: 'container', target: 'web' });
    expect(parseNetworkRequest({ mode: 'appnet', aliases: ['db2'] })).toMatchObject({
      kind: 'network',
      target: 'appnet',
      aliases: ['db2'],
    });
  });
  it('uses exposed ports only with -P', () => {
    expect(parseNetworkRequest({ exposedPorts: ['80/tcp'] }).exposed).toEqual([]);
    expect(parseNetworkRequest({ publishAll: true, exposedPorts: ['80/tcp', '53/udp'] }).exposed).toHaveLength(2);
  });
  it('refuses conflicting options with one sentence', () => {
    expect(() => parseNetworkRequest({ mode: 'none', publish: ['80:80'] })).toThrow(
      'conflicting options: port publishing and --network none',
    );
    expect(() => parseNetworkRequest({ mode: 'container:x', dns: ['10.0.0.53'] })).toThrow(/dns/);
    expect(() => parseNetworkRequest({ mode: 'bridge', aliases: ['a'] })).toThrow(/user-defined networks/);
    expect(() => parseNetworkRequest({ dns: ['nope'] })).toThrow(/--dns/);
    expect(() => parseNetworkRequest({ addHosts: ['h'] })).toThrow(/--add-host/);
    expect(() => parseNetworkRequest({ addHosts: ['h:1.2.3'] })).toThrow(/--add-host/);
    expect(() => parseNetworkRequest({ hostname: '-bad' })).toThrow(/hostname/);
    expect(() => parseNetworkRequest({ mode: 'bad name' })).toThrow(/network name/);
  });
  it('one host name rule (RFC 1123) for --hostname, in run/create and here', () => {
    const label = 'a'.repeat(63);
    for (const ok of ['h', 'web-1', 'a.b.c', 'X9', label, `${label}.${label}.${label}.${'d'.repeat(61)}`])
      expect(validateHostname(ok)).toBe(ok);
    for (const bad of [
      '',
      '-a',
      'a-',
      'a..b',
      '.a',
      'a.',
      'a_b',
      'a b',
      'a'.repeat(64),
      `${label}.${label}.${label}.${'d'.repeat(62)}`,
    ])
      expect(() => validateHostname(bad), bad).toThrow(UsageError);
    expect(() => validateHostname('a-')).toThrow(/^invalid hostname "a-"$/);
  });
  it('warns and drops ports with --network host', () => {
    const r = parseNetworkRequest({ mode: 'host', publish: ['80:80'] });
    expect(r.publish).toEqual([]);
    expect(r.warnings[0]).toMatch(/discarded/);
  });
  it('accepts --add-host forms', () => {
    expect(parseNetworkRequest({ addHosts: ['h:10.1.1.1', 'g=10.2.2.2', 'gw:host-gateway'] }).addHosts).toEqual([
      ['h', '10.1.1.1'],
      ['g', '10.2.2.2'],
      ['gw', 'host-gateway'],
    ]);
  });
});
