/**
 * Bounded-rate logging: a flood must not turn into a flood of log lines (one
 * per dropped packet would fill the disk the store lives on). Each key may
 * log `lines` lines per `intervalMs` window; the rest are counted, and the
 * count goes out as one summary line with the last one held back (by
 * `flush`, which the server calls on a timer and at close).
 */
import type { Logger } from '../../core/log.ts';

type Level = 'debug' | 'info' | 'warn' | 'error';

interface Window {
  start: number;
  logged: number;
  suppressed: number;
  level: Level;
  obj: Record<string, unknown>;
  msg: string;
}

/** Log lines under a per-key budget (see the module comment). */
export class LogThrottle {
  private readonly log: Logger;
  private readonly intervalMs: number;
  private readonly lines: number;
  private readonly now: () => number;
  private readonly windows = new Map<string, Window>();

  constructor(log: Logger, o: { intervalMs: number; lines: number; now?: () => number }) {
    this.log = log;
    this.intervalMs = o.intervalMs;
    this.lines = o.lines;
    this.now = o.now ?? (() => performance.now());
  }

  /** Log `msg` at `level` if `key` has budget left in its window, else count it. */
  write(level: Level, key: string, obj: Record<string, unknown>, msg: string): void {
    if (!this.log.isLevelEnabled(level)) return;
    const now = this.now();
    let w = this.windows.get(key);
    if (w && now - w.start >= this.intervalMs) {
      this.summarise(w);
      w = undefined;
    }
    if (!w) {
      w = { start: now, logged: 0, suppressed: 0, level, obj, msg };
      this.windows.set(key, w);
    }
    if (w.logged < this.lines) {
      w.logged++;
      this.log[level](obj, msg);
    } else {
      w.suppressed++;
      w.level = level;
      w.obj = obj;
      w.msg = msg;
    }
  }

  /** Report the windows that have ended, and forget them (the key table stays as small as the traffic). */
  flush(all = false): void {
    const now = this.now();
    for (const [key, w] of this.windows) {
      if (!all && now - w.start < this.intervalMs) continue;
      this.summarise(w);
      this.windows.delete(key);
    }
  }

  private summarise(w: Window): void {
    if (w.suppressed === 0) return;
    const seconds = Math.round(this.intervalMs / 100) / 10;
    this.log[w.level]({ ...w.obj, suppressed: w.suppressed }, `${w.msg} (and ${w.suppressed} more like it in ${seconds} s, not logged one by one)`);
  }
}
