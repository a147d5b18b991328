/** Formatting of bytes, rates, ratios and times for display. */
import { formatBytes } from '../../../../core/format.ts';

/** Bytes the same way as the CLI and the node (core/format.ts): "1.54 kB"; '–' when unknown. */
export function bytes(n: number | null | undefined): string {
  return n == null || !Number.isFinite(n) ? '–' : formatBytes(n);
}

/** Bytes per second → "12.5 MB/s". */
export function rate(n: number | null | undefined): string {
  return n == null ? '–' : `${bytes(n)}/s`;
}

/** 0.42 → "42%". */
export function percent(f: number): string {
  return `${Math.round(Math.max(0, Math.min(1, f)) * 100)}%`;
}

// One formatter for every date: toLocaleString() sets up a new one per call, which cost seconds over a thousand rows.
const DATE_TIME = new Intl.DateTimeFormat(undefined, { dateStyle: 'short', timeStyle: 'medium' });

/** An ISO string or epoch ms → local date and time. */
export function dateTime(t: string | number | null | undefined): string {
  if (t == null) return '–';
  const d = new Date(t);
  return Number.isNaN(d.getTime()) ? String(t) : DATE_TIME.format(d);
}

/** Epoch ms → "5 s ago", "3 min ago". */
export function ago(t: number | null | undefined, now = Date.now()): string {
  if (!t) return '–';
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return dateTime(t);
}

/** Seconds → "0:42" / "12:03" for chart axes. */
export function clock(t: number): string {
  const d = new Date(t);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}
