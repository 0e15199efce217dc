// The command table that lets the CLI register only the group it runs: every command a group
// registers is listed for it, nothing else is, and the scan of the command line finds the
// command past the global options (or gives up, which registers everything).
import { describe, expect, it } from 'vitest';
import { Command } from 'commander';
import { GROUPS, commandOf, registerGroups } from '../../src/cli/groups.js';
import type { Context } from '../../src/runtime/context.js';

const noContext = (): Context => {
  throw new Error('registration must not need the context');
};

describe('command groups', () => {
  it('lists exactly the top-level commands each group registers', () => {
    for (const g of GROUPS) {
      const p = new Command().enablePositionalOptions();
      // a shared parent made by an earlier group (container) is there when this one adds to it
      for (const earlier of GROUPS.slice(0, GROUPS.indexOf(g))) {
        if (earlier.commands.some((c) => g.commands.includes(c))) earlier.register(p, noContext);
      }
      const before = new Set(p.commands.map((c) => c.name()));
      g.register(p, noContext);
      const touched = new Set(p.commands.map((c) => c.name()).filter((n) => !before.has(n)));
      for (const shared of g.commands) if (before.has(shared)) touched.add(shared);
      expect([...touched].sort()).toEqual([...g.commands].sort());
    }
  });

  it('a command line registers only its group; help and unknown commands register all', () => {
    const names = (args: string[]) => {
      const p = new Command().enablePositionalOptions();
      registerGroups(p, noContext, args);
      return p.commands.map((c) => c.name()).sort();
    };
    expect(names(['--root', '/x', '-D', 'ps', '-a'])).toEqual(['create', 'ps', 'rm', 'run', 'start']);
    expect(names(['container', 'cleanup', 'x'])).toContain('container');
    expect(names(['container', 'cleanup', 'x'])).toContain('exec');
    const all = names([]);
    expect(names(['--help'])).toEqual(all);
    expect(names(['nosuch'])).toEqual(all);
    expect(all.length).toBe(new Set(GROUPS.flatMap((g) => g.commands)).size);
  });

  it('finds the command after the global options', () => {
    expect(commandOf(['run', '--rm', 'busybox'])).toBe('run');
    expect(commandOf(['--root', 'run', 'ps'])).toBe('ps');
    expect(commandOf(['--root=/r', '--log-level', 'debug', '-s', 'vfs', 'images'])).toBe('images');
    expect(commandOf(['--storage-driver', 'overlay', '--debug', 'info'])).toBe('info');
    expect(commandOf(['-h'])).toBeUndefined();
    expect(commandOf(['--', 'run'])).toBeUndefined();
    expect(commandOf([])).toBeUndefined();
  });
});
