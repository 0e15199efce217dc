// Random ids and names without node:crypto: loading that module costs ~9 ms at every start
// (OpenSSL's initialisation), more than the rest of a `ps`. The kernel's CSPRNG through
// /dev/urandom gives the same quality of randomness for a read(2).
import { closeSync, openSync, readSync } from 'node:fs';

/** `n` bytes from the kernel's CSPRNG. */
export function randomBytesSync(n: number): Buffer {
  const buf = Buffer.alloc(n);
  const fd = openSync('/dev/urandom', 'r');
  try {
    let got = 0;
    while (got < n) got += readSync(fd, buf, got, n - got, null);
  } finally {
    closeSync(fd);
  }
  return buf;
}

/** `n` random bytes as 2n hex characters. */
export function randomHex(n: number): string {
  return randomBytesSync(n).toString('hex');
}

/** A uniform integer in [0, max) for max up to 2^32 (rejection sampling: no modulo bias). */
export function randomBelow(max: number): number {
  if (!Number.isInteger(max) || max <= 0 || max > 2 ** 32) throw new RangeError(`randomBelow: bad bound ${max}`);
  const limit = 2 ** 32 - (2 ** 32 % max);
  for (;;) {
    const v = randomBytesSync(4).readUInt32BE(0);
    if (v < limit) return v % max;
  }
}
