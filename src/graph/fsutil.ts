// Small file-system helpers shared by the graph drivers: mount table look-ups, layer id checks,
// random short names, and host mount/unmount through util-linux.
import { randomBytesSync } from '../util/random.js';
import { readFileSync, readdirSync, rmSync, lstatSync } from 'node:fs';
import { execInput, firstLine } from '../util/exec.js';
import { SystemError, UsageError } from '../util/errors.js';

/** Decodes the octal escapes (\040 for a space, ...) the kernel uses in /proc/self/mountinfo. */
export function decodeMountinfoPath(field: string): string {
  if (!field.includes('\\')) return field;
  const bytes: number[] = [];
  for (let i = 0; i < field.length; i++) {
    const m = /^\\([0-7]{3})/.exec(field.slice(i, i + 4));
    if (m) {
      bytes.push(parseInt(m[1]!, 8));
      i += 3;
    } else {
      for (const b of Buffer.from(field[i]!, 'utf8')) bytes.push(b);
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/** Mount points of this process's mount namespace. */
export function mountPoints(): Set<string> {
  const out = new Set<string>();
  const text = readFileSync('/proc/self/mountinfo', 'utf8');
  for (const line of text.split('\n')) {
    const fields = line.split(' ');
    if (fields.length > 4) out.add(decodeMountinfoPath(fields[4]!));
  }
  return out;
}

export function isMountPoint(path: string): boolean {
  return mountPoints().has(path);
}

/** Mount points at or below `dir`. */
export function mountsUnder(dir: string): string[] {
  const prefix = dir.endsWith('/') ? dir : dir + '/';
  return [...mountPoints()].filter((m) => m === dir || m.startsWith(prefix));
}

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** A layer id must be one safe path component (it names directories under the driver home). */
export function checkLayerId(driver: string, id: string, reserved: readonly string[] = []): void {
  if (!ID_RE.test(id) || reserved.includes(id)) {
    throw new UsageError(`${driver} graph driver: invalid layer id "${id}" (letters, digits, "_", "." and "-", at most 128)`);
  }
}

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** `n` random characters from the base32 alphabet (5 bits each). */
export function randomName(n: number): string {
  const bytes = randomBytesSync(n);
  let s = '';
  for (let i = 0; i < n; i++) s += BASE32[bytes[i]! & 31];
  return s;
}

/** Bytes of regular files under `dir`, not following symlinks; 0 for a missing dir. */
export function dirSize(dir: string): number {
  let total = 0;
  const stack = [dir];
  while (stack.length > 0) {
    const d = stack.pop()!;
    let entries;
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const e of entries) {
      const p = `${d}/${e.name}`;
      if (e.isDirectory()) stack.push(p);
      else if (e.isFile()) {
        try {
          total += lstatSync(p).size;
        } catch {
          /* gone meanwhile */
        }
      }
    }
  }
  return total;
}

/** lstat's mtime, or 0 when the path is gone. */
export function mtimeMs(path: string): number {
  try {
    return lstatSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

export function exists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** rm -rf that refuses to descend into a mounted file system below `path`. */
export function removeTreeSync(path: string): void {
  const mounted = mountsUnder(path);
  if (mounted.length > 0) {
    throw new SystemError(`cannot remove ${path}: ${mounted[0]} is still mounted`);
  }
  rmSync(path, { recursive: true, force: true });
}

/** Runs util-linux mount(8) with `cwd` as working directory (for relative overlay paths). */
export async function hostMount(type: string, source: string, data: string, target: string, cwd?: string): Promise<void> {
  const args = ['-t', type, source, target];
  if (data) args.splice(2, 0, '-o', data);
  const r = await execInput('mount', args, '', cwd);
  if (r.code !== 0) {
    throw new SystemError(`mount ${type} on ${target} failed: ${firstLine(r.stderr || r.stdout)}`);
  }
}

export async function hostUnmount(target: string): Promise<void> {
  if (!isMountPoint(target)) return;
  const r = await execInput('umount', [target], '');
  if (r.code !== 0) {
    throw new SystemError(`umount ${target} failed: ${firstLine(r.stderr || r.stdout)}`);
  }
}
