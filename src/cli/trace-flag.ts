// --trace and --trace=json on run, create, start, exec, rm and build (and before the command
// name, as a global flag). commander cannot have one flag that is boolean when bare and takes
// "=json" when given: an optional value would swallow the next operand (`run --trace busybox`
// would read "busybox" as the format). So the flag is taken out of the arguments before commander
// parses them, from the places where it is tscontainer's: among the global options, and among
// the command's own options (for run, create and exec only before the image or container
// operand: what follows belongs to the container's command). It is still registered on each
// command, so --help lists it.
import { Option, type Command } from 'commander';
import { UsageError } from '../util/errors.js';
import type { TraceFormat } from '../util/trace.js';
import { commandIndex } from './groups.js';

const TRACED = ['run', 'create', 'start', 'exec', 'rm', 'build'];
/** Commands whose operands are followed by the container's own command and its flags. */
const STOP_AT_OPERAND = new Set(['run', 'create', 'exec']);

function traceFlag(a: string): TraceFormat | undefined | 'bad' {
  if (a === '--trace' || a === '--trace=text') return 'text';
  if (a === '--trace=json') return 'json';
  if (a.startsWith('--trace=')) return 'bad';
  return undefined;
}

/** Adds --trace to the help of the traced commands that are registered. */
export function registerTraceOption(program: Command): void {
  for (const c of program.commands) {
    if (TRACED.includes(c.name()) && !c.options.some((o) => o.long === '--trace')) {
      c.addOption(new Option('--trace', 'narrate every step on stderr, with timings (--trace=json: JSON lines)'));
    }
  }
}

/** The arguments without tscontainer's --trace flags, and the format they asked for. */
export function takeTrace(program: Command, args: readonly string[]): { args: string[]; format: TraceFormat | undefined } {
  const out = [...args];
  let format: TraceFormat | undefined;
  const take = (i: number): boolean => {
    const f = traceFlag(out[i]!);
    if (f === undefined) return false;
    if (f === 'bad') throw new UsageError(`${out[i]}: the trace format is text or json`);
    format = f;
    out.splice(i, 1);
    return true;
  };
  // global position: before the command name (commandIndex skips --trace as a boolean flag)
  let idx = commandIndex(out);
  for (let i = (idx < 0 ? out.length : idx) - 1; i >= 0; i--) take(i);
  idx = commandIndex(out);
  if (idx < 0) return { args: out, format };
  const name = out[idx]!;
  const cmd = program.commands.find((c) => c.name() === name);
  if (!cmd || !TRACED.includes(name)) return { args: out, format };
  for (let i = idx + 1; i < out.length; i++) {
    const a = out[i]!;
    if (a === '--') break;
    if (!a.startsWith('-') || a === '-') {
      if (STOP_AT_OPERAND.has(name)) break;
      continue;
    }
    if (take(i)) {
      i--;
      continue;
    }
    if (a.includes('=')) continue;
    const opt = cmd.options.find((o) => o.long === a || o.short === a);
    if (opt && (opt.required || opt.optional)) i++;
  }
  return { args: out, format };
}
