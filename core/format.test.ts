import { describe, expect, it } from 'vitest';
import { formatBytes, formatRate } from './format.ts';

describe('formatBytes', () => {
  it('prints decimal units with three significant digits at most', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(999)).toBe('999 B');
    expect(formatBytes(1536)).toBe('1.54 kB');
    expect(formatBytes(12_345_678)).toBe('12.3 MB');
    expect(formatBytes(340_000_000)).toBe('340 MB');
    expect(formatBytes(4 * 1024 ** 3)).toBe('4.29 GB');
    expect(formatBytes(Number.NaN)).toBe('-');
    expect(formatRate(2_500_000)).toBe('2.50 MB/s');
  });
});
