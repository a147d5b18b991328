import { describe, expect, it, onTestFinished } from 'vitest';
import { configSchema } from './config/schema.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBootDecider } from './boot-policy.ts';
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

  it('lets full mode run without a local range when the config lists subnets behind relays', async () => {
    const relayed = configSchema.parse({ dhcp: { mode: 'full', subnets: [{ subnet: '198.18.1.0/24', range: '198.18.1.100-198.18.1.200' }] } });
    const live = new LiveSettingsService(openStore(':memory:'), relayed);
    expect(live.get().dhcp).toMatchObject({ mode: 'full', range: null });
    await live.update({ dhcp: { mode: 'proxy' } });
    await expect(live.update({ dhcp: { mode: 'full' } })).resolves.toMatchObject({ dhcp: { mode: 'full', range: null } });
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
    // A pattern that gives bad hostnames is refused when set, not after every unattended node's download.
    await expect(live.update({ nodes: { hostnamePattern: '-{n}' } })).rejects.toThrow(/nodes\.hostnamePattern: it gives "-1"/);
  });

  // The settings are kept in memory (the DHCP path reads the boot mode for every PXE packet):
  // a change must be in force for the very next packet, and a rolled-back one must not be.
  it('puts a change in force at once for the boot decision and for new nodes, and drops a rolled-back one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'imgsrv-live-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'imgsrv.db');
    const store = openStore(file);
    const live = new LiveSettingsService(store, config);
    const decide = createBootDecider({ config, bootMode: () => live.get().boot.mode, httpBase: 'http://198.18.0.1', serverAddress: '198.18.0.1', loaders: [] });
    const uefiIpxe = { mac: '52:54:00:00:00:01', arch: 7, isIpxe: true };
    expect(decide(uefiIpxe)?.filename).toMatch(/^http:\/\//);

    let duringApply: string | undefined;
    live.onApply(async (next) => {
      duringApply = decide(uefiIpxe)?.filename;
      if (next.nodes.hostnamePattern === 'bad-{n}') throw new Error('cannot apply');
    });
    await live.update({ boot: { mode: 'tftp' } });
    expect(duringApply).toBe('imgsrv-525400000001.ipxe');
    expect(decide(uefiIpxe)?.filename).toBe('imgsrv-525400000001.ipxe');

    await expect(live.update({ boot: { mode: 'http' }, nodes: { hostnamePattern: 'bad-{n}' } })).rejects.toThrow(/previous settings stay/);
    expect(decide(uefiIpxe)?.filename).toBe('imgsrv-525400000001.ipxe');
    expect(live.get().nodes.hostnamePattern).toBe('web-{n}');

    // New nodes join the default group from the next sighting on.
    store.groups.upsert('rack1', {});
    await live.update({ nodes: { defaultGroup: 'rack1' } });
    store.nodes.sight({ mac: '52:54:00:00:00:02' });
    expect(store.nodes.get('52:54:00:00:00:02')?.group).toBe('rack1');

    // The copy in memory cannot be changed behind the store's back.
    expect(() => {
      (live.get().boot as { mode: string }).mode = 'http';
    }).toThrow(TypeError);
    // And what was stored is what a restarted server starts with.
    store.close();
    const again = openStore(file);
    expect(new LiveSettingsService(again, config).get()).toEqual(live.get());
    again.close();
  });
});
