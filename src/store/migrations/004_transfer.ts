// Images in and out: the registry digests an image is known by (RepoDigests), and which
// compressed blob holds each layer's content in which repository, so that a push can skip or
// cross-mount what a registry already has, and the tar-split record of each layer.
export const m004 = `
CREATE TABLE repo_digests (
  name     TEXT PRIMARY KEY,                 -- normalized repository@sha256:... of a manifest
  image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
  created_at TEXT NOT NULL
);
CREATE INDEX repo_digests_image ON repo_digests(image_id);

CREATE TABLE layer_blobs (
  diff_id    TEXT NOT NULL,                  -- sha256 of the uncompressed layer tar
  digest     TEXT NOT NULL,                  -- sha256 of the blob as stored in the registry
  media_type TEXT NOT NULL,
  size       INTEGER NOT NULL,
  tar_diff_id TEXT NOT NULL,                 -- diffID of the tar inside the blob (the config's entry)
  repository TEXT NOT NULL,                  -- registry host/path the blob was seen in
  PRIMARY KEY (diff_id, digest, repository)
);
CREATE INDEX layer_blobs_digest ON layer_blobs(digest);

-- what a layer's tar held besides file contents (image/archive/tarsplit.ts), gzip: with the
-- layer's files it gives back the original tar byte for byte, for save and push
CREATE TABLE layer_tarsplit (
  chain_id TEXT PRIMARY KEY REFERENCES layers(chain_id) ON DELETE CASCADE,
  data     BLOB NOT NULL
);
`;
