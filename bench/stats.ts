/** Small statistics shared by the benchmarks. */

/** Median of a non-empty list (mean of the two middle values for an even count). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Round to `d` decimals for printing and JSON results. */
export const round = (x: number, d = 2): number => Math.round(x * 10 ** d) / 10 ** d;
