import { describe, expect, it } from 'vitest';
import { parsePlan } from './plan.ts';

const restore = {
  action: 'restore',
  image: { name: 'web', version: 2 },
  torrentUrl: 'rsync://198.18.0.1/torrents/web/2.torrent',
  meta: { name: 'web' },
  hostname: { assigned: null, suggestion: 'node-1', promptTimeoutSec: 30 },
  keep: [],
  targetDisk: null,
  linger: 600,
  signature: null,
};

describe('parsePlan', () => {
  it('takes each action whole', () => {
    // A server that sends no static address means DHCP.
    expect(parsePlan(restore)).toEqual({ ...restore, network: null });
    const net = { address: '198.18.0.21/24', gateway: '198.18.0.1' };
    expect(parsePlan({ ...restore, network: net })).toEqual({ ...restore, network: net });
    expect(parsePlan({ action: 'wait', reason: 'no image', retryAfterSec: 5 })).toEqual({ action: 'wait', reason: 'no image', retryAfterSec: 5 });
    expect(parsePlan({ action: 'local-boot', reason: 'installed' }).action).toBe('local-boot');
    expect(parsePlan({ action: 'wipe', reason: 'retired' })).toEqual({ action: 'wipe', reason: 'retired', targetDisk: null });
  });

  it('refuses a restore plan that lacks a field, naming it', () => {
    for (const k of ['image', 'torrentUrl', 'meta', 'hostname', 'keep', 'linger'] as const) {
      const { [k]: _gone, ...rest } = restore;
      expect(() => parsePlan(rest), k).toThrow(`without ${k}`);
    }
    expect(() => parsePlan({ action: 'reformat' })).toThrow('a known action');
    expect(() => parsePlan(null)).toThrow('a body');
  });
});
