// User-namespace ranges (--userns=auto): one row per container that has one. A range is a slot
// of the `tscontainer` entries in /etc/subuid and /etc/subgid: `size` host ids from uid_base
// (and gid_base). UNIQUE keeps two containers off one range even if the allocation code were
// wrong; the row goes with its container (ON DELETE CASCADE), which frees the range at rm.
export const m005 = `
CREATE TABLE userns_ranges (
  container_id TEXT PRIMARY KEY REFERENCES containers(id) ON DELETE CASCADE,
  uid_base     INTEGER NOT NULL UNIQUE,
  gid_base     INTEGER NOT NULL UNIQUE,
  size         INTEGER NOT NULL CHECK (size > 0)
);
`;
