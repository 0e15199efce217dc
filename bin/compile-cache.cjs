// V8's compile cache for the bundle (module.enableCompileCache, Node 22.1+): the second and
// later runs skip parsing and compiling ~0.5 MB of JavaScript.
//
// The cache holds code that Node runs, so it must never be writable by anyone but the user
// running it: it lives in dist/.compile-cache/<uid>, made 0700 by that user, inside a dist/
// owned by that user or root and writable by no one else. dist/ is replaced whole by every
// build, so a cache never outlives the code it was made from. Anything unexpected (a symlink,
// another owner, loose modes, a read-only install) means no cache, never an error.
'use strict';
const fs = require('node:fs');
const { join } = require('node:path');
const mod = require('node:module');

function safeDir(path, uid, owners) {
  const st = fs.lstatSync(path);
  return st.isDirectory() && owners.includes(st.uid) && (st.mode & 0o022) === 0;
}

exports.enable = function enable(dist) {
  if (typeof mod.enableCompileCache !== 'function' || process.env.TSCONTAINER_COMPILE_CACHE === '0') return;
  try {
    const uid = process.getuid();
    if (!safeDir(dist, uid, [uid, 0])) return;
    const top = join(dist, '.compile-cache');
    const dir = join(top, String(uid));
    for (const d of [top, dir]) {
      try {
        fs.mkdirSync(d, { mode: d === top ? 0o755 : 0o700 });
      } catch (err) {
        if (err.code !== 'EEXIST') return;
      }
    }
    if (!safeDir(top, uid, [uid, 0]) || !safeDir(dir, uid, [uid])) return;
    mod.enableCompileCache(dir);
  } catch {
    /* no cache: slower, never wrong */
  }
};
