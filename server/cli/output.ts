/** Printing for the CLI: JSON for scripts (--json), aligned tables for people. */
import { formatBytes } from '../../core/format.ts';

/** Print `rows` as JSON (stable field names) or as a table of `columns`. */
export function printList<T extends object>(rows: T[], columns: Array<[header: string, get: (r: T) => unknown]>, json: boolean): void {
  if (json) {
    process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
    return;
  }
  if (!rows.length) {
    process.stdout.write('(none)\n');
    return;
  }
  const cells = rows.map((r) => columns.map(([, get]) => fmt(get(r))));
  const widths = columns.map(([h], i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => c.map((s, i) => s.padEnd(widths[i]!)).join('  ').trimEnd();
  process.stdout.write([line(columns.map(([h]) => h.toUpperCase())), ...cells.map(line)].join('\n') + '\n');
}

/** Print one object as JSON or as `key: value` lines. */
export function printObject(obj: Record<string, unknown>, json: boolean): void {
  if (json) {
    process.stdout.write(JSON.stringify(obj, null, 2) + '\n');
    return;
  }
  for (const [k, v] of Object.entries(obj)) process.stdout.write(`${k}: ${typeof v === 'object' && v !== null ? JSON.stringify(v) : fmt(v)}\n`);
}

function fmt(v: unknown): string {
  if (v === null || v === undefined) return '-';
  return String(v);
}

/** Human "3m ago" for a ms timestamp. */
export function ago(ms: number, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  if (s < 86400) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
}

/** Bytes for people (core/format.ts), '-' when unknown. */
export function humanBytes(n: number | null | undefined): string {
  return n === null || n === undefined ? '-' : formatBytes(n);
}
