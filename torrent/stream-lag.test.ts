import { describe, expect, it } from 'vitest';
import { StreamLag } from './stream-lag.ts';

describe('StreamLag', () => {
  it('tracks the backlog, its peak, and the lag from the download end to the restore end', () => {
    let now = 0;
    const lag = new StreamLag(() => now);
    expect(lag.report()).toEqual({ backlog: 0, maxBacklog: 0, atDownloadEnd: null, seconds: null });
    lag.verified(100);
    lag.verified(100);
    lag.consumed(50);
    expect(lag.report()).toMatchObject({ backlog: 150, maxBacklog: 200 });
    lag.consumed(150);
    lag.verified(40);
    now = 10_000;
    lag.downloadEnded();
    now = 11_500;
    lag.downloadEnded(); // only the first counts
    lag.consumed(40);
    lag.restoreEnded();
    expect(lag.report()).toEqual({ backlog: 0, maxBacklog: 200, atDownloadEnd: 40, seconds: 1.5 });
    now = 12_000;
    lag.restoreEnded(); // the unpack's own end, after the stream's
    expect(lag.report().seconds).toBe(2);
  });

  it('never reports a negative lag', () => {
    let now = 5;
    const lag = new StreamLag(() => now);
    lag.restoreEnded();
    now = 6;
    lag.downloadEnded();
    expect(lag.report().seconds).toBe(0);
  });
});
