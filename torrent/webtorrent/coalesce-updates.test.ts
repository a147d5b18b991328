import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { coalesceUpdates } from './coalesce-updates.ts';
import type { InternalTorrent } from './internals.ts';

describe('coalesceUpdates', () => {
  it('runs webtorrent\'s update once per turn of the event loop, after the calls of that turn', async () => {
    let runs = 0;
    const t = { destroyed: false, _update: () => void runs++ } as unknown as InternalTorrent;
    coalesceUpdates(t);
    for (let i = 0; i < 10; i++) t._update(); // e.g. ten blocks read from one socket
    expect(runs).toBe(0);
    await nextTurn();
    expect(runs).toBe(1);
    t._update(); // a later turn updates again
    await nextTurn();
    expect(runs).toBe(2);
  });

  it('skips the update of a torrent destroyed meanwhile', async () => {
    let runs = 0;
    const t = { destroyed: false, _update: () => void runs++ } as unknown as InternalTorrent;
    coalesceUpdates(t);
    t._update();
    (t as { destroyed: boolean }).destroyed = true;
    await nextTurn();
    expect(runs).toBe(0);
  });
});
