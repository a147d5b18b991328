/** A simulated node for the console tests: what a booted node sends the server, with the node token. */
import { expect } from 'vitest';
import type { ApiClient } from './browser.ts';
import type { NodeSwarmReport as SwarmReport } from '../../../contract/report.ts';

/** Report and plan calls for simulated nodes; `infoHash()` is the image's swarm, known once the server runs. */
export function simulatedNodes(api: () => ApiClient, nodeToken: (mac: string) => string, infoHash: () => string) {
  /** POST /nodes/report as the node does. */
  const report = async (body: Record<string, unknown> & { mac: string }): Promise<void> => {
    const r = await api().call('POST', '/nodes/report', { body, token: nodeToken(body.mac) });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
  };
  return {
    report,
    /** The node boots: it reports, then asks for its plan (which starts the install). */
    boot: async (mac: string, ip: string, firmware: 'bios' | 'uefi'): Promise<{ action: string }> => {
      await report({ mac, ip, firmware, phase: 'booted' });
      const plan = await api().call<{ action: string }>('GET', `/nodes/${mac}/plan`, { token: nodeToken(mac) });
      expect(plan.status, JSON.stringify(plan.body)).toBe(200);
      return plan.body;
    },
    /** A swarm report at `progress` (0..1). */
    swarm: (progress: number, peers: number, uploaded = 0): SwarmReport => ({
      infoHash: infoHash(),
      downloaded: Math.round(progress * (8 << 20)),
      uploaded,
      peers,
      progress,
      downloadSpeed: 12_500_000,
      uploadSpeed: 4_000_000,
    }),
  };
}
