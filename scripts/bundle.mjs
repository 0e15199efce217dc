// Bundles the CLI with esbuild into one CommonJS file, dist/tscontainer.cjs. Measured with
// hyperfine and TSCONTAINER_TRACE=1 on these machines:
//   - one bundled file instead of ~100 modules saves about 70 ms on every command;
//   - one file instead of code-split chunks saves about 20 ms on `run` (a lazily imported
//     module inside the bundle is only initialised when first used);
//   - CommonJS instead of an ES module saved about 30 ms more on Node 20 (its ES module loader
//     was slow to translate a large file); bin/tscontainer adds V8's compile cache on top.
//   - commander requires node:child_process at load (only for git-style executable
//     subcommands, which we do not use): ~4 ms of every command that spawns nothing. The plugin
//     below hands commander a stand-in that loads the real module on first use.
// better-sqlite3 stays external because it carries a native addon; pino is required lazily.
import { build } from 'esbuild';
import { existsSync, renameSync, rmSync } from 'node:fs';

// Build beside dist/ and swap it in, so a CLI started meanwhile (a test run) never finds
// dist/ half-written or gone.
const dist = new URL('../dist', import.meta.url).pathname;
const next = `${dist}.next`;
const old = `${dist}.old`;
/** @type {import('esbuild').Plugin} */
const lazyChildProcessForCommander = {
  name: 'lazy-child-process-for-commander',
  setup(b) {
    b.onResolve({ filter: /^node:child_process$/ }, (args) =>
      args.importer.includes('/node_modules/commander/') ? { path: 'lazy-child-process', namespace: 'lazy' } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'lazy' }, () => ({
      contents: "module.exports = new Proxy({}, { get: (_, key) => require('node:child_process')[key] });",
      loader: 'js',
    }));
  },
};

rmSync(next, { recursive: true, force: true });
await build({
  entryPoints: ['src/cli/entry.ts'],
  outfile: `${next}/tscontainer.cjs`,
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node22',
  external: ['better-sqlite3', 'pino'],
  // The sources are ES modules that find their package through import.meta.url.
  define: { 'import.meta.url': '__tscImportMetaUrl' },
  banner: { js: "const __tscImportMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
  plugins: [lazyChildProcessForCommander],
  logLevel: 'warning',
});
rmSync(old, { recursive: true, force: true });
if (existsSync(dist)) renameSync(dist, old);
renameSync(next, dist);
rmSync(old, { recursive: true, force: true });
