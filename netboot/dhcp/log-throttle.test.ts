import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { LogThrottle } from './log-throttle.ts';

/** A pino logger writing into an array of parsed lines. */
function capture(): { log: pino.Logger; lines: Array<Record<string, unknown>> } {
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

describe('LogThrottle', () => {
  it('logs a key\'s budget per window, then one summary with the count held back', async () => {
    const { log, lines } = capture();
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
    const { log, lines } = capture();
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
    const { log, lines } = capture();
    log.level = 'info';
    const t = new LogThrottle(log, { intervalMs: 1000, lines: 1, now: () => 0 });
    for (let i = 0; i < 10; i++) t.write('debug', 'k', {}, 'm');
    t.flush(true);
    await tick();
    expect(lines).toEqual([]);
  });
});
