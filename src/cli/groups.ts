// Every command group registers itself here. Each group's file holds only commander wiring;
// the work is imported inside the action, so a command loads just the modules it uses.
import type { Command } from 'commander';
import type { GetContext } from '../runtime/context.js';
import { registerSystem } from './system.js';
import { registerImages } from './images.js';
import { registerContainers } from './containers.js';
import { registerNetwork } from './network.js';
import { registerLifecycle } from './lifecycle.js';
import { registerInteractive } from './interactive.js';
import { registerTransfer } from './transfer.js';

export function registerGroups(program: Command, ctx: GetContext): void {
  registerContainers(program, ctx);
  registerLifecycle(program, ctx);
  registerInteractive(program, ctx); // after lifecycle: it adds to its `container` command
  registerSystem(program, ctx);
  registerImages(program, ctx);
  registerNetwork(program, ctx);
  registerTransfer(program, ctx);
}
