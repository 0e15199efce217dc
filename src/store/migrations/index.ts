// Numbered migrations, applied in order; PRAGMA user_version records how many have run.
// Never edit a migration that has shipped: add the next one.
import { m001 } from './001_init.js';
import { m002 } from './002_networks.js';
import { m003 } from './003_build_cache.js';
import { m004 } from './004_transfer.js';
import { m005 } from './005_userns.js';
import { m006 } from './006_devmapper.js';

export const MIGRATIONS: readonly string[] = [m001, m002, m003, m004, m005, m006];
