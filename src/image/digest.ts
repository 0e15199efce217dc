// Content digests and docker's layer identity:
//   diffID  = sha256 of the uncompressed layer tar
//   chainID = diffID for the base layer, else sha256(parentChainID + " " + diffID)
// plus the streaming pieces: a pass-through that hashes what flows through it, and a
// gunzip that switches itself on when the stream starts with the gzip magic (1f 8b).
import type { Hash } from 'node:crypto';
import { Readable, Transform, type TransformCallback } from 'node:stream';

// node:crypto and node:zlib load on first use: crypto alone costs ~9 ms at start-up, and the
// run path imports this module (image ids) without hashing anything.
const createHash = (algorithm: string): Hash => process.getBuiltinModule('node:crypto').createHash(algorithm);
const createGunzip = () => process.getBuiltinModule('node:zlib').createGunzip();

export type Digest = `sha256:${string}`;

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

export function digestOf(data: string | Uint8Array): Digest {
  return `sha256:${sha256Hex(data)}`;
}

/** docker's chainID of a layer whose parent's chainID is `parent` (null for the base). */
export function chainId(parent: string | null, diffId: string): string {
  return parent === null ? diffId : digestOf(`${parent} ${diffId}`);
}

/** The chainIDs of a stack of diffIDs, base first. */
export function chainIds(diffIds: readonly string[]): string[] {
  const out: string[] = [];
  let parent: string | null = null;
  for (const d of diffIds) {
    parent = chainId(parent, d);
    out.push(parent);
  }
  return out;
}

/** A pass-through that hashes every byte flowing through it. */
export class DigestingStream extends Transform {
  private readonly hash: Hash = createHash('sha256');
  private count = 0;

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.count += chunk.length;
    cb(null, chunk);
  }

  /** Bytes seen so far. */
  get bytes(): number {
    return this.count;
  }

  /** The digest of everything that went through; call once, after the stream ended. */
  digest(): Digest {
    return `sha256:${this.hash.digest('hex')}`;
  }
}

/**
 * Returns a stream of `src`'s bytes, gunzipped when they start with the gzip magic 1f 8b.
 * Reads ahead only the first chunk; errors of `src` surface on the returned stream.
 */
export async function maybeGunzip(src: Readable): Promise<Readable> {
  const it = src[Symbol.asyncIterator]() as AsyncIterator<Buffer | string>;
  let head = Buffer.alloc(0);
  let done = false;
  while (head.length < 2) {
    const r = await it.next();
    if (r.done) {
      done = true;
      break;
    }
    head = Buffer.concat([head, typeof r.value === 'string' ? Buffer.from(r.value) : r.value]);
  }
  async function* rest(): AsyncGenerator<Buffer> {
    if (head.length > 0) yield head;
    if (done) return;
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      yield typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
    }
  }
  const plain = Readable.from(rest(), { objectMode: false });
  if (head.length < 2 || head[0] !== 0x1f || head[1] !== 0x8b) return plain;
  const gunzip = createGunzip();
  plain.on('error', (err) => gunzip.destroy(err));
  plain.pipe(gunzip);
  return gunzip;
}
