// The build cache: one row per build step result, keyed by what the step depends on (parent
// image config, instruction after substitution, the build args it uses, a checksum of the files
// it copies). A row names its result config and top layer; when the layer goes (rmi, prune),
// the rows that need it go with it. context_hashes remembers file checksums by inode, size and
// mtime so that an unchanged context is not read again (as BuildKit does).
export const m003 = `
CREATE TABLE build_cache (
  key        TEXT PRIMARY KEY,               -- sha256:... of the step's inputs
  config     TEXT NOT NULL,                  -- the image config after the step (exact bytes)
  top_layer  TEXT REFERENCES layers(chain_id) ON DELETE CASCADE,
  created_at TEXT NOT NULL,
  used_at    TEXT NOT NULL
);
CREATE INDEX build_cache_layer ON build_cache(top_layer);

CREATE TABLE context_hashes (
  path     TEXT PRIMARY KEY,                 -- absolute path of a context file
  dev      INTEGER NOT NULL,
  ino      INTEGER NOT NULL,
  size     INTEGER NOT NULL,
  mtime_ns TEXT NOT NULL,
  ctime_ns TEXT NOT NULL,
  digest   TEXT NOT NULL                     -- sha256:... of the content
);
`;
