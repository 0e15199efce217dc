// The interface every graph driver implements (overlay, vfs now; aufs and devicemapper later).
// A driver owns one directory under the state root and knows nothing about SQLite: callers pass
// it the driver ids ("cache ids") of layers, and the chain below a layer is the driver's to
// remember (overlay keeps a `lower` file per layer, vfs copies the parent).
import type { Readable } from 'node:stream';

/** How to mount a layer's full view; the native helper performs it inside the container's
 *  own mount namespace, so the mount disappears with the container and never leaks. */
export interface MountSpec {
  /** mount(2) filesystem type: "overlay", or "bind" for a plain directory. */
  type: string;
  source: string;
  /** mount data (overlay's lowerdir=...,upperdir=...,workdir=...) or bind options. */
  data: string;
  /** Directory to chdir to before mounting, so overlay's relative short links fit in one page. */
  cwd?: string;
}

export interface ApplyResult {
  /** Bytes of regular file content written. */
  size: number;
}

export interface DriverStatus {
  [key: string]: string;
}

export interface GraphDriver {
  readonly name: string;
  /** The driver's own directory, e.g. <state>/overlay. */
  readonly home: string;
  /** Key/value lines for `tscontainer info`. */
  status(): DriverStatus;
  /** Makes an empty layer `id` on top of `parent` (null: a base layer). */
  create(id: string, parent: string | null): Promise<void>;
  /** Extracts a layer tar (docker/aufs whiteouts) into layer `id`, which must be new and empty.
   *  Refuses any entry that would write outside the layer. On failure the layer is left partly
   *  extracted: the caller removes it with `remove(id)`. */
  applyDiff(id: string, tar: Readable): Promise<ApplyResult>;
  /** The changes of layer `id` against its parent, as a tar with docker/aufs whiteouts. */
  diff(id: string): Readable;
  /** Gives fn a directory whose contents become the content of the new, empty layer `id`
   *  (used to populate the -init layer without a mount when the driver allows it). */
  populate(id: string, fn: (dir: string) => void | Promise<void>): Promise<void>;
  /** The mount that shows layer `id` with everything below it, and the path it goes on. */
  mountSpec(id: string): { spec: MountSpec; target: string };
  /** Mounts layer `id` on the host and returns the path; `unmount` undoes it. */
  mount(id: string): Promise<string>;
  unmount(id: string): Promise<void>;
  exists(id: string): boolean;
  /** Every layer the driver holds on disk and when it was last changed (prune compares them
   *  with the rows, leaving young ones alone). */
  list(): { id: string; modifiedMs: number }[];
  /** The directory holding the files layer `id` itself wrote (overlay: its upper dir; vfs: its
   *  full copy), to read a layer's files back when exporting it exactly. */
  contentDir?(id: string): string;
  /** Bytes of the files layer `id` itself holds (for vfs, its full copy). */
  diffSize(id: string): number;
  /** Removes layer `id` and everything the driver made for it; a missing layer is not an error. */
  remove(id: string): Promise<void>;
}
