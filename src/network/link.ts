// Links: the bridge (created on first use, idempotent under concurrency), veth pairs with the
// peer created directly inside the container's netns as eth0/ethN, and the addresses and routes
// inside. Two processes per attach: `ip -force -batch -` in the host namespace and
// `nsenter --net=/proc/PID/ns/net ip -batch -` inside.
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { SystemError } from '../util/errors.js';
import { execInput, firstLine } from '../util/exec.js';

export interface BridgeSpec {
  bridge: string;
  gateway: string;
  prefix: number;
}

export interface VethSpec {
  bridge: string;
  hostIf: string;
  ifname: string;
  mac: string;
  address: string;
  prefix: number;
  gateway: string;
  defaultRoute: boolean;
}

export function linkExists(name: string): boolean {
  return existsSync(`/sys/class/net/${name}`);
}

export function linkMtu(name: string): number {
  try {
    const n = Number(readFileSync(`/sys/class/net/${name}/mtu`, 'utf8').trim());
    return Number.isInteger(n) && n >= 576 ? n : 1500;
  } catch {
    return 1500;
  }
}

/**
 * The ip(8) batch run in the host namespace. Returns the text, which lines may fail with EEXIST
 * (a bridge another process made meanwhile) and which with ENODEV (a stale host veth that the
 * kernel removed meanwhile). `stale(hostIf)` says a host veth of a previous run of this
 * container is still there (its old namespace is still being torn down, or is held by a
 * `container:` joiner): it is deleted first, so that the name is free again.
 */
export function hostBatch(
  bridges: BridgeSpec[],
  veths: VethSpec[],
  pid: number,
  missing: (br: string) => boolean,
  stale: (hostIf: string) => boolean = () => false,
): { text: string; mayExist: Set<number>; mayBeGone: Set<number> } {
  const lines: string[] = [];
  const mayExist = new Set<number>();
  const mayBeGone = new Set<number>();
  for (const b of bridges) {
    if (missing(b.bridge)) {
      lines.push(`link add ${b.bridge} type bridge`);
      mayExist.add(lines.length); // another process may have created it since we looked
    }
    lines.push(`addr replace ${b.gateway}/${b.prefix} dev ${b.bridge}`);
    lines.push(`link set ${b.bridge} up`);
  }
  for (const v of veths) {
    const mtu = linkMtu(v.bridge);
    if (stale(v.hostIf)) {
      lines.push(`link del ${v.hostIf}`);
      mayBeGone.add(lines.length);
    }
    lines.push(
      `link add ${v.hostIf} mtu ${mtu} master ${v.bridge} type veth peer name ${v.ifname} mtu ${mtu} address ${v.mac} netns ${pid}`,
    );
    lines.push(`link set ${v.hostIf} up`);
  }
  return { text: lines.join('\n') + '\n', mayExist, mayBeGone };
}

/** The ip(8) batch run inside the container's network namespace. */
export function nsBatch(veths: VethSpec[], loUp: boolean): string {
  const lines: string[] = [];
  if (loUp) lines.push('link set lo up');
  for (const v of veths) {
    lines.push(`addr add ${v.address}/${v.prefix} dev ${v.ifname}`);
    lines.push(`link set ${v.ifname} up`);
    if (v.defaultRoute) lines.push(`route add default via ${v.gateway} dev ${v.ifname}`);
  }
  return lines.join('\n') + '\n';
}

/** Lines reported as failed by `ip -force -batch`, with their messages. */
export function failedBatchLines(stderr: string): Map<number, string> {
  const out = new Map<number, string>();
  let last = '';
  for (const line of stderr.split('\n')) {
    const m = /^Command failed -:(\d+)/.exec(line);
    if (m) out.set(Number(m[1]), last);
    else if (line.trim()) last = line.trim();
  }
  return out;
}

/** The netns inode of a process, to tell that it really has a namespace of its own. */
export function netnsInode(pid: number | 'self'): number {
  return statSync(`/proc/${pid}/ns/net`).ino;
}

