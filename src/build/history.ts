// `tscontainer history IMAGE`: the image's history entries, newest first, with the size of the
// layer each non-empty entry made, as `docker history` shows them.
import type { Context } from '../runtime/context.js';
import { resolveImage } from '../image/resolve.js';

export interface HistoryRow {
  /** The image id on the newest row, "<missing>" on the others (as docker shows built images). */
  id: string;
  created: string;
  createdBy: string;
  size: number;
  comment: string;
  emptyLayer: boolean;
}

export async function imageHistory(ctx: Context, ref: string): Promise<HistoryRow[]> {
  const img = await resolveImage(ctx, ref);
  const history = img.config.history ?? [];
  const layers = [...img.chain];
  const rows: HistoryRow[] = [];
  let li = 0;
  for (const h of history) {
    const empty = h.empty_layer === true;
    const layer = empty ? undefined : layers[li++];
    rows.push({
      id: '<missing>',
      created: h.created ?? '',
      createdBy: h.created_by ?? '',
      size: layer?.size ?? 0,
      comment: h.comment ?? '',
      emptyLayer: empty,
    });
  }
  rows.reverse();
  if (rows.length > 0) rows[0]!.id = img.id;
  else rows.push({ id: img.id, created: img.config.created ?? '', createdBy: '', size: 0, comment: '', emptyLayer: true });
  return rows;
}
