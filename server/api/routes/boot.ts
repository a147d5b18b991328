/**
 * Boot routes used by iPXE and the netboot environment: the per-node iPXE
 * script and the kernel/initrd files (with range requests). They are
 * unauthenticated by necessity (a blank machine has no credentials) and
 * read-only; they carry only the node-scope token.
 */
import fastifyStatic from '@fastify/static';
import type { FastifyPluginAsync } from 'fastify';
import type { Store } from '../../store/db.ts';
import { normalizeMac } from '../../store/nodes.ts';
import { buildIpxeScript, buildLocalBootIpxeScript } from '../../../netboot/boot/ipxe.ts';
import { bootsLocally, nodeKernelArgs } from '../../boot-policy.ts';

/** Options for the boot routes. */
export interface BootRouteOptions {
  /** Directory holding `vmlinuz` and `initrd.img` (output of `imgsrv netboot build`). */
  filesDir: string;
  /** Base URL nodes reach the server at, e.g. http://198.18.0.1:8080 */
  httpBase: string;
  /** How iPXE fetches kernel and initrd: 'http' or 'tftp' (tftp://<server>/imgsrv/…); read per request (a live setting). */
  mode: () => 'http' | 'tftp';
  tftpServer: string;
  nodeToken: string;
  kernelArgs: readonly string[];
}

export const bootRoutes: FastifyPluginAsync<BootRouteOptions & { store: Store }> = async (app, opts) => {
  await app.register(fastifyStatic, {
    root: opts.filesDir,
    prefix: '/files/',
    acceptRanges: true,
    dotfiles: 'deny',
    index: false,
    list: false,
    redirect: false,
    // The netboot build is replaced atomically; clients must not cache across builds.
    cacheControl: false,
    etag: true,
  });

  app.get<{ Params: { mac: string } }>('/ipxe/:mac', async (req, reply) => {
    const mac = normalizeMac(req.params.mac);
    if (!mac) return reply.code(400).type('text/plain').send('#!ipxe\necho imgsrv: bad MAC in script URL\nshell\n');
    const node = opts.store.nodes.record({ mac, phase: undefined });
    const mode = opts.mode();
    if (bootsLocally(node)) {
      opts.store.events.add('node.localboot', node.retired ? 'retired: sent to its local disk' : 'installed: sent to its local disk', { mac });
      return reply
        .type('text/plain; charset=utf-8')
        .header('cache-control', 'no-store')
        .send(
          buildLocalBootIpxeScript(
            node.retired ? `${mac} is retired` : `${mac} is installed with ${node.installedImage ?? 'an image'}`,
            mode === 'http' ? `${opts.httpBase}/boot/files/localboot.efi` : `tftp://${opts.tftpServer}/imgsrv/localboot.efi`,
          ),
        );
    }
    opts.store.events.add('node.ipxe', 'iPXE script fetched', { mac });
    const files =
      mode === 'http'
        ? { kernelUrl: `${opts.httpBase}/boot/files/vmlinuz`, initrdUrl: `${opts.httpBase}/boot/files/initrd.img` }
        : { kernelUrl: `tftp://${opts.tftpServer}/imgsrv/vmlinuz`, initrdUrl: `tftp://${opts.tftpServer}/imgsrv/initrd.img` };
    return reply
      .type('text/plain; charset=utf-8')
      .header('cache-control', 'no-store')
      .send(buildIpxeScript(files, { server: opts.httpBase, token: opts.nodeToken, extra: nodeKernelArgs(opts.store, node, opts.kernelArgs) }));
  });
};
