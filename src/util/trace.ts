// Phase timings for the run path: TSCONTAINER_TRACE=1 prints, at exit, how many milliseconds
// after process start each marked phase was reached. Costs nothing when unset.
const on = process.env['TSCONTAINER_TRACE'] === '1';
const marks: [string, number][] = [];

export function mark(label: string): void {
  if (on) marks.push([label, performance.now()]);
}

export function printTrace(): void {
  if (!on || marks.length === 0) return;
  process.stderr.write(marks.map(([l, t]) => `trace ${t.toFixed(1).padStart(7)} ms  ${l}`).join('\n') + '\n');
}
