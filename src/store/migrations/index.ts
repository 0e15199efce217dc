// Numbered migrations, applied in order; PRAGMA user_version records how many have run.
// Never edit a migration that has shipped: add the next one.
import { m001 } from './001_init.js';
import { m002 } from './002_networks.js';
// (placeholder: 003_build_cache.ts comes from the build branch; the lead reorders at merge)
import { m004 } from './004_transfer.js';

export const MIGRATIONS: readonly string[] = [m001, m002, /* 003_build_cache goes here at merge */ m004];
