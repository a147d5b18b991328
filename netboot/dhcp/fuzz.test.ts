/**
 * Fuzz: random buffers and mutations of real captured packets. decode may only
 * throw DhcpDecodeError; whatever it accepts must re-encode, decode again, and
 * go through the handler (full and proxy) without throwing. Time-bounded.
 * The targets live in test/fuzz/targets/netboot.ts so test/fuzz/soak.ts can run
 * them for longer; a failing input is saved under test/fuzz/crashes/.
 */
import { describe, expect, it } from 'vitest';
import { describeFindings, fuzz, saveFinding, type FuzzResult } from '../../test/fuzz/harness.ts';
import { dhcpFixtures, dhcpRandomTarget, dhcpTarget } from '../../test/fuzz/targets/netboot.ts';

function expectClean(r: FuzzResult): void {
  for (const f of r.findings) saveFinding(r.target, f);
  expect(describeFindings(r.target, r.findings)).toBe('');
  console.log(`fuzz ${r.target}: ${r.execs} inputs in ${r.seconds.toFixed(1)} s, ${r.accepted} accepted, ${r.rejected} rejected`);
}

describe('fuzz', () => {
  it('random buffers: only DhcpDecodeError, never a crash (3 s)', async () => {
    const r = await fuzz(dhcpRandomTarget, { seconds: 3, seed: 0x1234567 });
    expectClean(r);
    expect(r.rejected).toBeGreaterThan(0);
  });

  it('mutated real fixtures: decoder and handler stay up (5 s)', async () => {
    expect(dhcpFixtures().length).toBeGreaterThan(0);
    const r = await fuzz(dhcpTarget, { seconds: 5, seed: 0x1234567 });
    expectClean(r);
    // Mutations must still reach the handler often enough to mean something.
    expect(r.accepted).toBeGreaterThan(100);
    expect(r.rejected).toBeGreaterThan(100);
  });
});
