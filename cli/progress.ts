/**
 * A one-line progress bar with rate and ETA for long work, drawn on stderr when it is a terminal and
 * as occasional plain lines otherwise (logs, CI), so progress is visible either way.
 */

/** Formats seconds as "1h02m", "3m05s" or "12s". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s >= 3600) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${s}s`;
}

/** Draws progress of `total` units of work. */
export class ProgressBar {
  private readonly start = Date.now();
  private lastDraw = 0;
  private lastPct = -1;

  constructor(
    private readonly out: { write(text: string): unknown; isTTY?: boolean },
    private readonly label: string,
    private total: number,
    private readonly unit = '',
  ) {}

  /** Changes the amount of work once it is known. */
  setTotal(total: number): void {
    this.total = total;
  }

  /** Shows that `done` units are finished, with an optional note (such as the current loss). */
  update(done: number, note = ''): void {
    const now = Date.now();
    const frac = this.total > 0 ? Math.min(1, done / this.total) : 1;
    const pct = Math.floor(frac * 100);
    const elapsed = (now - this.start) / 1000;
    const eta = frac > 0 ? (elapsed * (1 - frac)) / frac : Number.NaN;
    const text = `${this.label} ${String(pct).padStart(3)}% ${done}/${this.total}${this.unit ? ` ${this.unit}` : ''}, ${formatDuration(elapsed)} elapsed, ETA ${formatDuration(eta)}${note ? `, ${note}` : ''}`;
    if (this.out.isTTY) {
      if (now - this.lastDraw < 100 && frac < 1) return;
      const width = 24;
      const filled = Math.round(frac * width);
      this.out.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${text}\x1b[K`);
      this.lastDraw = now;
    } else if (pct >= this.lastPct + 10 || frac === 1) {
      this.out.write(`${text}\n`);
    }
    this.lastPct = this.out.isTTY ? pct : Math.max(this.lastPct, pct - (pct % 10));
  }

  /** Ends the bar's line. */
  done(): void {
    if (this.out.isTTY) this.out.write('\n');
  }
}
