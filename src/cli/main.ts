// The tscontainer command line: global flags, one register function per command group, and
// the single place where errors become one line on stderr and an exit code.
import { Command, CommanderError, Option } from 'commander';
import { resolveRoots, layoutOf } from '../util/paths.js';
import { EXIT_OWN, toTscError, UsageError } from '../util/errors.js';
import { configureLog, LEVELS, log, type Level } from '../util/log.js';
import type { Context, GlobalOptions } from '../runtime/context.js';
import { openDb, type DB } from '../store/db.js';
import { registerGroups } from './groups.js';
import { enableTrace, mark, printTrace } from '../util/trace.js';
import { registerTraceOption, takeTrace } from './trace-flag.js';

const program = new Command('tscontainer');
const exitHooks: (() => void)[] = [];
let dbHandle: DB | undefined;
let ctx: Context | undefined;

program
  .description('A daemon-less container runtime')
  .option('--root <dir>', 'state root (default /var/lib/tscontainer, or $TSCONTAINER_ROOT)')
  .option('-D, --debug', 'log debug messages to stderr as well')
  .addOption(new Option('--log-level <level>', 'log level').choices(LEVELS as string[]))
  .option(
    '-s, --storage-driver <name>',
    'graph driver: overlay, btrfs, devicemapper or vfs (default: overlay when the kernel has it, then btrfs on a btrfs state root, then vfs)',
  )
  .option(
    '--storage-opt <key=value>',
    'storage driver option, repeatable (devicemapper: dm.loopdatasize, dm.loopmetadatasize, dm.basesize, dm.fs, dm.thinpooldev, dm.blkdiscard, dm.min_free_space, dm.mkfsarg, dm.mountopt)',
    (v: string, prev: string[] | undefined) => [...(prev ?? []), v],
  )
  .enablePositionalOptions()
  .showSuggestionAfterError(true)
  .exitOverride()
  .configureOutput({
    // commander's own errors become our one-line format in the catch below
    writeErr: (s) => {
      if (!s.startsWith('error:')) process.stderr.write(s);
    },
  });

/** The context, created on first use from the global flags. */
export function context(): Context {
  if (ctx) return ctx;
  const g = program.opts<GlobalOptions>();
  const roots = resolveRoots(g.root);
  const layout = layoutOf(roots);
  const level = (g.logLevel ?? (g.debug ? 'debug' : 'info')) as Level;
  configureLog(layout.log, level, Boolean(g.debug || g.logLevel));
  ctx = {
    roots,
    layout,
    storageDriver: g.storageDriver ?? process.env['TSCONTAINER_STORAGE_DRIVER'],
    storageOpts:
      g.storageOpt ??
      (process.env['TSCONTAINER_STORAGE_OPTS'] ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    db: () => {
      dbHandle ??= openDb(layout.db);
      return dbHandle;
    },
    onExit: (fn) => exitHooks.push(fn),
    warn: (message) => {
      process.stderr.write(`WARNING: ${message}\n`);
    },
  };
  return ctx;
}

function finish(code: number): never {
  for (const fn of exitHooks.splice(0).reverse()) {
    try {
      fn();
    } catch {
      /* clean-up must not hide the real result */
    }
  }
  dbHandle?.close();
  mark('exit');
  printTrace();
  process.exit(code);
}

function usageLine(err: CommanderError): string {
  const msg = err.message.replace(/^error:\s*/, '').split('\n')[0] ?? err.message;
  return msg;
}

export async function main(argv: string[]): Promise<void> {
  mark('cli loaded');
  registerGroups(program, context, argv.slice(2));
  registerTraceOption(program);
  mark('commands registered');
  try {
    const traced = takeTrace(program, argv.slice(2));
    if (traced.format) enableTrace(traced.format);
    await program.parseAsync([...argv.slice(0, 2), ...traced.args]);
    finish(typeof process.exitCode === 'number' ? process.exitCode : 0);
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') finish(0);
      process.stderr.write(`tscontainer: ${usageLine(err)}\nSee 'tscontainer --help'.\n`);
      finish(EXIT_OWN);
    }
    const e = toTscError(err);
    log(e instanceof UsageError ? 'info' : 'error', e.message, { err: String((err as Error)?.stack ?? err) });
    process.stderr.write(`tscontainer: ${e.message}\n`);
    finish(e.exitCode);
  }
}
