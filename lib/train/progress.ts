/** A progress line for long work: step/total, it/s, ETA, and the latest numbers (loss …). */

export interface ProgressOptions {
  label: string;
  total: number;
  /** starting step (when resuming) */
  start?: number;
  /** where to write; default stderr */
  stream?: NodeJS.WriteStream;
  /** on a non-terminal, print at most every this many seconds (default 10) */
  everySeconds?: number;
}

function fmtDuration(s: number): string {
  if (!Number.isFinite(s)) return "?";
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = Math.floor(s % 60);
  return h ? `${h}h${String(m).padStart(2, "0")}m` : m ? `${m}m${String(sec).padStart(2, "0")}s` : `${sec}s`;
}

export class Progress {
  private t0 = Date.now();
  private last = 0;
  private startStep: number;
  private stream: NodeJS.WriteStream;
  constructor(private o: ProgressOptions) {
    this.startStep = o.start ?? 0;
    this.stream = o.stream ?? process.stderr;
  }

  /** Report that `step` steps are done, with optional named values. */
  tick(step: number, values: Record<string, number> = {}): void {
    const now = Date.now();
    const tty = this.stream.isTTY;
    const done = step >= this.o.total;
    if (!tty && !done && now - this.last < (this.o.everySeconds ?? 10) * 1000 && step !== this.startStep + 1) return;
    this.last = now;
    this.stream.write((tty ? "\r\x1b[2K" : "") + this.line(step, values) + (tty && !done ? "" : "\n"));
  }

  line(step: number, values: Record<string, number> = {}): string {
    const secs = (Date.now() - this.t0) / 1000;
    const rate = (step - this.startStep) / Math.max(secs, 1e-9);
    const eta = (this.o.total - step) / rate;
    const pct = ((100 * step) / this.o.total).toFixed(0).padStart(3);
    const w = 20;
    const filled = Math.round((w * step) / this.o.total);
    const bar = "█".repeat(filled) + "░".repeat(w - filled);
    const vals = Object.entries(values)
      .map(([k, v]) => `${k} ${Math.abs(v) >= 1e-3 && Math.abs(v) < 1e4 ? v.toFixed(4) : v.toExponential(2)}`)
      .join("  ");
    return `${this.o.label} ${pct}% ${bar} ${step}/${this.o.total}  ${rate.toFixed(2)} it/s  elapsed ${fmtDuration(secs)}  eta ${fmtDuration(eta)}${vals ? "  " + vals : ""}`;
  }
}
