// Numbered migrations, applied in order; PRAGMA user_version records how many have run.
// Never edit a migration that has shipped: add the next one.
import { m001 } from './001_init.js';
import { m002 } from './002_networks.js';
import { m006 } from './006_devmapper.js';

export const MIGRATIONS: readonly string[] = [m001, m002, m006];
