export interface ProgressFigures {
  done: number;
  total: number;
  perSecond: number;
  lag: number;
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

function eta(f: ProgressFigures): string {
  if (f.perSecond <= 0) return '--';
  const s = Math.ceil(f.lag / f.perSecond);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

/** One line of figures, the same on a terminal and in a log. */
export function progressLine(phase: string, f: ProgressFigures): string {
  return `${phase}: ${fmt(f.done)}/${fmt(f.total)} events, ${fmt(f.perSecond)} events/s, lag ${fmt(f.lag)}, ETA ${eta(f)}`;
}

/**
 * A bar redrawn in place on a terminal; on anything else (CI, a pipe, a file) a plain line every
 * `everyMs`, so logs stay readable.
 */
export class ProgressDisplay {
  private lastPlain = 0;
  private drawn = false;

  constructor(
    private readonly out: NodeJS.WritableStream & { isTTY?: boolean; columns?: number },
    private readonly everyMs = 5000,
  ) {}

  update(phase: string, f: ProgressFigures): void {
    const line = progressLine(phase, f);
    if (this.out.isTTY === true) {
      const width = 24;
      const ratio = f.total === 0 ? 1 : Math.min(1, f.done / f.total);
      const filled = Math.round(ratio * width);
      const bar = `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${(ratio * 100).toFixed(0).padStart(3)}% `;
      this.out.write(`\r\x1b[K${(bar + line).slice(0, (this.out.columns ?? 120) - 1)}`);
      this.drawn = true;
    } else if (Date.now() - this.lastPlain >= this.everyMs) {
      this.lastPlain = Date.now();
      this.out.write(`${line}\n`);
    }
  }

  /** Ends the bar's line so what follows starts on its own. */
  say(message: string): void {
    if (this.drawn) this.out.write('\n');
    this.drawn = false;
    this.out.write(`${message}\n`);
  }
}
