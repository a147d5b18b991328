import { describe, expect, it } from 'vitest';
import { configSchema } from './config/schema.ts';
import { LiveSettingsService } from './live-settings.ts';
import { openStore } from './store/db.ts';

const config = configSchema.parse({ dhcp: { mode: 'full', range: '198.18.0.100-198.18.0.200' }, nodes: { hostnamePattern: 'web-{n}' } });

describe('live settings', () => {
  it('stores only what differs from the config, so the config file stays in charge of the rest', async () => {
    const store = openStore(':memory:');
    const live = new LiveSettingsService(store, config);
    expect(live.get().dhcp).toEqual({ mode: 'full', range: '198.18.0.100-198.18.0.200', reservations: [] });
    await live.update({ boot: { mode: 'tftp' } });
    expect(store.settings.get('boot.mode')).toBe('tftp');
    expect(store.settings.get('dhcp.mode')).toBeUndefined();
    expect(live.overrides()).toEqual([{ key: 'boot.mode', stored: 'tftp', config: 'http' }]);
    // Back to the config's value: the stored copy goes.
    await live.update({ boot: { mode: 'http' } });
    expect(store.settings.get('boot.mode')).toBeUndefined();
    expect(live.overrides()).toEqual([]);
  });

  it('keeps an explicit null (proxy mode without a range) over the config range', async () => {
    const live = new LiveSettingsService(openStore(':memory:'), config);
    await live.update({ dhcp: { mode: 'proxy', range: null } });
    expect(live.get().dhcp).toMatchObject({ mode: 'proxy', range: null });
    await expect(live.update({ dhcp: { mode: 'full' } })).rejects.toThrow(/dhcp\.range/);
  });

  it('rolls back to the previous settings when applying fails, and applies them again', async () => {
    const store = openStore(':memory:');
    const live = new LiveSettingsService(store, config);
    const applied: string[] = [];
    live.onApply(async (next) => {
      applied.push(`${next.dhcp.mode} ${next.dhcp.range}`);
      if (next.dhcp.range === '198.18.0.10-198.18.0.20') throw new Error('port 67 taken');
    });
    await expect(live.update({ dhcp: { range: '198.18.0.10-198.18.0.20', reservations: [{ mac: '52:54:00:00:00:01', ip: '198.18.0.11' }] } })).rejects.toThrow(
      /previous settings stay: port 67 taken/,
    );
    expect(live.get().dhcp).toEqual({ mode: 'full', range: '198.18.0.100-198.18.0.200', reservations: [] });
    expect(store.leases.reservations()).toEqual([]);
    expect(applied).toEqual(['full 198.18.0.10-198.18.0.20', 'full 198.18.0.100-198.18.0.200']);
  });

  it('names the key of a bad value', async () => {
    const live = new LiveSettingsService(openStore(':memory:'), config);
    await expect(live.update({ dhcp: { reservations: [{ mac: 'nope', ip: '198.18.0.9' }] } })).rejects.toThrow(/dhcp\.reservations\.0\.mac/);
    await expect(live.update({ nodes: { defaultGroup: 'missing' } })).rejects.toThrow(/nodes\.defaultGroup: no group missing/);
  });
});
