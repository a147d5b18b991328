/**
 * Every fuzz target, by name: the vitest suite runs each with a short
 * budget, test/fuzz/soak.ts with a long one, and the sandbox child looks them up
 * here. A target whose CI run lives in its own test file says so in
 * `CI_ELSEWHERE` (its budget and checks predate this harness).
 */
import type { FuzzTarget } from './harness.ts';
import { bootTarget } from './targets/boot.ts';
import { manifestTarget, metaTarget, signatureTarget, torrentInfoTarget } from './targets/image-files.ts';
import { dhcpRandomTarget, dhcpTarget, tftpCodecTarget } from './targets/netboot.ts';
import { tarEntryTarget } from './targets/tar-entry.ts';
import { verifyTarget } from './targets/verify.ts';
import { unpackTarTarget, unpackZstTarget } from './targets/unpack.ts';

/** All targets, in the order reports list them. */
export const TARGETS: readonly FuzzTarget[] = [
  unpackTarTarget, unpackZstTarget, tarEntryTarget, manifestTarget, metaTarget, torrentInfoTarget, signatureTarget, verifyTarget, bootTarget,
  dhcpTarget, dhcpRandomTarget, tftpCodecTarget,
];

/** Targets whose CI fuzzing runs in another test file (name → file). */
export const CI_ELSEWHERE: Readonly<Record<string, string>> = {
  dhcp: 'netboot/dhcp/fuzz.test.ts',
  'dhcp-random': 'netboot/dhcp/fuzz.test.ts',
  'tftp-codec': 'netboot/tftp/codec.fuzz.test.ts',
};

/** The target called `name`; throws listing the known ones. */
export function targetByName(name: string): FuzzTarget {
  const t = TARGETS.find((x) => x.name === name);
  if (!t) throw new Error(`unknown fuzz target ${JSON.stringify(name)}; known: ${TARGETS.map((x) => x.name).join(', ')}`);
  return t;
}
