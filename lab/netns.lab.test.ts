import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, sh, sweepStaleLabs } from './netns.ts';

describe('lab namespaces', () => {
  let lab: Lab;
  beforeAll(async () => {
    await sweepStaleLabs();
    lab = await Lab.create();
  });
  afterAll(async () => lab?.destroy());

  it('joins two hosts on the bridge with no route out, and removes everything on destroy', async () => {
    const a = await lab.addHost('a', '198.18.0.1/24');
    const b = await lab.addHost('b', '198.18.0.2/24');
    await b.exec('ping', ['-c', '1', '-W', '5', a.address!]);
    const routes = await a.exec('ip', ['route', 'show', 'default']);
    expect(routes.trim()).toBe('');
    const sleeper = a.spawn('sleep', ['600']);
    expect(sleeper.pid).toBeGreaterThan(0);
    await lab.destroy();
    const left = await sh('ip', ['netns', 'list']);
    expect(left).not.toContain(lab.id);
    expect(sleeper.exitCode !== null || sleeper.signalCode !== null).toBe(true);
  });
});
