// Bundles the CLI with esbuild into dist/: one entry (dist/tscontainer.js) plus chunks for the
// modules commands import lazily. Loading one bundled file instead of ~100 modules saves about
// 70 ms on every command (measured with TSCONTAINER_TRACE=1); better-sqlite3 stays external
// because it carries a native addon, and pino is required lazily at run time.
import { build } from 'esbuild';
import { existsSync, renameSync, rmSync } from 'node:fs';

// Build beside dist/ and swap it in, so a CLI started meanwhile (a test run) never finds
// dist/ half-written or gone.
const dist = new URL('../dist', import.meta.url).pathname;
const next = `${dist}.next`;
const old = `${dist}.old`;
rmSync(next, { recursive: true, force: true });
await build({
  entryPoints: { tscontainer: 'src/cli/main.ts' },
  outdir: next,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  chunkNames: 'chunks/[name]-[hash]',
  external: ['better-sqlite3', 'pino'],
  // Bundled CommonJS code (commander) calls require(); give ESM output one.
  banner: {
    js: "import { createRequire as __tscCreateRequire } from 'node:module'; const require = __tscCreateRequire(import.meta.url);",
  },
  logLevel: 'warning',
});
rmSync(old, { recursive: true, force: true });
if (existsSync(dist)) renameSync(dist, old);
renameSync(next, dist);
rmSync(old, { recursive: true, force: true });
