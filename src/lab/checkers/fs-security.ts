// Labs 9-12: overlay layers and whiteouts; capabilities, no_new_privs and seccomp; user
// namespaces and id maps; dm-thin snapshots (device-mapper, in the VM harness).
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { mountsOf, nsOf, readProc, statusOf } from '../proc.js';
import { runScript, runToEnd } from '../runner.js';
import type { CheckInput, CheckList } from '../types.js';
import { expectNewNs, withProbe } from './common.js';

/** Lab 9: mount.sh mounts lower2 over lower1 at layers/merged and edits through it. */
export async function checkOverlay(input: CheckInput, t: CheckList): Promise<void> {
  const L = input.env['LAB_LAYERS']!;
  const run = runScript(input.script, [], input.workspace, input.env);
  const code = await runToEnd(run);
  t.output(run.output());
  t.expect('your mount script succeeds', code === 0, `mount.sh exited with code ${code}: see its output below`);
  const m = mountsOf('self').find((x) => x.mountPoint === join(L, 'merged'));
  t.expect(
    `an overlay is mounted at ${L}/merged`,
    m?.fsType === 'overlay',
    `nothing of type overlay at ${L}/merged: mount -t overlay overlay -o lowerdir=...,upperdir=...,workdir=... ${L}/merged`,
    m ? `${m.fsType} from ${m.source}` : 'no mount',
  );
  const opt = (k: string) => m!.superOptions.find((o) => o.startsWith(`${k}=`))?.slice(k.length + 1);
  const lower = opt('lowerdir');
  t.expect(
    'lowerdir is lower2 above lower1',
    lower === `${L}/lower2:${L}/lower1`,
    'lowerdir lists the layers top first, separated by ":": lowerdir=$LAB_LAYERS/lower2:$LAB_LAYERS/lower1',
    `lowerdir=${lower}`,
  );
  t.expect(
    'upperdir is layers/upper',
    opt('upperdir') === `${L}/upper`,
    'changes go to upperdir=$LAB_LAYERS/upper (with workdir=$LAB_LAYERS/work on the same filesystem)',
    `upperdir=${opt('upperdir')}`,
  );
  t.expect(
    'shared.txt comes from the top layer',
    readFileSync(join(L, 'merged', 'shared.txt'), 'utf8').startsWith('top'),
    'merged/shared.txt shows the bottom version: the first lowerdir is the top layer',
  );
  let wh: ReturnType<typeof lstatSync> | undefined;
  try {
    wh = lstatSync(join(L, 'upper', 'gone.txt'));
  } catch {
    /* none */
  }
  t.expect(
    'gone.txt is deleted through merged/ as a whiteout in upper/',
    wh !== undefined && wh.isCharacterDevice() && wh.rdev === 0 && !existsSync(join(L, 'merged', 'gone.txt')),
    'rm merged/gone.txt: overlay cannot touch lower1, so it records the deletion in upper/ as a 0/0 character device (a whiteout)',
    wh ? `upper/gone.txt: ${wh.isCharacterDevice() ? `char ${wh.rdev}` : 'a plain file'}` : 'no upper/gone.txt',
  );
  t.expect(
    'lower1 still has gone.txt',
    existsSync(join(L, 'lower1', 'gone.txt')),
    'never edit the lower layers themselves: they are shared by every container of the image; put lower1/gone.txt back (lab reset 9 restores the workspace)',
  );
  const listing = existsSync(join(L, 'merged', 'olddir')) ? readdirSync(join(L, 'merged', 'olddir')) : undefined;
  t.expect(
    'olddir is replaced by an empty opaque directory',
    listing !== undefined && listing.length === 0 && existsSync(join(L, 'lower1', 'olddir', 'keep-out.txt')),
    'rm -rf merged/olddir && mkdir merged/olddir: the new upper/olddir gets the trusted.overlay.opaque=y xattr and hides the lower one',
    listing ? `merged/olddir: ${listing.join(' ') || '(empty)'}` : 'no merged/olddir',
  );
  t.expect(
    'new.txt is written through merged/ into upper/',
    existsSync(join(L, 'upper', 'new.txt')) && !existsSync(join(L, 'lower2', 'new.txt')),
    'echo hello > merged/new.txt: new files land in upperdir only',
  );
}

