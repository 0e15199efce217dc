// What the image module needs from its caller: the same as choosing the graph driver needs
// (state layout, database, the driver the user chose). The CLI's Context satisfies it.
export type { GraphContext as ImageContext } from '../graph/select.js';
