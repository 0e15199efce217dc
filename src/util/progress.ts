// Per-item progress lines (docker pull style). On a terminal the block of lines is redrawn in
// place (at most 10 times a second); elsewhere only state changes are printed, one per line.
import { decimalSize } from './units.js';

export interface ProgressItem {
  id: string;
  state: string;
  bytes?: number;
  total?: number;
}

export class ProgressBoard {
  private readonly items = new Map<string, ProgressItem>();
  private readonly order: string[] = [];
  private drawn = 0;
  private last = 0;
  private readonly tty: boolean;

  constructor(private readonly out: NodeJS.WriteStream = process.stdout) {
    this.tty = Boolean(out.isTTY);
  }

  update(item: ProgressItem): void {
    const prev = this.items.get(item.id);
    if (!prev) this.order.push(item.id);
    this.items.set(item.id, item);
    if (this.tty) {
      const now = Date.now();
      if (prev?.state === item.state && now - this.last < 100) return;
      this.last = now;
      this.redraw();
    } else if (prev?.state !== item.state) {
      this.out.write(`${item.id}: ${item.state}\n`);
    }
  }

  private line(i: ProgressItem): string {
    if (i.bytes === undefined || i.total === undefined || i.total === 0 || i.state !== 'Downloading')
      return `${i.id}: ${i.state}`;
    const width = 40;
    const done = Math.min(width, Math.floor((i.bytes / i.total) * width));
    const bar = `${'='.repeat(Math.max(0, done - 1))}${done > 0 ? '>' : ''}${' '.repeat(width - done)}`;
    return `${i.id}: ${i.state} [${bar}] ${decimalSize(i.bytes)}/${decimalSize(i.total)}`;
  }

  private redraw(): void {
    let s = this.drawn > 0 ? `\x1b[${this.drawn}A` : '';
    for (const id of this.order) s += `\x1b[2K${this.line(this.items.get(id)!)}\n`;
    this.drawn = this.order.length;
    this.out.write(s);
  }

  /** Draws the final state once more (terminal only). */
  finish(): void {
    if (this.tty && this.drawn > 0) this.redraw();
  }
}
