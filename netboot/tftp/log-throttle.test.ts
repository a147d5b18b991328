import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { LogThrottle } from './log-throttle.ts';

function capture() {
  const lines: Array<{ msg: string; suppressed?: number; level: number }> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as (typeof lines)[number]);
      cb();
    },
  });
  return { log: pino({ level: 'info' }, stream), lines };
}

describe('LogThrottle', () => {
  it('logs `lines` lines per key and window, then one summary with the count', () => {
    let now = 0;
    const { log, lines } = capture();
    const t = new LogThrottle(log, { intervalMs: 1000, lines: 2, now: () => now });
    for (let i = 0; i < 10_000; i++) t.write('warn', 'busy', { i }, 'refused');
    t.write('info', 'evicted', {}, 'evicted'); // keys are independent
    expect(lines.map((l) => l.msg)).toEqual(['refused', 'refused', 'evicted']);
    t.flush(); // the window has not ended: nothing yet
    expect(lines).toHaveLength(3);
    now = 1000;
    t.flush();
    expect(lines[3]).toMatchObject({ i: 9999, suppressed: 9998, level: 40, msg: 'refused (and 9998 more like it in 1 s, not logged one by one)' });
    t.write('warn', 'busy', {}, 'refused'); // a new window
    expect(lines).toHaveLength(5);
  });

  it('summarises a window that ended when the key comes back, and everything on flush(true)', () => {
    let now = 0;
    const { log, lines } = capture();
    const t = new LogThrottle(log, { intervalMs: 1000, lines: 1, now: () => now });
    t.write('info', 'k', {}, 'a');
    t.write('info', 'k', {}, 'b');
    now = 1500;
    t.write('info', 'k', {}, 'c');
    expect(lines.map((l) => [l.msg, l.suppressed])).toEqual([['a', undefined], ['b (and 1 more like it in 1 s, not logged one by one)', 1], ['c', undefined]]);
    t.write('info', 'k', {}, 'd');
    t.flush(true);
    expect(lines.at(-1)).toMatchObject({ suppressed: 1 });
  });

  it('writes nothing below the logger level', () => {
    const { log, lines } = capture();
    const t = new LogThrottle(log, { intervalMs: 1000, lines: 1 });
    for (let i = 0; i < 5; i++) t.write('debug', 'k', {}, 'x');
    t.flush(true);
    expect(lines).toEqual([]);
  });
});
