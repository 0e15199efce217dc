// The tar code (tar-stream and friends) is loaded only by the commands that move layers, so
// that `run` does not pay for it: a diff is returned at once as a stream that fills once the
// module has loaded.
import type { Readable } from 'node:stream';

export function lazyTar(make: () => Promise<Readable>): Readable {
  // node:stream on first use: commands that never move a layer do not load it
  const out = new (process.getBuiltinModule('node:stream').PassThrough)();
  make().then(
    (src) => {
      src.on('error', (err) => out.destroy(err));
      out.on('close', () => src.destroy());
      src.pipe(out);
    },
    (err: unknown) => out.destroy(err instanceof Error ? err : new Error(String(err))),
  );
  return out;
}
