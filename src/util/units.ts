// Byte counts as docker prints them.

/**
 * docker's decimal units (go-units HumanSizeWithPrecision(n, 3), i.e. %.3g): 999 → "999B",
 * 1234567 → "1.23MB", 1000000 → "1MB". Image sizes, reclaimed space, stats' net and block I/O.
 */
export function decimalSize(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let v = n;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return i === 0 ? `${v}B` : `${Number(v.toPrecision(3))}${units[i]}`;
}
