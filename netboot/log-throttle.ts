/**
 * Bounded-rate logging for what a flood repeats (DHCP drops, TFTP refusals,
 * evictions, dead transfers): a flood must not become a flood of log lines.
 * Each key may log `lines` lines per `intervalMs` window; the rest are counted
 * and go out as one summary line per key and window, repeating the last one
 * held back, from `flush` (the servers call it on a timer and at close). Keys
 * come from a fixed set of reasons, never from a packet, so the table stays
 * small. One module for the DHCP and TFTP servers.
 */
import type { Logger } from '../core/log.ts';

type Level = 'debug' | 'info' | 'warn' | 'error';

interface Window {
  start: number;
  logged: number;
  suppressed: number;
  last: { level: Level; obj: Record<string, unknown>; msg: string };
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
    const t = this.now();
    let w = this.windows.get(key);
    if (w && t - w.start >= this.intervalMs) {
      this.summarise(w);
      w = undefined;
    }
    if (!w) this.windows.set(key, (w = { start: t, logged: 0, suppressed: 0, last: { level, obj, msg } }));
    if (w.logged < this.lines) {
      w.logged++;
      this.log[level](obj, msg);
    } else {
      w.suppressed++;
      w.last = { level, obj, msg };
    }
  }

  /** Summarise the windows that have ended (all of them with `all`) and forget them. */
  flush(all = false): void {
    const t = this.now();
    for (const [key, w] of this.windows) {
      if (!all && t - w.start < this.intervalMs) continue;
      this.summarise(w);
      this.windows.delete(key);
    }
  }

  private summarise(w: Window): void {
    if (w.suppressed === 0) return;
    const { level, obj, msg } = w.last;
    this.log[level]({ ...obj, suppressed: w.suppressed }, `${msg} (and ${w.suppressed} more like it in ${this.intervalMs / 1000} s, not logged one by one)`);
  }
}
