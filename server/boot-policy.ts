/**
 * What each node gets at PXE time, from the config: the one boot decision
 * (netboot/boot/select.ts) with imgsrv's boot mode applied on top.
 * In TFTP-only mode nothing travels over HTTP: BIOS nodes get pxelinux,
 * UEFI iPXE gets a script whose URLs are tftp://, and UEFI HTTP Boot clients
 * get no answer (the firmware falls back to its PXE entry).
 */
import type { Config } from './config/schema.ts';
import type { Store } from './store/db.ts';
import type { NodeRecord } from './store/nodes.ts';
import { selectBoot, type BootClient, type BootDecision } from '../netboot/boot/select.ts';

/**
 * Whether a node is sent to its local disk instead of the netboot environment:
 * installed or retired nodes boot whatever their disk holds (nothing, once
 * wiped); a pending wipe brings any node to the netboot environment.
 */
export function bootsLocally(node: NodeRecord): boolean {
  return !node.retired?.wipe && (node.install === 'installed' || node.retired !== null);
}

/** The netboot kernel arguments for one node: the configured ones, then its group's. */
export function nodeKernelArgs(store: Store, node: NodeRecord, base: readonly string[]): string[] {
  const group = node.group ? store.groups.get(node.group) : undefined;
  return [...base, ...(group?.kernelArgs ?? [])];
}

/** The TFTP name of a node's iPXE script in tftp boot mode (per MAC: it carries that node's token). */
export function tftpIpxeScript(mac: string): string {
  return `imgsrv-${mac.toLowerCase().replace(/[^0-9a-f]/g, '')}.ipxe`;
}

/** The MAC a tftp-mode script name is for (imgsrv-aabbccddeeff.ipxe), or undefined. */
export function macFromTftpIpxeScript(name: string): string | undefined {
  const m = /^imgsrv-([0-9a-f]{12})\.ipxe$/.exec(name);
  return m ? m[1]!.match(/../g)!.join(':') : undefined;
}

/** The boot decision for each PXE client; the boot mode is read at each decision, so a settings change applies to the next client. */
export function createBootDecider(opts: {
  config: Config;
  /** The boot mode in force (default: the config's). */
  bootMode?: () => 'http' | 'tftp';
  httpBase: string;
  serverAddress: string;
  loaders: readonly string[];
}): (client: BootClient) => BootDecision | null {
  const { config } = opts;
  const bootMode = opts.bootMode ?? (() => config.boot.mode);
  return (client) => {
    const tftpOnly = bootMode() === 'tftp';
    const policy = {
      httpBase: opts.httpBase,
      tftpServer: opts.serverAddress,
      biosLoader: tftpOnly ? ('pxelinux' as const) : config.boot.biosLoader,
      uefiLoader: config.boot.uefiLoader,
    };
    const decision = selectBoot(client, policy);
    if (!decision) return null;
    // pxelinux runs on any PXE stack, iPXE's included, and then loads everything over TFTP itself
    // (using the DHCP answer the ROM cached, so no second DHCP round and no chain loop).
    if (decision.firmware === 'bios' && policy.biosLoader === 'pxelinux') {
      return { filename: 'pxelinux.0', via: 'tftp', tftpServer: opts.serverAddress, firmware: 'bios' };
    }
    // A UEFI HTTP Boot client loads only over HTTP, which TFTP-only mode keeps off the network: no answer.
    if (tftpOnly && decision.httpBoot) return null;
    if (tftpOnly && /^https?:/.test(decision.filename)) return { ...decision, filename: tftpIpxeScript(client.mac), via: 'tftp', tftpServer: opts.serverAddress };
    return decision;
  };
}
