/**
 * The boot decision as the server makes it (select.ts with the boot mode and
 * loader settings on top), over every combination of architecture, vendor
 * class, stage (firmware or iPXE) and mode: one table, each row checked.
 */
import { describe, expect, it } from 'vitest';
import { configSchema } from './config/schema.ts';
import { createBootDecider } from './boot-policy.ts';
import type { BootClient } from '../netboot/boot/select.ts';

const MAC = '52:54:00:0b:00:01';
const HTTP = 'http://198.18.0.1:8080';
const ARCHS = [undefined, 0, 6, 7, 9, 10, 11, 15, 16, 19] as const;
const VENDORS = [undefined, 'PXEClient:Arch:00000:UNDI:002001', 'PXEClient:Arch:00007:UNDI:003000', 'HTTPClient:Arch:00016:UNDI:003001'] as const;

/** What the table expects: the file (or null), computed from the rules as the README states them, not from the code. */
type UefiLoader = 'ipxe.efi' | 'snponly.efi' | 'shimx64.efi';
function expected(arch: number | undefined, vendor: string | undefined, isIpxe: boolean, mode: 'http' | 'tftp', biosLoader: 'ipxe' | 'pxelinux', uefiLoader: UefiLoader): string | null {
  const http = vendor?.startsWith('HTTPClient') ?? false;
  const firmware = arch === undefined || arch === 0 ? 'bios' : [7, 9, 16].includes(arch) ? 'uefi' : undefined;
  if (!firmware) return null;
  // A firmware HTTP client is one only when architecture and vendor class agree, and only while HTTP is on.
  // Such a client gets iPXE over HTTP, snponly.efi when that is the loader; the Secure Boot chain is TFTP only, so never shim.
  const httpLoader = uefiLoader === 'snponly.efi' ? 'snponly.efi' : 'ipxe.efi';
  if (!isIpxe && (arch === 16 || http)) return arch === 16 && http && mode === 'http' ? `${HTTP}/boot/loaders/${httpLoader}` : null;
  // pxelinux takes over every BIOS client, iPXE's too (it loads everything over TFTP itself).
  const pxelinux = firmware === 'bios' && (biosLoader === 'pxelinux' || mode === 'tftp');
  if (pxelinux) return 'pxelinux.0';
  if (isIpxe) return mode === 'tftp' ? 'imgsrv-5254000b0001.ipxe' : `${HTTP}/boot/ipxe/${MAC}`;
  // A UEFI PXE client loads the configured loader over TFTP, in either mode: shimx64.efi then brings GRUB, not iPXE.
  return firmware === 'bios' ? 'undionly.kpxe' : uefiLoader;
}

describe('the boot decision, every (architecture, vendor class, stage, mode, loaders)', () => {
  const rows: Array<[number | undefined, string | undefined, boolean, 'http' | 'tftp', 'ipxe' | 'pxelinux', UefiLoader]> = [];
  for (const arch of ARCHS) for (const vendor of VENDORS) for (const isIpxe of [false, true]) for (const mode of ['http', 'tftp'] as const) for (const bl of ['ipxe', 'pxelinux'] as const) {
    for (const ul of ['ipxe.efi', 'snponly.efi', 'shimx64.efi'] as const) rows.push([arch, vendor, isIpxe, mode, bl, ul]);
  }

  it(`decides all ${rows.length} rows as the rules say`, () => {
    const wrong: string[] = [];
    for (const [arch, vendor, isIpxe, mode, biosLoader, uefiLoader] of rows) {
      const config = configSchema.parse({ dhcp: { mode: 'full', range: '198.18.0.100-198.18.0.200' }, boot: { mode, biosLoader, uefiLoader } });
      const decide = createBootDecider({ config, httpBase: HTTP, serverAddress: '198.18.0.1', loaders: [] });
      const client: BootClient = { mac: MAC, arch, isIpxe, ...(vendor ? { vendorClass: vendor } : {}) };
      const got = decide(client);
      const want = expected(arch, vendor, isIpxe, mode, biosLoader, uefiLoader);
      if ((got?.filename ?? null) !== want) wrong.push(`arch ${arch} ${vendor ?? '-'} ipxe=${isIpxe} ${mode} ${biosLoader} ${uefiLoader}: got ${got?.filename ?? null}, want ${want}`);
      // The HTTP Boot flag (option 60 "HTTPClient" in the reply) is set exactly for a firmware HTTP client's loader.
      if (got && Boolean(got.httpBoot) !== (got.filename.includes('/boot/loaders/'))) wrong.push(`arch ${arch} ${vendor}: httpBoot ${got.httpBoot} for ${got.filename}`);
      // A TFTP name comes with the TFTP server; a URL never does.
      if (got && (got.via === 'tftp') !== !/^https?:/.test(got.filename)) wrong.push(`arch ${arch} ${vendor}: via ${got.via} for ${got.filename}`);
    }
    expect(wrong).toEqual([]);
    expect(rows.length).toBe(ARCHS.length * VENDORS.length * 2 * 2 * 2 * 3);
  });
});
