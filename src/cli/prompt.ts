// docker's confirmation before destructive prunes: "Are you sure you want to continue? [y/N]".
// Reads one line from stdin; anything but y/yes (including EOF on a closed stdin) is no.
export async function confirm(warning: string): Promise<boolean> {
  process.stderr.write(`WARNING! ${warning}\nAre you sure you want to continue? [y/N] `);
  const { createInterface } = await import('node:readline');
  const rl = createInterface({ input: process.stdin });
  const line = await new Promise<string>((resolve) => {
    rl.once('line', resolve);
    rl.once('close', () => resolve(''));
  });
  rl.close();
  return /^y(es)?$/i.test(line.trim());
}
