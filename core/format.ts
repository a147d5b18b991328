/**
 * Numbers for people, the same on every screen: the CLI, the node's console
 * and the web console. Sizes are decimal (SI: 1 GB = 10^9 bytes), as disk
 * vendors and rsync print them.
 */

const UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];

/** 1536 → "1.54 kB", 340_000_000 → "340 MB": three significant digits at most. */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return '-';
  let v = n;
  let i = 0;
  while (Math.abs(v) >= 1000 && i < UNITS.length - 1) {
    v /= 1000;
    i++;
  }
  return `${i === 0 ? Math.round(v) : v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)} ${UNITS[i]}`;
}

/** Bytes per second → "12.5 MB/s". */
export function formatRate(bytesPerSecond: number): string {
  return `${formatBytes(bytesPerSecond)}/s`;
}
