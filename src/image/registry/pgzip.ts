// gzip on every core: the input is cut into 256 KiB blocks, each compressed on libuv's thread
// pool as its own gzip member, and the members are emitted in order. A concatenation of gzip
// members is one valid gzip stream (RFC 1952), which every registry client reads back
// (Go's compress/gzip, Node's zlib, GNU gzip). Level 1: layers are pushed, not archived.
// A block whose first 16 KiB do not shrink by 3% at level 1 (already compressed or random
// data) is stored (level 0) instead: deflating it would cost the CPU and save nothing.
import { Transform, type TransformCallback } from 'node:stream';
import { deflateRawSync, gzip } from 'node:zlib';
import { availableParallelism } from 'node:os';
import { promisify } from 'node:util';

const gzipAsync = promisify(gzip);
const BLOCK = 256 * 1024;

export class ParallelGzip extends Transform {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private readonly inflight: Promise<Buffer>[] = [];
  private readonly width = Math.max(2, Math.min(3, availableParallelism()));

  constructor(private readonly level = 1) {
    super({ highWaterMark: 4 * BLOCK });
  }

  private startBlock(): void {
    const block = Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    const sample = block.subarray(0, 16 * 1024);
    const incompressible = deflateRawSync(sample, { level: 1 }).length > sample.length * 0.97;
    this.inflight.push(gzipAsync(block, { level: incompressible ? 0 : this.level, chunkSize: BLOCK + 64 * 1024 }));
  }

  private async drainTo(limit: number): Promise<void> {
    while (this.inflight.length > limit) this.push(await this.inflight.shift()!);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (this.pendingBytes < BLOCK) return cb();
    this.startBlock();
    this.drainTo(this.width - 1).then(() => cb(), cb);
  }

  override _flush(cb: TransformCallback): void {
    if (this.pendingBytes > 0 || this.inflight.length === 0) this.startBlock();
    this.drainTo(0).then(() => cb(), cb);
  }
}
