/**
 * How `imgsrv capture` shows a running capture: a cli-progress bar per phase
 * (bytes, rate, ETA) on a terminal, plain lines otherwise (logs, CI).
 */
import cliProgress from 'cli-progress';
import type { CaptureView } from '../../capture/manager.ts';
import { humanBytes } from '../output.ts';

/** Seconds as m:ss or h:mm:ss. */
export function humanDuration(s: number | undefined): string {
  if (s === undefined || !Number.isFinite(s)) return '--:--';
  const t = Math.max(0, Math.round(s));
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const sec = String(t % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

/** Something that shows capture updates. */
export interface ProgressView {
  update(c: CaptureView): void;
  stop(): void;
}

/** Pick the bar view on a terminal, plain lines elsewhere. */
export function createProgressView(tty: boolean, write: (s: string) => void = (s) => process.stderr.write(s)): ProgressView {
  return tty ? new BarView() : new LineView(write);
}

class BarView implements ProgressView {
  private bar: cliProgress.SingleBar | undefined;
  private phase = '';

  update(c: CaptureView): void {
    if (c.phase !== this.phase) {
      // The next phase started, so the last one finished: show its bar full.
      if (this.bar && c.state !== 'failed' && c.state !== 'cancelled') this.bar.update(this.bar.getTotal());
      this.bar?.stop();
      this.bar = undefined;
      this.phase = c.phase;
      if (c.phase === 'rsync' || c.phase === 'pack') {
        this.bar = new cliProgress.SingleBar(
          {
            format: `${c.phase.padEnd(5)} [{bar}] {percentage}% | {done} / {all} | {rate}/s | ETA {etaText}`,
            hideCursor: true,
            clearOnComplete: false,
            etaBuffer: 20,
          },
          cliProgress.Presets.shades_classic,
        );
        this.bar.start(1, 0, { done: '0 B', all: '?', rate: '0 B', etaText: '--:--' });
      } else if (c.state === 'running' && c.phase !== 'done') process.stderr.write(`${c.phase}…\n`);
    }
    const p = c.progress;
    if (this.bar && p && p.phase === c.phase) {
      // Totals are estimates (rsync's file sizes; the tar stream adds headers): never show done > all.
      const total = Math.max(p.totalBytes ?? p.bytes, p.bytes, 1);
      this.bar.setTotal(total);
      this.bar.update(p.bytes, { done: humanBytes(p.bytes), all: humanBytes(total), rate: humanBytes(p.bytesPerSecond), etaText: humanDuration(p.etaSeconds) });
    }
  }

  stop(): void {
    this.bar?.stop();
    this.bar = undefined;
  }
}

class LineView implements ProgressView {
  private phase = '';
  private last = 0;
  private readonly write: (s: string) => void;
  constructor(write: (s: string) => void) {
    this.write = write;
  }

  update(c: CaptureView): void {
    if (c.phase !== this.phase) {
      this.phase = c.phase;
      if (c.state === 'running') this.write(`capture ${c.id}: ${c.phase}\n`);
    }
    const p = c.progress;
    const now = Date.now();
    // One line every 5 s is enough for a log; bars are for terminals.
    if (p && p.phase === c.phase && now - this.last >= 5000) {
      this.last = now;
      const pct = p.totalBytes ? ` (${Math.min(100, Math.floor((p.bytes * 100) / p.totalBytes))}%)` : '';
      this.write(`${p.phase}: ${humanBytes(p.bytes)} of ${humanBytes(p.totalBytes)}${pct}, ${humanBytes(p.bytesPerSecond)}/s, ETA ${humanDuration(p.etaSeconds)}\n`);
    }
  }

  stop(): void {}
}
