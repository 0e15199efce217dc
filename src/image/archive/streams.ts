// Streaming checks for untrusted blobs: a pass-through that hashes and counts what flows and
// fails as soon as a blob grows past its declared size or ends with another digest, and a
// decompressor (gzip, zstd or none, told apart by the first bytes) that stops a stream that
// expands far beyond its compressed size (a decompression bomb).
import { createHash, type Hash } from 'node:crypto';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { createGunzip, createZstdDecompress } from 'node:zlib';
import { UsageError } from '../../util/errors.js';
import { streamed } from '../../util/memory.js';

/** Errors that mean "this blob is bad" (not "the disk is full"): they carry a user sentence. */
export class BadBlobError extends UsageError {}

export class VerifyingStream extends Transform {
  private readonly hash: Hash = createHash('sha256');
  private count = 0;

  constructor(
    private readonly what: string,
    private readonly expectedDigest: string | undefined,
    private readonly expectedSize: number | undefined,
    private readonly onBytes?: (total: number) => void,
  ) {
    super({ highWaterMark: 256 * 1024 });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.count += chunk.length;
    streamed(chunk.length);
    this.onBytes?.(this.count);
    if (this.expectedSize !== undefined && this.count > this.expectedSize) {
      cb(new BadBlobError(`${this.what} is larger than the ${this.expectedSize} bytes its descriptor declares`));
      return;
    }
    this.hash.update(chunk);
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    if (this.expectedSize !== undefined && this.count !== this.expectedSize) {
      cb(new BadBlobError(`${this.what} is truncated: ${this.count} of ${this.expectedSize} bytes`));
      return;
    }
    const got = `sha256:${this.hash.digest('hex')}`;
    if (this.expectedDigest !== undefined && got !== this.expectedDigest) {
      cb(new BadBlobError(`${this.what} does not match its digest: expected ${this.expectedDigest}, got ${got}`));
      return;
    }
    cb();
  }

  get bytes(): number {
    return this.count;
  }
}

/** Counts bytes and fails once more than `limit` passed. */
class LimitStream extends Transform {
  private count = 0;
  constructor(
    private readonly limit: number,
    private readonly what: string,
  ) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.count += chunk.length;
    if (this.count > this.limit) {
      cb(new BadBlobError(`${this.what} expands to more than ${this.limit} bytes: refusing a likely decompression bomb`));
      return;
    }
    cb(null, chunk);
  }
}

export type Compression = 'gzip' | 'zstd' | 'none';

export function compressionOfMagic(head: Buffer): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  return 'none';
}

/** How far a compressed layer may expand: 100x its compressed size, at least 256 MiB
 *  (override with TSCONTAINER_MAX_EXPANSION=<ratio>). */
export function expansionLimit(compressedSize: number | undefined): number {
  const ratio = Number(process.env['TSCONTAINER_MAX_EXPANSION'] ?? '') || 100;
  const floor = 256 * 1024 * 1024;
  return compressedSize === undefined ? Number.MAX_SAFE_INTEGER : Math.max(floor, compressedSize * ratio);
}

/**
 * Peeks at the first bytes of `src` and returns the uncompressed stream (gzip and zstd by
 * magic; anything else passes through). Errors of `src` surface on the returned stream.
 */
export async function decompress(src: Readable, what: string, compressedSize?: number): Promise<Readable> {
  const it = src[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let head = Buffer.alloc(0);
  let done = false;
  while (head.length < 4) {
    const r = await it.next();
    if (r.done) {
      done = true;
      break;
    }
    head = Buffer.concat([head, r.value]);
  }
  async function* rest(): AsyncGenerator<Buffer> {
    if (head.length > 0) yield head;
    if (done) return;
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      yield r.value;
    }
  }
  const raw = Readable.from(rest(), { objectMode: false });
  const kind = compressionOfMagic(head);
  if (kind === 'none') return raw;
  const inflate = kind === 'gzip' ? createGunzip({ chunkSize: 256 * 1024 }) : createZstdDecompress({ chunkSize: 256 * 1024 });
  const limit = new LimitStream(expansionLimit(compressedSize), what);
  raw.on('error', (err) => inflate.destroy(err));
  inflate.on('error', (err) =>
    limit.destroy(err instanceof UsageError ? err : new BadBlobError(`${what} is not valid ${kind} data: ${err.message}`)),
  );
  raw.pipe(inflate).pipe(limit);
  return limit;
}
