/**
 * Files the TFTP server generates instead of reading from disk: the
 * per-node pxelinux config (pxelinux.cfg/01-<mac>), the signed GRUB's
 * configs of the Secure Boot path (grub/grub.cfg for all, then
 * grub/imgsrv-<mac>.cfg per node; netboot/boot/grub.ts) and, in TFTP-only boot
 * mode, the per-node iPXE script (imgsrv-<mac>.ipxe) whose kernel and initrd
 * URLs are tftp://. Each carries its node's own token, so it goes only to a
 * requester tied to that MAC (boot-source.ts), like the HTTP script.
 */
import type { Logger } from '../core/log.ts';
import type { Store } from './store/db.ts';
import type { NodeRecord } from './store/nodes.ts';
import { bootsLocally, macFromTftpIpxeScript, nodeKernelArgs } from './boot-policy.ts';
import { checkBootSource, type BootSourceDeps } from './boot-source.ts';
import type { NodeIdentity } from './node-identity.ts';
import { buildIpxeScript } from '../netboot/boot/ipxe.ts';
import { buildPxelinuxConfig, buildPxelinuxLocalBoot, macFromPxelinuxPath } from '../netboot/boot/pxelinux.ts';
import { buildGrubConfig, buildGrubLocalBoot, GRUB_ENTRY_CONFIG, GRUB_ENTRY_PATH, macFromGrubPath } from '../netboot/boot/grub.ts';

/** Build the TFTP server's `resolveVirtual` hook. */
export function createNodeTftpFiles(opts: {
  store: Store;
  nodes: NodeIdentity;
  sources: BootSourceDeps;
  httpBase: string;
  kernelArgs: readonly string[];
  logger?: Logger;
}): (name: string, remote: { address: string; port: number }) => Promise<Buffer | null> {
  /** The node `mac` as the requester may see it: undefined (answer "not found") when it isn't that node or the inventory is full. */
  const admit = (mac: string, remote: { address: string }) => {
    const source = checkBootSource(opts.sources, mac, remote.address);
    if (!source.ok) {
      opts.logger?.warn({ mac, from: remote.address, why: source.why }, 'boot file refused: the requester is not that node');
      return undefined;
    }
    const node = opts.store.nodes.admit({ mac });
    if (!node) opts.logger?.warn({ mac }, 'boot file refused: the node inventory is full (nodes.max)');
    return node;
  };
  /** What a node's boot file carries: the server, its MAC and token, its kernel arguments. */
  const bootParams = (mac: string, node: NodeRecord) => ({ server: opts.httpBase, mac, token: opts.nodes.tokenFor(mac), extra: nodeKernelArgs(opts.store, node, opts.kernelArgs) });
  const files = { kernel: 'imgsrv/vmlinuz', initrd: 'imgsrv/initrd.img' };
  return async (rawName, remote) => {
    const name = rawName.replace(/^\/+/, '');
    const pxeMac = macFromPxelinuxPath(name);
    if (pxeMac) {
      const node = admit(pxeMac, remote);
      if (!node) return null;
      if (bootsLocally(node)) return Buffer.from(buildPxelinuxLocalBoot());
      opts.store.events.add('node.pxelinux', 'pxelinux config fetched', { mac: pxeMac });
      return Buffer.from(buildPxelinuxConfig(files, bootParams(pxeMac, node)));
    }
    if (name === GRUB_ENTRY_PATH) return Buffer.from(GRUB_ENTRY_CONFIG);
    const grubMac = macFromGrubPath(name);
    if (grubMac) {
      const node = admit(grubMac, remote);
      if (!node) return null;
      if (bootsLocally(node)) return Buffer.from(buildGrubLocalBoot());
      opts.store.events.add('node.grub', 'signed GRUB config fetched (Secure Boot path)', { mac: grubMac });
      return Buffer.from(buildGrubConfig(files, bootParams(grubMac, node)));
    }
    // pxelinux asks for pxelinux.cfg/<UUID> first and for pxelinux.cfg/default last; the per-MAC file always answers
    // before those, and a config without a MAC could carry no node's token, so the others are "not found".
    const ipxeMac = macFromTftpIpxeScript(name);
    if (ipxeMac) {
      const node = admit(ipxeMac, remote);
      if (!node) return null;
      const server = new URL(opts.httpBase).hostname;
      return Buffer.from(buildIpxeScript({ kernelUrl: `tftp://${server}/${files.kernel}`, initrdUrl: `tftp://${server}/${files.initrd}` }, bootParams(ipxeMac, node)));
    }
    return null;
  };
}
