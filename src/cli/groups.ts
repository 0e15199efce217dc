// Every command group registers itself here. Each group's file holds only commander wiring;
// the work is imported inside the action, so a command loads just the modules it uses.
//
// Only the group that owns the command being run is registered: building the Command and
// Option objects of every command costs several milliseconds at every start. Help, an unknown
// command or a command line this scan cannot read registers everything, so commander's help,
// errors and suggestions stay whole.
import type { Command } from 'commander';
import type { GetContext } from '../runtime/context.js';
import { registerSystem } from './system.js';
import { registerImages } from './images.js';
import { registerContainers } from './containers.js';
import { registerNetwork } from './network.js';
import { registerLifecycle } from './lifecycle.js';
import { registerInteractive } from './interactive.js';
import { registerBuild } from './build.js';
import { registerTransfer } from './transfer.js';
import { registerLab } from './lab.js';

export interface Group {
  register: (program: Command, ctx: GetContext) => void;
  /** The top-level commands the group adds to (a shared parent such as `container` is listed
   *  by every group that adds to it). */
  commands: readonly string[];
}

/** In registration order: interactive comes after lifecycle, whose `container` it adds to. */
export const GROUPS: readonly Group[] = [
  { register: registerContainers, commands: ['run', 'create', 'start', 'rm', 'ps'] },
  {
    register: registerLifecycle,
    commands: [
      'stop',
      'kill',
      'wait',
      'restart',
      'pause',
      'unpause',
      'rename',
      'logs',
      'inspect',
      'top',
      'stats',
      'container',
      'system',
    ],
  },
  { register: registerInteractive, commands: ['exec', 'attach', 'container'] },
  { register: registerSystem, commands: ['version', 'info'] },
  { register: registerImages, commands: ['images', 'rmi', 'tag', 'import', 'image'] },
  { register: registerNetwork, commands: ['network', 'port'] },
  // after images and the container groups: it adds to their `image` and `container` commands
  {
    register: registerBuild,
    commands: ['build', 'history', 'commit', 'diff', 'export', 'cp', 'builder', 'container', 'image'],
  },
  { register: registerTransfer, commands: ['load', 'save', 'pull', 'push', 'login', 'logout'] },
  { register: registerLab, commands: ['lab'] },
];

/** Global options of the program that take a value (see main.ts). */
const VALUED = new Set(['--root', '--log-level', '-s', '--storage-driver', '--storage-opt']);

/** Where the command name is in `args`: the first operand after the global options, or -1 when
 *  there is none or the line is not one this scan is sure of. */
export function commandIndex(args: readonly string[]): number {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--' || a === '-h' || a === '--help') return -1;
    if (!a.startsWith('-')) return i;
    if (VALUED.has(a)) i++;
  }
  return -1;
}

/** The command name the user typed, or undefined (see commandIndex). */
export function commandOf(args: readonly string[]): string | undefined {
  const i = commandIndex(args);
  return i < 0 ? undefined : args[i];
}

/** Registers the groups `args` (the arguments after the program name) need. */
export function registerGroups(program: Command, ctx: GetContext, args: readonly string[] = []): void {
  const name = commandOf(args);
  const wanted = name === undefined ? [] : GROUPS.filter((g) => g.commands.includes(name));
  for (const g of wanted.length > 0 ? wanted : GROUPS) g.register(program, ctx);
}
