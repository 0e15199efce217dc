// Writing tar entries with tar-stream: bodies streamed with back-pressure, sizes checked.
import { UsageError } from '../util/errors.js';
import type tarStream from 'tar-stream';

export type Header = Partial<tarStream.Header> & { name: string };

/** Writes one entry whose body streams from `src` (exactly header.size bytes). */
export async function streamEntry(pack: tarStream.Pack, header: Header, src: AsyncIterable<Buffer | string>): Promise<void> {
  let sink: ReturnType<tarStream.Pack['entry']> | undefined;
  const done = new Promise<void>((resolve, reject) => {
    sink = pack.entry(header, (err) => (err ? reject(err) : resolve()));
  });
  done.catch(() => undefined);
  let written = 0;
  for await (const chunk of src) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    written += buf.length;
    if (written > (header.size ?? 0)) throw new UsageError(`${header.name} changed while it was being copied`);
    if (!sink!.write(buf)) {
      await new Promise<void>((resolve) => {
        const go = () => {
          sink!.off('drain', go);
          sink!.off('close', go);
          resolve();
        };
        sink!.once('drain', go);
        sink!.once('close', go);
      });
      if (pack.destroyed) throw new Error('the layer archive was closed');
    }
  }
  if (written !== (header.size ?? 0)) throw new UsageError(`${header.name} changed while it was being copied`);
  sink!.end(null);
  await done;
}

/** Writes one entry without a body (directory, symlink, hard link) or with a small buffer. */
export function entry(pack: tarStream.Pack, header: Header, body?: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const cb = (err?: Error | null) => (err ? reject(err) : resolve());
    if (body) pack.entry(header, body, cb);
    else pack.entry(header, cb);
  });
}
