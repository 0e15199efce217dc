// Where --trace is taken from the command line: global options and the command's own options,
// never the container's command (run/create/exec stop at the first operand).
import { describe, expect, it } from 'vitest';
import { Command } from 'commander';
import { registerGroups } from '../../src/cli/groups.js';
import { registerTraceOption, takeTrace } from '../../src/cli/trace-flag.js';
import type { Context } from '../../src/runtime/context.js';

const noContext = (): Context => {
  throw new Error('registration must not need the context');
};

function program(): Command {
  const p = new Command().enablePositionalOptions();
  p.option('--root <dir>');
  registerGroups(p, noContext, []);
  registerTraceOption(p);
  return p;
}

describe('takeTrace', () => {
  const p = program();
  const take = (line: string) => takeTrace(p, line.split(' '));

  it('takes --trace and --trace=json before the operands', () => {
    expect(take('run --trace --rm busybox true')).toEqual({ args: ['run', '--rm', 'busybox', 'true'], format: 'text' });
    expect(take('run --rm --trace=json busybox true').format).toBe('json');
    expect(take('--root /x --trace run busybox').args).toEqual(['--root', '/x', 'run', 'busybox']);
    expect(take('exec --trace web sh -c true')).toEqual({ args: ['exec', 'web', 'sh', '-c', 'true'], format: 'text' });
    expect(take('rm -f web --trace').format).toBe('text');
  });

  it("skips option values, and leaves the container's command alone", () => {
    expect(take('run --name --trace busybox true').format).toBeUndefined(); // the name is "--trace"
    expect(take('run -e X=1 --trace busybox').format).toBe('text');
    expect(take('run busybox echo --trace')).toEqual({ args: ['run', 'busybox', 'echo', '--trace'], format: undefined });
    expect(take('exec web sh --trace=json').format).toBeUndefined();
    expect(take('ps --trace').format).toBeUndefined();
  });

  it('refuses other formats and lists the flag in help', () => {
    expect(() => take('run --trace=xml busybox')).toThrow(/text or json/);
    const run = p.commands.find((c) => c.name() === 'run')!;
    expect(run.options.some((o) => o.long === '--trace')).toBe(true);
  });
});
