// The bookkeeping of a driver whose every layer is a whole tree in a directory of its own (vfs:
// plain copies, btrfs: subvolumes): where a layer's tree and its meta file are, and the parent
// it was made from, which the driver diffs against.
//
//   <home>/<trees>/<id>      the layer's full tree
//   <home>/meta/<id>.json    {"parent": "<id>" | null}
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { NotFoundError } from '../util/errors.js';
import { checkLayerId, exists } from './fsutil.js';

interface TreeMeta {
  parent: string | null;
}

export class TreeLayers {
  constructor(
    private readonly driver: string,
    private readonly home: string,
    private readonly trees: string,
  ) {
    mkdirSync(`${home}/${trees}`, { recursive: true, mode: 0o700 });
    mkdirSync(`${home}/meta`, { recursive: true, mode: 0o700 });
  }

  /** The layer's tree (checked to be a valid id, not to exist). */
  dir(id: string): string {
    checkLayerId(this.driver, id);
    return `${this.home}/${this.trees}/${id}`;
  }

  metaPath(id: string): string {
    return `${this.home}/meta/${id}.json`;
  }

  /** The layer's tree, which must exist. */
  need(id: string): string {
    const d = this.dir(id);
    if (!exists(d)) throw new NotFoundError(`${this.driver} graph driver: layer ${id} does not exist`);
    return d;
  }

  /** The parent recorded for `id` (null: a base layer, or no record). */
  parent(id: string): string | null {
    this.need(id);
    try {
      return (JSON.parse(readFileSync(this.metaPath(id), 'utf8')) as TreeMeta).parent;
    } catch {
      return null;
    }
  }

  writeParent(id: string, parent: string | null): void {
    const meta: TreeMeta = { parent };
    writeFileSync(this.metaPath(id), JSON.stringify(meta));
  }

  removeMeta(id: string): void {
    rmSync(this.metaPath(id), { force: true });
  }
}
