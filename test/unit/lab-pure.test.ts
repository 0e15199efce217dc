// The labs' pure parts: every lab folder is complete (page, starter task file, a checker, links
// that resolve), and the parsers checkers read kernel facts with.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadLabs } from '../../src/lab/catalog.js';
import { CHECKERS } from '../../src/lab/checkers/index.js';
import { capBits, parseDmTable, parseIdMap } from '../../src/lab/checkers/fs-security.js';
import { nftHooksWith } from '../../src/lab/checkers/network.js';
import { keyed } from '../../src/lab/checkers/cgroups.js';
import { parseMountLines, parseProcCgroup } from '../../src/lab/proc.js';

describe('lab folders', () => {
  const labs = loadLabs(join(import.meta.dirname, '..', '..', 'labs'));
  it('has labs 1 to 12, each with a page, a starter task, a checker', () => {
    expect(labs.map((l) => l.number)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    for (const l of labs) {
      expect(existsSync(l.page), l.page).toBe(true);
      expect(existsSync(join(l.dir, 'starter', l.task)), `${l.slug}/starter/${l.task}`).toBe(true);
      expect(CHECKERS[l.number], `checker of lab ${l.number}`).toBeTypeOf('function');
    }
  });
  it("every page's relative links resolve, and each links a docs/ page and a source file", () => {
    for (const l of labs) {
      const page = readFileSync(l.page, 'utf8');
      const links = [...page.matchAll(/\]\((\.\.\/[^)]+)\)/g)].map((m) => m[1]!);
      for (const link of links) expect(existsSync(resolve(dirname(l.page), link)), `${l.slug}: ${link}`).toBe(true);
      expect(
        links.some((x) => x.includes('/docs/')),
        `${l.slug} links docs/`,
      ).toBe(true);
      expect(
        links.some((x) => /\/(src|native)\//.test(x)),
        `${l.slug} links a source file`,
      ).toBe(true);
      expect(page, `${l.slug} says v1 and v2`).toMatch(/v1|v2/);
    }
  });
});

describe('kernel fact parsers', () => {
  it('reads capability masks', () => {
    expect(capBits('0000000000000400')).toEqual([10]);
    expect(capBits('000001ffffffffff').length).toBe(41);
    expect(capBits('0000000000000000')).toEqual([]);
  });
  it('reads id maps', () => {
    expect(parseIdMap('         0     100000      65536\n')).toEqual([[0, 100000, 65536]]);
    expect(parseIdMap('')).toEqual([]);
  });
  it('reads dmsetup table lines', () => {
    const t = parseDmTable(
      'tlab-pool: 0 524288 thin-pool 7:0 7:1 128 0 0\ntlab-vol: 0 524288 thin 253:0 0\ntlab-snap: 0 524288 thin 253:0 1\n',
    );
    expect(t.get('tlab-pool')?.target).toBe('thin-pool');
    expect(t.get('tlab-snap')?.args).toEqual(['253:0', '1']);
  });
  it('finds nat rules by hook in nft -j output', () => {
    const json = JSON.stringify({
      nftables: [
        { table: { family: 'ip', name: 't' } },
        { chain: { family: 'ip', table: 't', name: 'post', type: 'nat', hook: 'postrouting' } },
        { chain: { family: 'ip', table: 't', name: 'pre', type: 'nat', hook: 'prerouting' } },
        { rule: { chain: 'post', expr: [{ masquerade: null }] } },
        { rule: { chain: 'pre', expr: [{ dnat: { addr: '10.1.1.2', port: 80 } }] } },
      ],
    });
    expect(nftHooksWith(json, 'masquerade')).toEqual(['postrouting']);
    expect(nftHooksWith(json, 'dnat')).toEqual(['prerouting']);
  });
  it('reads flat-keyed cgroup files and /proc/PID/cgroup', () => {
    expect(keyed('oom_kill_disable 0\nunder_oom 0\noom_kill 3\n', 'oom_kill')).toBe(3);
    expect(keyed('low 0\n', 'oom_kill')).toBeUndefined();
    const cg = parseProcCgroup('12:pids:/a/b\n4:cpu,cpuacct:/c\n0::/d\n1:name=systemd:/e\n');
    expect(cg.get('pids')).toBe('/a/b');
    expect(cg.get('cpuacct')).toBe('/c');
    expect(cg.get('')).toBe('/d');
    expect(cg.get('name=systemd')).toBe('/e');
  });
  it('reads mountinfo with device and source', () => {
    const [m] = parseMountLines('36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n');
    expect(m).toMatchObject({ device: '98:0', root: '/mnt1', mountPoint: '/mnt2', fsType: 'ext3', source: '/dev/root' });
  });
});