/** The capability bits set in a /proc/PID/status mask such as CapBnd: 0000000000000400. */
export function capBits(hex: string | undefined): number[] {
  if (!hex) return [];
  const v = BigInt(`0x${hex}`);
  const out: number[] = [];
  for (let i = 0; i < 64; i++) if ((v >> BigInt(i)) & 1n) out.push(i);
  return out;
}

const CAP_NET_BIND_SERVICE = 10;

/** Lab 10: run.sh CMD... runs CMD with only CAP_NET_BIND_SERVICE, no_new_privs, and (bonus) a seccomp filter. */
export async function checkCaps(input: CheckInput, t: CheckList): Promise<void> {
  await withProbe(input, t, (pid) => {
    const st = statusOf(pid);
    const only = (field: string) => {
      const bits = capBits(st.get(field));
      return {
        ok: bits.length === 1 && bits[0] === CAP_NET_BIND_SERVICE,
        text: `${field}: ${st.get(field)} (bits ${bits.join(',') || 'none'})`,
      };
    };
    const bnd = only('CapBnd');
    t.expect(
      'the bounding set holds only CAP_NET_BIND_SERVICE',
      bnd.ok,
      'drop every other capability from the bounding set (PR_CAPBSET_DROP; setpriv --bounding-set -all,+net_bind_service): what is not in it can never come back',
      bnd.text,
    );
    const eff = only('CapEff');
    t.expect(
      'the effective and permitted sets hold only CAP_NET_BIND_SERVICE',
      eff.ok && only('CapPrm').ok,
      'as root the command still has every capability effective: capset() the permitted and effective sets too (setpriv --inh-caps ... and --ambient-caps, or capsh --caps=...)',
      `${eff.text}; CapPrm: ${st.get('CapPrm')}`,
    );
    t.expect(
      'no_new_privs is set',
      st.get('NoNewPrivs') === '1',
      'set PR_SET_NO_NEW_PRIVS (setpriv --no-new-privs) so that execve of a setuid binary cannot gain privileges back',
      `NoNewPrivs: ${st.get('NoNewPrivs')}`,
    );
    const sec = st.get('Seccomp');
    t.expect(
      'seccomp (bonus, not required): ' + (sec === '2' ? 'a filter is installed' : 'no filter'),
      true,
      '',
      `Seccomp: ${sec} (0 none, 1 strict, 2 filter); filters: ${st.get('Seccomp_filters') ?? '?'}`,
    );
  });
}

/** The lines of a uid_map/gid_map: [inside, outside, count]. */
export function parseIdMap(text: string | undefined): [number, number, number][] {
  return (text ?? '')
    .split('\n')
    .map((l) => l.trim().split(/\s+/).map(Number))
    .filter((f) => f.length === 3 && f.every((n) => Number.isFinite(n))) as [number, number, number][];
}

/** Lab 11: run.sh CMD... runs CMD as root of a new user namespace mapped to host ids 100000-165535. */
export async function checkUserns(input: CheckInput, t: CheckList): Promise<void> {
  await withProbe(input, t, (pid) => {
    expectNewNs(t, pid, 'user', 'unshare(CLONE_NEWUSER) (unshare --user): the id maps belong to a user namespace');
    for (const kind of ['uid', 'gid'] as const) {
      const map = parseIdMap(readProc(pid, `${kind}_map`));
      const ok = map.length === 1 && map[0]![0] === 0 && map[0]![1] === 100000 && map[0]![2] === 65536;
      t.expect(
        `${kind}_map is "0 100000 65536"`,
        ok,
        map.some(([, out]) => out === 0)
          ? `${kind} 0 inside maps to ${kind} 0 on the host: a root that is root outside too. Map 0 to 100000 (unshare --map-${kind === 'uid' ? 'users' : 'groups'}=0:100000:65536)`
          : `write "0 100000 65536" to /proc/PID/${kind}_map from outside${kind === 'gid' ? ' (after "deny" to setgroups, or as root)' : ''} (unshare --map-${kind === 'uid' ? 'users' : 'groups'}=0:100000:65536)`,
        `${kind}_map: ${map.map((l) => l.join(' ')).join('; ') || 'empty'}`,
      );
    }
    const uid = (statusOf(pid).get('Uid') ?? '').split(/\s+/)[0];
    t.expect(
      'the command runs as host uid 100000 (root inside)',
      uid === '100000',
      'the command must run as uid 0 inside the namespace (unshare --setuid 0 --setgid 0, or setuid(0) after the maps are written)',
      `Uid on the host: ${uid}`,
    );
    t.expect("the user namespace is not the host's", nsOf(pid, 'user') !== nsOf('self', 'user'), 'unshare --user');
  });
}

