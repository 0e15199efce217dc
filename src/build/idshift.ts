// Ids in a tar of a --userns=auto container: its rw layer holds files owned by host ids
// (container uid N = host BASE+N, docs/security.md), which must not end up in an image or an
// export. This rewrites every header's uid/gid in [BASE, BASE+size) back to the container's
// own id (as docker's idtools do for commit and export under --userns-remap); ids outside the
// range (the image's own files, seen without idmapping) are kept.
import { Readable } from 'node:stream';
import tarStream from 'tar-stream';

export interface IdRange {
  uidBase: number;
  gidBase: number;
  size: number;
}

export function shiftTarIds(src: Readable, r: IdRange): Readable {
  const extract = tarStream.extract();
  const pack = tarStream.pack();
  const back = (id: number | undefined, base: number) => (id !== undefined && id >= base && id < base + r.size ? id - base : id);
  extract.on('entry', (header, stream, next) => {
    const h = { ...header, uid: back(header.uid, r.uidBase), gid: back(header.gid, r.gidBase) };
    const done = (err?: Error | null) => (err ? pack.destroy(err) : next());
    if (h.type === 'file' || h.type === 'contiguous-file') {
      stream.pipe(pack.entry(h, done));
    } else {
      stream.resume(); // no body: links, directories, devices
      pack.entry(h, done);
    }
  });
  extract.on('finish', () => pack.finalize());
  extract.on('error', (err: Error) => pack.destroy(err));
  src.on('error', (err: Error) => extract.destroy(err));
  src.pipe(extract);
  return Readable.from(pack as AsyncIterable<Buffer>, { objectMode: false });
}
