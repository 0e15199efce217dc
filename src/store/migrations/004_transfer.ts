// Images in and out: the registry digests an image is known by (RepoDigests), and which
// compressed blob holds each layer's content in which repository, so that a push can skip or
// cross-mount what a registry already has.
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
`;