/** The targets of `dmsetup table` lines: name -> [target, args]. */
export function parseDmTable(text: string): Map<string, { target: string; args: string[] }> {
  const out = new Map<string, { target: string; args: string[] }>();
  for (const line of text.split('\n')) {
    const m = /^(\S+): \d+ \d+ (\S+)\s*(.*)$/.exec(line.trim());
    if (m) out.set(m[1]!, { target: m[2]!, args: m[3]!.split(/\s+/).filter(Boolean) });
  }
  return out;
}

/** Whether this kernel can run dm-thin; the reason when not. */
export function dmThinMissing(): string | undefined {
  if (!existsSync('/dev/mapper/control') && !readFileSync('/proc/misc', 'utf8').includes('device-mapper')) {
    return 'this kernel has no device-mapper (no /dev/mapper/control): run lab 12 in the VM harness (scripts/vm/), whose stock Debian kernel has dm-thin-pool';
  }
  try {
    const targets = execFileSync('dmsetup', ['targets'], { encoding: 'utf8' });
    if (!/^thin-pool\b/m.test(targets))
      return 'device-mapper is here but not the thin-pool target (dm-thin-pool): run lab 12 in the VM harness';
  } catch {
    return 'dmsetup cannot talk to device-mapper: run lab 12 in the VM harness';
  }
  return undefined;
}

/** Lab 12: setup.sh makes a thin pool $LAB_TAG-pool, a thin volume -vol and its snapshot -snap. */
export async function checkThin(input: CheckInput, t: CheckList): Promise<void> {
  const missing = dmThinMissing();
  if (missing) t.unsupported(missing);
  const run = runScript(input.script, [], input.workspace, input.env);
  const code = await runToEnd(run, 60000);
  t.output(run.output());
  t.expect('your setup script succeeds', code === 0, `setup.sh exited with code ${code}`);
  const p = `tl${input.env['LAB_TAG']}`;
  const table = parseDmTable(execFileSync('dmsetup', ['table'], { encoding: 'utf8' }));
  const pool = table.get(`${p}-pool`);
  t.expect(
    `a thin-pool device ${p}-pool`,
    pool?.target === 'thin-pool',
    `dmsetup create ${p}-pool --table "0 SECTORS thin-pool METADATA_DEV DATA_DEV 128 0"`,
  );
  const vol = table.get(`${p}-vol`);
  const snap = table.get(`${p}-snap`);
  t.expect(
    `a thin volume ${p}-vol in the pool`,
    vol?.target === 'thin',
    `dmsetup message ${p}-pool 0 "create_thin 0" then dmsetup create ${p}-vol --table "0 SECTORS thin /dev/mapper/${p}-pool 0"`,
  );
  t.expect(
    `a snapshot ${p}-snap of the volume, with its own device id`,
    snap?.target === 'thin' && snap.args[0] === vol!.args[0] && snap.args[1] !== vol!.args[1],
    `suspend ${p}-vol, dmsetup message ${p}-pool 0 "create_snap 1 0", resume, then dmsetup create ${p}-snap --table "0 SECTORS thin /dev/mapper/${p}-pool 1"`,
    snap ? `snap: thin ${snap.args.join(' ')}` : 'no snapshot device',
  );
}
