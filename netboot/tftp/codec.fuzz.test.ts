/**
 * Fuzz the codec for a bounded time (FUZZ_MS, default 5 s): random and
 * mutated datagrams either decode or throw TftpDecodeError, nothing else; and
 * whatever decodes survives encode → decode unchanged. The target lives in
 * test/fuzz/targets/netboot.ts so test/fuzz/soak.ts can run it for longer.
 */
import { describe, expect, it } from 'vitest';
import { describeFindings, fuzz, saveFinding } from '../../test/fuzz/harness.ts';
import { tftpCodecTarget } from '../../test/fuzz/targets/netboot.ts';

const BUDGET_MS = Number(process.env['FUZZ_MS'] ?? 5000);

describe('tftp codec fuzz', () => {
  it(`decodes or throws TftpDecodeError only (${BUDGET_MS} ms)`, async () => {
    const r = await fuzz(tftpCodecTarget, { seconds: BUDGET_MS / 1000, seed: Number(process.env['FUZZ_SEED'] ?? 1) });
    for (const f of r.findings) saveFinding(r.target, f);
    expect(describeFindings(r.target, r.findings)).toBe('');
    console.log(`fuzz ${r.target}: ${r.execs} inputs in ${r.seconds.toFixed(1)} s, ${r.accepted} accepted, ${r.rejected} rejected`);
    expect(r.execs).toBeGreaterThan(1000);
    expect(Object.keys(r.reasons).length).toBeGreaterThan(3); // the mutations reach several error paths
  });
});
