// Labs 6-8: cgroup memory limit and the OOM killer; cpu weight, quota and cpuset; pids and
// freezer. Each works on v1 (one hierarchy a controller) and v2 (one unified tree); the page says
// which files differ, and the checker reads the files of the group the command really is in.
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { descendants, statusOf } from '../proc.js';
import { runScript, runToEnd } from '../runner.js';
import type { CheckInput, CheckList } from '../types.js';
import { probeCgroupDir, readCg, withProbe } from './common.js';

const MIB32 = String(32 * 1024 * 1024);

/** Value of `key` in a flat-keyed cgroup file ("oom_kill 1"). */
export function keyed(text: string | undefined, key: string): number | undefined {
  const line = (text ?? '').split('\n').find((l) => l.startsWith(`${key} `));
  return line === undefined ? undefined : Number(line.split(' ')[1]);
}

function groupsBelow(dir: string): string[] {
  let names: string[] = [];
  try {
    names = readdirSync(dir, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name);
  } catch {
    return [];
  }
  return names.flatMap((n) => [join(dir, n), ...groupsBelow(join(dir, n))]);
}

/** Lab 6: run.sh CMD... runs CMD in a memory cgroup limited to 32 MiB without swap. */
export async function checkMemory(input: CheckInput, t: CheckList): Promise<void> {
  const v2 = input.cgroups!.version === 2;
  const limitFile = v2 ? 'memory.max' : 'memory.limit_in_bytes';
  await withProbe(input, t, (pid) => {
    const dir = probeCgroupDir(input, t, pid, 'memory');
    const limit = readCg(dir, limitFile);
    t.expect(
      `${limitFile} is 32 MiB`,
      limit === MIB32,
      `write ${MIB32} (32 MiB) to ${limitFile} of the command's group before the command starts`,
      `${limitFile}: ${limit}`,
    );
    if (v2) {
      const swap = readCg(dir, 'memory.swap.max');
      t.expect(
        'no swap for the group',
        swap === undefined || swap === '0',
        'with swap the OOM killer waits until swap is full: write 0 to memory.swap.max',
        `memory.swap.max: ${swap}`,
      );
    } else if (existsSync(join(dir, 'memory.memsw.limit_in_bytes'))) {
      const memsw = readCg(dir, 'memory.memsw.limit_in_bytes');
      t.expect(
        'no swap for the group',
        memsw === MIB32,
        'memory.memsw.limit_in_bytes (memory + swap) must equal the memory limit, or the group swaps instead of meeting the OOM killer',
        `memory.memsw.limit_in_bytes: ${memsw}`,
      );
    }
  });
  // the OOM killer: a command that keeps allocating (tail holds an ever longer "last line")
  const hog = runScript(input.script, ['tail', '/dev/zero'], input.workspace, input.env);
  // never let a script without a working limit eat the host's memory: stop it past 256 MiB
  let overran = false;
  const guard = setInterval(() => {
    const pid = hog.child.pid;
    if (pid === undefined) return;
    const rss = [pid, ...descendants(pid)].reduce((sum, p) => sum + Number((statusOf(p).get('VmRSS') ?? '0').split(' ')[0]), 0);
    if (rss > 256 * 1024) {
      overran = true;
      void hog.stop();
    }
  }, 100);
  const code = await runToEnd(hog, 30000);
  clearInterval(guard);
  t.expect(
    'the command cannot use more than its limit',
    !overran,
    'the checker stopped "run.sh tail /dev/zero" past 256 MiB: the limit must hold for every command the script runs, written before exec',
  );
  t.output(hog.output());
  const parent = input.env['LAB_CGROUP_MEMORY']!;
  const events = v2 ? 'memory.events' : 'memory.oom_control';
  const kills = groupsBelow(parent).map((g) => keyed(readCg(g, events), 'oom_kill') ?? 0);
  t.expect(
    'the OOM killer killed the command that went over the limit',
    kills.some((k) => k > 0),
    `the checker ran "run.sh tail /dev/zero" (it allocates without end) and no group below ${parent} counts an oom_kill in ${events}: is the limit written before exec, and swap off?`,
    `exit code ${code}; oom_kill counts: ${kills.join(', ') || 'no groups'}`,
  );
}

