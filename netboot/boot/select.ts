/**
 * The one narrow boot decision: given what a PXE or UEFI HTTP Boot client
 * told us in DHCP (MAC, RFC 4578 architecture, vendor class, whether it
 * already runs iPXE), which file does it load next, and from where. Pure; the
 * DHCP handler and the HTTP/TFTP servers only ask this function.
 *
 * UEFI HTTP Boot (UEFI 2.x §24.7, "HTTP Boot"): the firmware's own HTTP
 * client announces itself with vendor class "HTTPClient:Arch:00016…" and
 * architecture 16 (x64 UEFI HTTP). It needs a full URL as its boot file and
 * "HTTPClient" echoed in option 60, and loads the EFI loader over HTTP: no
 * TFTP at all. The loader (iPXE) then asks DHCP again as iPXE and gets its
 * per-node script, as on the PXE path.
 */

import { normalizeMac } from '../../core/mac.ts';

/** What DHCP tells us about a booting client. */
export interface BootClient {
  mac: string;
  /** Option 93 client system architecture (RFC 4578 §2.1), first entry. */
  arch: number | undefined;
  /** Option 77 user class 'iPXE' or option 175 present: iPXE is already running. */
  isIpxe: boolean;
  vendorClass?: string;
}

/** Whether a client is a UEFI HTTP Boot client (option 60 "HTTPClient…"). */
export function isHttpBootClient(client: Pick<BootClient, 'vendorClass'>): boolean {
  return client.vendorClass?.startsWith('HTTPClient') ?? false;
}

/** Operator policy for boot files. */
export interface BootPolicy {
  /** Base URL of our HTTP server, e.g. http://198.18.0.1:8080 (no trailing slash). */
  httpBase: string;
  /** Address of the TFTP server (next-server / option 66). */
  tftpServer: string;
  biosLoader: 'ipxe' | 'pxelinux';
  /** shimx64.efi: the Secure Boot chain over TFTP (grub.ts); HTTP Boot clients get ipxe.efi then. */
  uefiLoader: 'ipxe.efi' | 'snponly.efi' | 'shimx64.efi';
}

/** The answer: a TFTP file name (firmware stage) or an HTTP URL (iPXE stage). */
export interface BootDecision {
  /** Boot file name (DHCP `file` / option 67): a TFTP path, or a full URL for iPXE. */
  filename: string;
  /** 'tftp' when `filename` is a name on `tftpServer`, 'http' when it is a full URL. */
  via: 'tftp' | 'http';
  /** TFTP server (siaddr / option 66) for `via: 'tftp'`. */
  tftpServer?: string;
  firmware: 'bios' | 'uefi' | undefined;
  /** A UEFI HTTP Boot client's loader: the reply must say "HTTPClient" in option 60. */
  httpBoot?: true;
}

/**
 * RFC 4578 §2.1 + IANA "Processor Architecture Types": 0 x86 BIOS; 6 x86 UEFI
 * (32-bit, no loader shipped here); 7 x64 UEFI (EDK2/OVMF sends 7); 9 "EFI
 * BC", which many x64 firmwares send for the same thing; 16 x64 UEFI HTTP
 * (RFC 5970's registry: the same machine, booting over HTTP).
 */
const UEFI_X64 = new Set([7, 9]);
const UEFI_X64_HTTP = 16;

/** Firmware family of an option-93 architecture, undefined when we have no loader for it. */
export function firmwareOf(arch: number | undefined): 'bios' | 'uefi' | undefined {
  if (arch === 0) return 'bios';
  if (arch !== undefined && (UEFI_X64.has(arch) || arch === UEFI_X64_HTTP)) return 'uefi';
  return undefined;
}

/** Decide the next boot stage for a client; null when its architecture is unknown (caller logs). */
export function selectBoot(client: BootClient, policy: BootPolicy): BootDecision | null {
  // A client without option 93 is a plain BIOS PXE ROM or old iPXE: RFC 4578 says
  // clients SHOULD send it, and pre-RFC Intel PXE 2.1 ROMs (BIOS only) do not.
  const arch = client.arch ?? 0;
  const firmware = firmwareOf(arch);
  if (firmware === undefined) return null;
  if (client.isIpxe) {
    // Already in iPXE (chainloaded or ROM): hand it the per-node script over HTTP.
    return { filename: `${policy.httpBase}/boot/ipxe/${normalizeMac(client.mac) ?? client.mac.toLowerCase()}`, via: 'http', firmware };
  }
  // The firmware's HTTP client: its architecture says so (16), and so must its vendor class; a PXE
  // client (7, "PXEClient") never gets a URL it can't load, an HTTP client never a TFTP name.
  if (arch === UEFI_X64_HTTP || isHttpBootClient(client)) {
    if (arch !== UEFI_X64_HTTP || !isHttpBootClient(client)) return null;
    // shim would load GRUB over HTTP, and Debian's GRUB 2.06 reaches HTTP servers on port 80 only: iPXE instead.
    const loader = policy.uefiLoader === 'shimx64.efi' ? 'ipxe.efi' : policy.uefiLoader;
    return { filename: `${policy.httpBase}/boot/loaders/${loader}`, via: 'http', firmware, httpBoot: true };
  }
  if (firmware === 'bios') {
    const file = policy.biosLoader === 'pxelinux' ? 'pxelinux.0' : 'undionly.kpxe';
    return { filename: file, via: 'tftp', tftpServer: policy.tftpServer, firmware };
  }
  return { filename: policy.uefiLoader, via: 'tftp', tftpServer: policy.tftpServer, firmware };
}
