// Derived numbers for `tscontainer stats`, computed from two CgroupStats samples the way
// `docker stats` shows them.
import type { CgroupStats } from './types.js';

/** Memory in use as docker shows it: usage minus inactive page cache. */
export function memoryInUse(s: CgroupStats): number | undefined {
  if (!s.memory) return undefined;
  return Math.max(0, s.memory.usageBytes - s.memory.inactiveFileBytes);
}

/**
 * CPU percentage between two samples taken `elapsedNs` apart: 100% = one CPU fully busy
 * (so a container using two CPUs shows 200%, as docker does).
 */
export function cpuPercent(before: CgroupStats, after: CgroupStats, elapsedNs: number): number | undefined {
  if (!before.cpu || !after.cpu || elapsedNs <= 0) return undefined;
  return (Math.max(0, after.cpu.usageNs - before.cpu.usageNs) / elapsedNs) * 100;
}