/** Lab 7: run.sh CMD... runs CMD with half a CPU (quota), a lower weight, and only CPU 0. */
export async function checkCpu(input: CheckInput, t: CheckList): Promise<void> {
  const v2 = input.cgroups!.version === 2;
  await withProbe(input, t, (pid) => {
    const cpu = probeCgroupDir(input, t, pid, 'cpu');
    if (v2) {
      const max = readCg(cpu, 'cpu.max');
      t.expect(
        'cpu.max is "50000 100000" (half a CPU)',
        max === '50000 100000',
        'write "50000 100000" to cpu.max: 50 ms of CPU time every 100 ms period',
        `cpu.max: ${max}`,
      );
      const weight = readCg(cpu, 'cpu.weight');
      t.expect(
        'cpu.weight is 20 (shares 512)',
        weight === '20',
        'write 20 to cpu.weight (the v2 weight runc and crun use for --cpu-shares 512)',
        `cpu.weight: ${weight}`,
      );
    } else {
      const quota = readCg(cpu, 'cpu.cfs_quota_us');
      const period = readCg(cpu, 'cpu.cfs_period_us');
      t.expect(
        'cpu.cfs_quota_us / cpu.cfs_period_us is half a CPU',
        quota === '50000' && period === '100000',
        'write 50000 to cpu.cfs_quota_us (the period stays 100000): 50 ms of CPU time every 100 ms',
        `quota ${quota}, period ${period}`,
      );
      const shares = readCg(cpu, 'cpu.shares');
      t.expect(
        'cpu.shares is 512',
        shares === '512',
        'write 512 to cpu.shares: half the default weight of 1024 when CPUs are contended',
        `cpu.shares: ${shares}`,
      );
    }
    const cpuset = probeCgroupDir(input, t, pid, 'cpuset');
    // the group's own setting (on v2 an unset cpuset.cpus is empty and inherits the parent's)
    const cpus = readCg(cpuset, 'cpuset.cpus');
    t.expect(
      'the group may use CPU 0 only',
      cpus === '0',
      'write 0 to cpuset.cpus of the group (on v1 write cpuset.mems as well, before adding the process: a v1 cpuset starts empty)',
      `cpus: ${cpus}`,
    );
    const allowed = statusOf(pid).get('Cpus_allowed_list');
    t.expect(
      'the scheduler lets the command run on CPU 0 only',
      allowed === '0',
      "the group's cpuset does not bind the command: move the process into the cpuset group after setting cpuset.cpus",
      `Cpus_allowed_list: ${allowed}`,
    );
  });
}

/** Lab 8: run.sh CMD... runs CMD in a group with pids.max 20; freeze.sh PID freezes PID's group. */
export async function checkPidsFreezer(input: CheckInput, t: CheckList): Promise<void> {
  const v2 = input.cgroups!.version === 2;
  const freeze = join(dirname(input.script), 'freeze.sh');
  await withProbe(input, t, async (pid) => {
    const pids = probeCgroupDir(input, t, pid, 'pids');
    const max = readCg(pids, 'pids.max');
    t.expect(
      'pids.max is 20',
      max === '20',
      'write 20 to pids.max of the group: fork() fails with EAGAIN past 20 tasks',
      `pids.max: ${max}`,
    );
    const fz = probeCgroupDir(input, t, pid, v2 ? 'pids' : 'freezer');
    t.expect(
      'freeze.sh exists beside run.sh',
      existsSync(freeze),
      `write ${freeze}: given a pid, it freezes that process's cgroup`,
    );
    const run = runScript(freeze, [String(pid)], input.workspace, input.env);
    const code = await runToEnd(run);
    t.output(run.output());
    t.expect('freeze.sh succeeds', code === 0, `freeze.sh ${pid} exited with code ${code}`);
    let state: string | undefined;
    for (let i = 0; i < 40; i++) {
      state = v2 ? (keyed(readCg(fz, 'cgroup.events'), 'frozen') === 1 ? 'FROZEN' : 'THAWED') : readCg(fz, 'freezer.state');
      if (state === 'FROZEN') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    t.expect(
      "the command's group is frozen",
      state === 'FROZEN',
      v2
        ? 'write 1 to cgroup.freeze of the group the pid is in (read it from /proc/PID/cgroup)'
        : "write FROZEN to freezer.state of the pid's group in the freezer hierarchy (read it from /proc/PID/cgroup)",
      `${fz}: ${state}`,
    );
  });
}
