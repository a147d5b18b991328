import { describe, expect, it } from 'vitest';
import { errorOf } from '../../../core/testdata/errors.ts';
import { formatLag, nodePatch } from './nodes.ts';

describe('nodes set flags', () => {
  it('sends only the fields given, "-" = null', () => {
    expect(nodePatch({ hostname: 'web1' })).toEqual({ hostname: 'web1' });
    expect(nodePatch({ hostname: '-', group: 'web', image: '-' })).toEqual({ hostname: null, group: 'web', image: null });
  });
  it('nothing to set is bad usage', () => {
    expect(errorOf(() => nodePatch({})).exitCode).toBe(2);
  });
});

describe('nodes show lag line', () => {
  it('says how far the restore trailed the download, as far as is known', () => {
    expect(formatLag({ backlog: 2_000_000, maxBacklog: 5_000_000, atDownloadEnd: null, seconds: null })).toMatch(/^restore 2.00 MB behind the download \(largest backlog 5.00 MB\)$/);
    expect(formatLag({ backlog: 0, maxBacklog: 5_000_000, atDownloadEnd: 1_000_000, seconds: 0.42 })).toMatch(/^restore ended 0.4 s after the download \(1.00 MB left to restore when it ended; largest backlog 5.00 MB\)$/);
  });
});
