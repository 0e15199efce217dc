// What the image module needs from its caller: the state layout, the database and the storage
// driver the user chose. The CLI's Context satisfies it; tests can build one by hand.
import type { DB } from '../store/db.js';
import type { Layout } from '../util/paths.js';

export interface ImageContext {
  readonly layout: Layout;
  /** --storage-driver / TSCONTAINER_STORAGE_DRIVER, if given. */
  readonly storageDriver: string | undefined;
  db(): DB;
}