export function assertOwnNetns(pid: number): void {
  let theirs: number;
  try {
    theirs = netnsInode(pid);
  } catch (err) {
    throw new SystemError(`the container's init (pid ${pid}) is gone before its network was set up`, { cause: err });
  }
  if (theirs === netnsInode('self'))
    throw new SystemError(`process ${pid} shares the host's network namespace, refusing to configure it as a container`);
}

export async function runHostBatch(text: string, mayExist: Set<number>, mayBeGone: Set<number> = new Set()): Promise<void> {
  if (text.trim() === '') return;
  const r = await execInput('ip', ['-force', '-batch', '-'], text);
  if (r.code === 0) return;
  const failed = failedBatchLines(r.stderr);
  const real = [...failed].filter(
    ([n, msg]) =>
      !(mayExist.has(n) && /File exists/.test(msg)) && !(mayBeGone.has(n) && /Cannot find device|No such device/.test(msg)),
  );
  if (failed.size === 0 || real.length > 0) {
    const [n, msg] = real[0] ?? [0, firstLine(r.stderr)];
    const line = text.split('\n')[n - 1] ?? '';
    throw new SystemError(`cannot set up the container's network: ip ${line}: ${msg || `exit ${r.code}`}`);
  }
}

export async function runNsBatch(pid: number, text: string): Promise<void> {
  if (text.trim() === '') return;
  const r = await execInput('nsenter', [`--net=/proc/${pid}/ns/net`, 'ip', '-batch', '-'], text);
  if (r.code !== 0)
    throw new SystemError(`cannot configure the container's interfaces: ${firstLine(r.stderr) || `exit ${r.code}`}`);
}

export async function deleteLinks(names: string[]): Promise<void> {
  const present = names.filter(linkExists);
  if (present.length === 0) return;
  const r = await execInput('ip', ['-force', '-batch', '-'], present.map((n) => `link del ${n}`).join('\n') + '\n');
  // A link that vanished meanwhile (its netns died) is fine.
  const failed = [...failedBatchLines(r.stderr)].filter(([, msg]) => !/Cannot find device|No such device/.test(msg));
  if (failed.length > 0) throw new SystemError(`cannot delete ${present.join(', ')}: ${failed[0]![1]}`);
}

/**
 * Host veths of a container whose namespace is gone or going: the kernel deletes them with the
 * namespace (3-16 ms after the container's exit here, the same time an `ip link del` takes), so
 * nobody waits for that. Whatever is still there is deleted by one `ip` process left to finish
 * on its own: it covers a namespace kept alive by a `container:` joiner. Only for containers
 * that are being removed: a restart reuses the names (attach deletes a stale one itself).
 */
export function deleteLinksInBackground(names: string[]): void {
  const present = names.filter(linkExists);
  if (present.length === 0) return;
  const args = present.length === 1 ? ['link', 'del', present[0]!] : ['-force', '-batch', '/dev/stdin'];
  try {
    // node:child_process on first use (~4 ms to load): most commands never reach this
    const child = process
      .getBuiltinModule('node:child_process')
      .spawn('ip', args, { detached: true, stdio: [present.length === 1 ? 'ignore' : 'pipe', 'ignore', 'ignore'] });
    child.on('error', () => undefined);
    if (child.stdin) {
      child.stdin.on('error', () => undefined);
      child.stdin.end(present.map((n) => `link del ${n}`).join('\n') + '\n');
    }
    child.unref();
  } catch {
    /* the kernel removes them with the namespace anyway */
  }
}

function writeSysctl(path: string, value: string): void {
  try {
    if (readFileSync(path, 'utf8').trim() === value) return;
    writeFileSync(path, value);
  } catch (err) {
    throw new SystemError(
      `cannot set ${path.replace('/proc/sys/', '').replaceAll('/', '.')} = ${value}: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
}

/**
 * The sysctls the runtime needs: IPv4 forwarding (containers reaching beyond their bridge,
 * published ports from other hosts) and route_localnet on each bridge (DNAT of 127.0.0.1:PORT
 * to a container; the source is masqueraded to the bridge address right after).
 */
export function setSysctls(bridges: string[]): void {
  writeSysctl('/proc/sys/net/ipv4/ip_forward', '1');
  for (const b of bridges) writeSysctl(`/proc/sys/net/ipv4/conf/${b}/route_localnet`, '1');
}
