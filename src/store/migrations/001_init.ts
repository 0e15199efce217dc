// Images, their tags, the layer chain, and containers.
export const m001 = `
CREATE TABLE layers (
  chain_id   TEXT PRIMARY KEY,               -- sha256:... docker chainID
  diff_id    TEXT NOT NULL,                  -- sha256 of the uncompressed layer tar
  parent     TEXT REFERENCES layers(chain_id) ON DELETE RESTRICT,
  cache_id   TEXT NOT NULL UNIQUE,           -- random name of the driver's directory
  driver     TEXT NOT NULL,
  size       INTEGER NOT NULL DEFAULT 0,     -- bytes of file content in this layer
  created_at TEXT NOT NULL
);
CREATE INDEX layers_parent ON layers(parent);

CREATE TABLE images (
  id         TEXT PRIMARY KEY,               -- sha256 of the image config JSON
  config     TEXT NOT NULL,                  -- OCI image config JSON
  top_layer  TEXT REFERENCES layers(chain_id) ON DELETE RESTRICT,
  size       INTEGER NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL
);

CREATE TABLE tags (
  name     TEXT PRIMARY KEY,                 -- normalized reference: docker.io/library/busybox:latest
  image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE
);
CREATE INDEX tags_image ON tags(image_id);

CREATE TABLE containers (
  id           TEXT PRIMARY KEY,             -- 64 hex characters
  name         TEXT NOT NULL UNIQUE,
  image_id     TEXT NOT NULL REFERENCES images(id) ON DELETE RESTRICT,
  image_ref    TEXT NOT NULL,                -- what the user typed, for ps
  config       TEXT NOT NULL,                -- JSON: ContainerConfig (command, env, limits, ...)
  driver       TEXT NOT NULL,
  init_layer   TEXT NOT NULL,                -- driver cache id of the -init layer
  rw_layer     TEXT NOT NULL,                -- driver cache id of the read-write layer
  state        TEXT NOT NULL,                -- created | running | paused | exited | removing
  pid          INTEGER,
  pid_start    INTEGER,                      -- start time of pid (clock ticks), to detect pid reuse
  monitor_pid  INTEGER,
  monitor_start INTEGER,                     -- start time of the monitor, likewise
  boot_id      TEXT,
  exit_code    INTEGER,
  oom_killed   INTEGER NOT NULL DEFAULT 0,
  error        TEXT,
  created_at   TEXT NOT NULL,
  started_at   TEXT,
  finished_at  TEXT
);
CREATE INDEX containers_state ON containers(state);
CREATE INDEX containers_image ON containers(image_id);
`;
