import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkLayers, importEdges, ruleFor } from './layers.ts';

const ROOT = resolve(import.meta.dirname, '..');

describe("the house's dependency rules", () => {
  it('hold for every import in the checkout', () => {
    const edges = importEdges(ROOT);
    expect(edges.length).toBeGreaterThan(500);
    const broken = checkLayers(edges).map((v) => `${v.from} -> ${v.to}: ${v.why}`);
    expect(broken).toEqual([]);
  });

  it('fail on each kind of import they forbid', () => {
    const cases: Array<[string, string]> = [
      ['core/log.ts', 'images/meta.ts'],
      ['images/pack.ts', 'server/images/store.ts'],
      ['netboot/dhcp/server.ts', 'torrent/client.ts'],
      ['torrent/seeder.ts', 'images/meta.ts'],
      ['initramfs-client/client/api.ts', 'server/deploy/plan.ts'],
      ['initramfs-client/restore/run.ts', 'lab/netns.ts'],
      ['server/serve.ts', 'lab/netns.ts'],
      ['lab/netns.ts', 'test/layers.ts'],
      ['server/api/app.ts', 'server/api/testdata/app.ts'],
      ['bench/swarm.ts', 'test/fuzz/harness.ts'],
      ['server/console/web/src/api.ts', 'server/api/app.ts'],
    ];
    for (const edge of cases) expect(checkLayers([edge]), edge.join(' -> ')).toHaveLength(1);
  });

  it('allow what the layers allow, and let tests import anything', () => {
    const ok: Array<[string, string]> = [
      ['initramfs-client/client/api.ts', 'contract/plan.ts'],
      ['server/cli/commands/lab.ts', 'lab/demo.ts'],
      ['server/api/app.test.ts', 'lab/netns.ts'],
      ['torrent/testdata/swarm.ts', 'server/log.ts'],
      ['server/console/web/src/format.ts', 'core/format.ts'],
      ['server/console/web/src/types.ts', 'contract/report.ts'],
    ];
    expect(checkLayers(ok)).toEqual([]);
    expect(ruleFor('server/cli/main.ts')?.from).toBe('server/cli/');
  });
});
