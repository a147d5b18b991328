/**
 * Boot routes used by firmware, iPXE and the netboot environment: the EFI
 * loaders for UEFI HTTP Boot, the per-node iPXE
 * script and the kernel/initrd files (with range requests). They are
 * unauthenticated by necessity (a blank machine has no credentials). A
 * script carries the token of the one node it is for, and goes only to a
 * requester the server can tie to that MAC (boot-source.ts); a MAC the
 * inventory doesn't know is added only while the inventory is under its cap.
 */
import fastifyStatic from '@fastify/static';
import rateLimit from '@fastify/rate-limit';
import type { FastifyPluginAsync } from 'fastify';
import type { Store } from '../../store/db.ts';
import { normalizeMac } from '../../store/nodes.ts';
import { buildIpxeScript, buildLocalBootIpxeScript } from '../../../netboot/boot/ipxe.ts';
import { bootsLocally, nodeKernelArgs } from '../../boot-policy.ts';
import { checkBootSource, type BootSourceDeps } from '../../boot-source.ts';
import type { NodeIdentity } from '../../node-identity.ts';

/** Options for the boot routes. */
export interface BootRouteOptions {
  /** Directory holding `vmlinuz` and `initrd.img` (output of `imgsrv netboot build`). */
  filesDir: string;
  /** Where the boot loaders were installed (the TFTP root) and which are there: UEFI HTTP Boot loads the EFI ones over HTTP. */
  loaders?: { dir: string; available: readonly string[] };
  /** Base URL nodes reach the server at, e.g. http://198.18.0.1:8080 */
  httpBase: string;
  /** How iPXE fetches kernel and initrd: 'http' or 'tftp' (tftp://<server>/imgsrv/…); read per request (a live setting). */
  mode: () => 'http' | 'tftp';
  tftpServer: string;
  kernelArgs: readonly string[];
  /** Ties a requester's address to the MAC it names. */
  sources: BootSourceDeps;
  /** Boot requests (scripts and files) per client address per minute (config boot.requestsPerMinute). */
  requestsPerMinute?: number;
}

export const bootRoutes: FastifyPluginAsync<BootRouteOptions & { store: Store; nodes: NodeIdentity }> = async (app, opts) => {
  // Per client address, on every boot route registered below (this plugin's scope only). A booting node makes
  // three requests (script, kernel, initrd) and a retrying one a few a minute; a flood gets 429s, not the store.
  await app.register(rateLimit, {
    global: true,
    max: opts.requestsPerMinute ?? 120,
    timeWindow: 60_000,
    cache: 10_000,
    errorResponseBuilder: (_req, ctx) => ({ statusCode: 429, error: 'RATE_LIMITED', message: `too many boot requests from this address: try again in ${ctx.after}` }),
  });
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

  // UEFI HTTP Boot's first file (select.ts): the EFI loaders only, by name, from the loaders' directory. No token in them.
  app.get<{ Params: { name: string } }>('/loaders/:name', async (req, reply) => {
    const { name } = req.params;
    if (!HTTP_LOADERS.has(name) || !opts.loaders?.available.includes(name)) {
      return reply.code(404).send({ error: 'NOT_FOUND', message: `no boot loader ${JSON.stringify(name.slice(0, 40))} here`, hint: 'HTTP Boot loads ipxe.efi or snponly.efi (apt-get install ipxe)' });
    }
    return reply.header('cache-control', 'no-store').sendFile(name, opts.loaders.dir);
  });

  app.get<{ Params: { mac: string } }>('/ipxe/:mac', async (req, reply) => {
    const mac = normalizeMac(req.params.mac);
    if (!mac) return reply.code(400).type('text/plain').send('#!ipxe\necho imgsrv: bad MAC in script URL\nshell\n');
    const source = checkBootSource(opts.sources, mac, req.ip);
    if (!source.ok) {
      req.log.warn({ mac, from: req.ip, why: source.why }, 'boot script refused: the requester is not that node');
      // A script, so a real node that lands here says why on its console instead of failing silently.
      return reply.code(403).type('text/plain').header('cache-control', 'no-store').send(`#!ipxe\necho imgsrv: refused: ${ipxeSafe(source.why)}\nsleep 30\nexit 1\n`);
    }
    const node = opts.store.nodes.admit({ mac, phase: undefined });
    if (!node) {
      req.log.warn({ mac }, 'boot script refused: the node inventory is full (nodes.max)');
      return reply.code(503).type('text/plain').header('cache-control', 'no-store').send('#!ipxe\necho imgsrv: the node inventory is full; an operator must remove nodes or raise nodes.max\nsleep 60\nexit 1\n');
    }
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
      .send(buildIpxeScript(files, { server: opts.httpBase, mac, token: opts.nodes.tokenFor(mac), extra: nodeKernelArgs(opts.store, node, opts.kernelArgs) }));
  });
};

/** The loaders a UEFI HTTP Boot client may fetch (netboot/boot/loaders.ts names). */
const HTTP_LOADERS: ReadonlySet<string> = new Set(['ipxe.efi', 'snponly.efi']);

/** Text safe in an iPXE echo line. */
function ipxeSafe(text: string): string {
  return text.replace(/[^A-Za-z0-9 ._@:/()'-]/g, '');
}
