/**
 * Files the TFTP server generates instead of reading from disk: the
 * per-node pxelinux config (pxelinux.cfg/01-<mac>) and, in TFTP-only boot
 * mode, the iPXE script whose kernel and initrd URLs are tftp://.
 */
import type { Store } from './store/db.ts';
import { bootsLocally, nodeKernelArgs, TFTP_IPXE_SCRIPT } from './boot-policy.ts';
import { buildIpxeScript } from '../netboot/boot/ipxe.ts';
import { buildPxelinuxConfig, buildPxelinuxLocalBoot, macFromPxelinuxPath } from '../netboot/boot/pxelinux.ts';

/** Build the TFTP server's `resolveVirtual` hook. */
export function createNodeTftpFiles(opts: {
  store: Store;
  httpBase: string;
  nodeToken: string;
  kernelArgs: readonly string[];
}): (name: string, remote: { address: string; port: number }) => Promise<Buffer | null> {
  const params = { server: opts.httpBase, token: opts.nodeToken, extra: opts.kernelArgs };
  return async (rawName) => {
    const name = rawName.replace(/^\/+/, '');
    const mac = macFromPxelinuxPath(name);
    if (mac) {
      const node = opts.store.nodes.record({ mac });
      if (bootsLocally(node)) return Buffer.from(buildPxelinuxLocalBoot());
      opts.store.events.add('node.pxelinux', 'pxelinux config fetched', { mac });
      return Buffer.from(buildPxelinuxConfig({ kernel: 'imgsrv/vmlinuz', initrd: 'imgsrv/initrd.img' }, { ...params, extra: nodeKernelArgs(opts.store, node, opts.kernelArgs) }));
    }
    // pxelinux asks for pxelinux.cfg/<UUID>, /<hex IP>… before falling back to "default"; the per-MAC file answers first.
    if (name === 'pxelinux.cfg/default') {
      return Buffer.from(buildPxelinuxConfig({ kernel: 'imgsrv/vmlinuz', initrd: 'imgsrv/initrd.img' }, params));
    }
    if (name === TFTP_IPXE_SCRIPT) {
      const server = new URL(opts.httpBase).hostname;
      return Buffer.from(buildIpxeScript({ kernelUrl: `tftp://${server}/imgsrv/vmlinuz`, initrdUrl: `tftp://${server}/imgsrv/initrd.img` }, params));
    }
    return null;
  };
}
