// Many CLI processes acting on one container at once: every change of hands is a
// compare-and-set in SQLite (created|exited -> starting -> running -> exiting -> exited), so
// nothing is done twice and nothing is removed from under another process.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { containerCgroupDir, leftovers, makeRoot, scaled, type TestRoot } from './support/cli.js';

let t: TestRoot;

beforeAll(async () => {
  t = makeRoot('races');
  expect((await t.run(['run', '--rm', '--network', 'none', 'busybox', 'true'])).exitCode).toBe(0);
});

afterAll(async () => {
  expect(await t.cleanup()).toEqual([]);
});

function db(): Database.Database {
  return new Database(join(t.root, 'state.db'));
}

async function inspect(name: string): Promise<{ State: { Status: string; Pid: number; Error: string } }> {
  const r = await t.run(['inspect', name]);
  expect(r.exitCode, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { State: { Status: string; Pid: number; Error: string } }[])[0]!;
}

describe('concurrent CLI processes on one container', () => {
  it('four simultaneous starts of one container start exactly one process', async () => {
    expect((await t.run(['create', '--name', 'once', '--network', 'none', 'busybox', 'sleep', '30'])).exitCode).toBe(0);
    const starts = await Promise.all(Array.from({ length: 4 }, () => t.run(['start', 'once'])));
    // the others either saw it running (docker prints the name) or were refused while it started
    for (const r of starts) {
      if (r.exitCode !== 0) expect(r.stderr).toMatch(/already being started, running or stopping/);
    }
    expect(starts.some((r) => r.exitCode === 0)).toBe(true);
    const s = await inspect('once');
    expect(s.State.Status).toBe('running');
    const procs = readFileSync(
      join(
        containerCgroupDir(t.cgroupParent, (await t.run(['inspect', '-f', '{{.Id}}', 'once'])).stdout, 'pids'),
        'cgroup.procs',
      ),
      'utf8',
    )
      .split('\n')
      .filter(Boolean);
    expect(procs).toEqual([String(s.State.Pid)]);
    expect((await t.run(['rm', '-f', 'once'])).exitCode).toBe(0);
  });

  it('rm of a container that another CLI is starting is refused, not done under it', async () => {
    expect((await t.run(['create', '--name', 'claimed', '--network', 'none', 'busybox', 'true'])).exitCode).toBe(0);
    const d = db();
    d.prepare(`UPDATE containers SET state = 'starting', started_at = ? WHERE name = 'claimed'`).run(new Date().toISOString());
    d.close();
    const rm = await t.run(['rm', 'claimed']);
    expect(rm.exitCode).toBe(1);
    expect(rm.stderr).toContain('it is starting');
    expect((await t.run(['ps', '-a', '-q', '-f', 'name=claimed'])).stdout).not.toBe('');
  });

  it('a start whose CLI died is shown exited after a minute and can be removed', async () => {
    const d = db();
    d.prepare(`UPDATE containers SET state = 'starting', started_at = ? WHERE name = 'claimed'`).run(
      new Date(Date.now() - 120_000).toISOString(),
    );
    d.close();
    const s = await inspect('claimed');
    expect(s.State.Status).toBe('exited');
    expect(s.State.Error).toContain('start was interrupted');
    expect((await t.run(['rm', 'claimed'])).exitCode).toBe(0);
    expect(leftovers(t.root, t.cgroupParent)).toEqual([]);
  });

  it('run -d --rm of a command that exits at once still removes itself', async () => {
    for (let i = 0; i < 3; i++) {
      const r = await t.run(['run', '-d', '--rm', '--name', `quick${i}`, '--network', 'none', 'busybox', 'true']);
      expect(r.exitCode, r.stderr).toBe(0);
    }
    const deadline = Date.now() + scaled(15_000);
    let left = '';
    while (Date.now() < deadline) {
      left = (await t.run(['ps', '-a', '-q', '-f', 'name=quick'])).stdout;
      if (left === '') break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(left).toBe('');
    expect(leftovers(t.root, t.cgroupParent)).toEqual([]);
  });

  it('a restart is not undone by the clean-up of the run before it', async () => {
    expect((await t.run(['run', '-d', '--name', 'again', '--network', 'none', 'busybox', 'sleep', '30'])).exitCode).toBe(0);
    const first = (await inspect('again')).State.Pid;
    expect((await t.run(['restart', '-t', '1', 'again'])).exitCode).toBe(0);
    // the first run's monitor runs its clean-up as it exits; give it time to act
    await new Promise((r) => setTimeout(r, scaled(1500)));
    const s = await inspect('again');
    expect(s.State.Status).toBe('running');
    expect(s.State.Pid).not.toBe(first);
    expect(readFileSync(`/proc/${s.State.Pid}/cmdline`, 'utf8')).toContain('sleep');
    expect((await t.run(['rm', '-f', 'again'])).exitCode).toBe(0);
  });
});
