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

/** A pino logger writing into an array of parsed lines. */
function captureDebug() {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  return { log: pino({ level: 'debug' }, sink), lines };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('LogThrottle at debug level (the DHCP server\'s per-packet lines)', () => {
  it('logs a key\'s budget per window, then one summary with the count held back', async () => {
    const { log, lines } = captureDebug();
    let now = 0;
    const t = new LogThrottle(log, { intervalMs: 10_000, lines: 2, now: () => now });
    for (let i = 0; i < 50_000; i++) t.write('warn', 'limited.ingress', { n: i }, 'over the limit');
    t.write('info', 'other', {}, 'another key has its own budget');
    t.flush(); // the window is still open: nothing to report yet
    await tick();
    expect(lines.map((l) => l.msg)).toEqual(['over the limit', 'over the limit', 'another key has its own budget']);
    now = 10_000;
    t.flush();
    await tick();
    expect(lines).toHaveLength(4);
    expect(lines[3]).toMatchObject({ n: 49_999, suppressed: 49_998, level: 40 });
    expect(lines[3]!.msg).toMatch(/^over the limit \(and 49998 more like it in 10 s/);
    // A new window starts with a fresh budget.
    t.write('warn', 'limited.ingress', { n: 0 }, 'over the limit');
    await tick();
    expect(lines).toHaveLength(5);
  });

  it('reports at the next line when no flush came between windows, and everything at close', async () => {
    const { log, lines } = captureDebug();
    let now = 0;
    const t = new LogThrottle(log, { intervalMs: 1000, lines: 1, now: () => now });
    for (let i = 0; i < 3; i++) t.write('warn', 'k', {}, 'm');
    now = 1500;
    t.write('warn', 'k', {}, 'm');
    t.write('warn', 'k', {}, 'm');
    t.flush(true);
    await tick();
    expect(lines.map((l) => l.suppressed ?? 0)).toEqual([0, 2, 0, 1]);
  });

  it('costs nothing for a level the logger does not log', async () => {
    const { log, lines } = captureDebug();
    log.level = 'info';
    const t = new LogThrottle(log, { intervalMs: 1000, lines: 1, now: () => 0 });
    for (let i = 0; i < 10; i++) t.write('debug', 'k', {}, 'm');
    t.flush(true);
    await tick();
    expect(lines).toEqual([]);
  });
});
