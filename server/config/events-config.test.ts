import { describe, expect, it } from 'vitest';
import { validateConfig } from './load.ts';
import { DEFAULT_EVENT_RETENTION } from '../store/events.ts';

describe('config: events', () => {
  it('keeps 30 days and 100,000 events by default, the store\'s own defaults', () => {
    const c = validateConfig({});
    expect(c.events).toEqual({ maxAge: 30 * 86400, maxCount: 100_000 });
    expect({ maxAgeMs: c.events.maxAge * 1000, maxCount: c.events.maxCount }).toEqual(DEFAULT_EVENT_RETENTION);
  });

  it('takes an age in seconds or with a unit, 0 for no age limit', () => {
    expect(validateConfig({ events: { maxAge: '12h', maxCount: 5000 } }).events).toEqual({ maxAge: 43200, maxCount: 5000 });
    expect(validateConfig({ events: { maxAge: '7d' } }).events.maxAge).toBe(7 * 86400);
    expect(validateConfig({ events: { maxAge: 0 } }).events.maxAge).toBe(0);
  });

  it('refuses a bad value or key, naming its path', () => {
    expect(() => validateConfig({ events: { maxAge: '1 week' } })).toThrow(/events\.maxAge.*30d, 12h/);
    expect(() => validateConfig({ events: { maxCount: 10 } })).toThrow(/events\.maxCount/);
    expect(() => validateConfig({ events: { maxBytes: 1 } })).toThrow(/maxBytes/);
  });
});
