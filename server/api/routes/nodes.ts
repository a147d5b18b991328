/**
 * Node inventory routes: list, show, edit (hostname, group, image override),
 * retire, remove, and the node's own report.
 */
import type { FastifyPluginAsync } from 'fastify';
import { ImgsrvError } from '../../../core/errors.ts';
import type { Store } from '../../store/db.ts';
import { NODE_PHASES, REPORT_MESSAGE_MAX, type NodeReport, type NodeSwarmReport } from '../../../contract/report.ts';
import { parseMac } from '../../store/nodes.ts';
import { authenticatedNode, requireAuth, requireSelf, type Auth } from '../auth.ts';
import { isLoopback, plainAddress } from '../../boot-source.ts';
import { onNodeReport, resolveImage, retireNode, type DeployContext } from '../../deploy/plan.ts';
import type { NodeViews } from '../node-view.ts';
import { inTransaction } from '../../store/transaction.ts';
import { DISK_PATTERN, GROUP_PATTERN, HOSTNAME_PATTERN, IMAGE_PATTERN, IPV4_PATTERN, nullable } from './patterns.ts';
import { diskHintProblem } from '../../../contract/disk-hint.ts';
import { nodeAddressProblem, type NodeAddress } from '../../../contract/plan.ts';

const IPV4_ADDRESS = new RegExp(IPV4_PATTERN);

/** A MAC in a route parameter or body (either separator, either case; normalised by parseMac). */
export const MAC_PATTERN = '^[0-9A-Fa-f]{2}([:-][0-9A-Fa-f]{2}){5}$';
/** The params schema of routes under /nodes/:mac. */
export const macParams = { type: 'object', required: ['mac'], properties: { mac: { type: 'string', pattern: MAC_PATTERN } } };

/** The largest page of GET /nodes?limit=. */
export const NODE_PAGE_MAX = 5000;

interface MacParams {
  mac: string;
}

const count = { type: 'number', minimum: 0 };
const swarmReportSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['infoHash', 'downloaded', 'uploaded', 'peers', 'progress', 'downloadSpeed', 'uploadSpeed'],
  properties: {
    infoHash: { type: 'string', pattern: '^[0-9a-f]{40}$' },
    downloaded: count,
    uploaded: count,
    peers: { type: 'integer', minimum: 0 },
    progress: { type: 'number', minimum: 0, maximum: 1 },
    downloadSpeed: count,
    uploadSpeed: count,
  },
};

const nullableCount = { type: ['number', 'null'], minimum: 0 };
/** NodeLagReport (contract/report.ts). */
const lagReportSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['backlog', 'maxBacklog', 'atDownloadEnd', 'seconds'],
  properties: { backlog: count, maxBacklog: count, atDownloadEnd: nullableCount, seconds: nullableCount },
};

/** Options of the node routes. */
export interface NodeRouteOptions {
  auth: Auth;
  store: Store;
  views: NodeViews;
  swarm?: { report(mac: string, r: NodeSwarmReport): void } | undefined;
  deploy?: DeployContext | undefined;
  /** Told of every report, so a re-image-now sees the node come back. */
  power?: { noteReport(mac: string, phase: NodeReport['phase']): void } | undefined;
}

export const nodeRoutes: FastifyPluginAsync<NodeRouteOptions> = async (app, { auth, store, views, swarm, deploy, power }) => {
  const admin = requireAuth(auth, ['admin']);
  const nodeOrAdmin = requireAuth(auth, ['node', 'admin']);
  const found = (mac: string) => {
    const node = store.nodes.get(mac);
    if (!node) throw new ImgsrvError('NOT_FOUND', `no node with MAC ${mac}`, { hint: 'see `imgsrv nodes ls --all`' });
    return node;
  };

  app.get<{ Querystring: { all?: boolean; limit?: number; after?: string } }>(
    '/nodes',
    {
      onRequest: admin,
      schema: {
        summary: 'The node inventory in MAC order (retired nodes with ?all=true); ?limit=N&after=MAC pages it: the next page starts after the last MAC of this one',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { all: { type: 'boolean' }, limit: { type: 'integer', minimum: 1, maximum: NODE_PAGE_MAX }, after: { type: 'string', pattern: MAC_PATTERN } },
        },
      },
    },
    async (req, reply) => {
      const { all, limit, after } = req.query;
      if (limit === undefined) {
        if (after !== undefined) throw new ImgsrvError('BAD_USAGE', 'after= pages the list and needs limit=', { hint: `e.g. ?limit=500&after=${after}` });
        return views.list(Boolean(all));
      }
      const page = views.page({ all: Boolean(all), after: after === undefined ? undefined : parseMac(after), limit });
      // A full page may have a next one; the header names where it starts.
      if (page.length === limit) reply.header('x-next-after', page.at(-1)!.mac);
      return page;
    },
  );

  app.get<{ Params: MacParams }>('/nodes/:mac', { onRequest: admin, schema: { summary: 'One node', params: macParams } }, async (req) =>
    views.view(found(parseMac(req.params.mac))),
  );

  app.put<{ Params: MacParams; Body: { hostname?: string | null; group?: string | null; image?: string | null; targetDisk?: string | null; network?: NodeAddress | null } }>(
    '/nodes/:mac',
    {
      onRequest: admin,
      schema: {
        summary: "Edit a node: pre-assign its hostname (skips the prompt), its group, its image override, its target disk hint",
        params: macParams,
        body: {
          type: 'object',
          additionalProperties: false,
          minProperties: 1,
          properties: {
            hostname: nullable({ type: 'string', pattern: HOSTNAME_PATTERN }),
            group: nullable({ type: 'string', pattern: GROUP_PATTERN }),
            image: nullable({ type: 'string', pattern: IMAGE_PATTERN }),
            targetDisk: nullable({ type: 'string', pattern: DISK_PATTERN }),
            network: nullable({
              type: 'object',
              additionalProperties: false,
              required: ['address'],
              properties: {
                address: { type: 'string', maxLength: 18 },
                gateway: { type: 'string', pattern: IPV4_PATTERN },
                dns: { type: 'array', maxItems: 4, items: { type: 'string', pattern: IPV4_PATTERN } },
              },
            }),
          },
        },
      },
    },
    async (req) => {
      const mac = parseMac(req.params.mac);
      const { hostname, group, image, targetDisk, network } = req.body;
      const badNet = network ? nodeAddressProblem(network) : undefined;
      if (badNet) throw new ImgsrvError('BAD_USAGE', `network: ${badNet}`, { hint: 'e.g. --address 10.0.0.21/24 --gateway 10.0.0.1' });
      const disk = targetDisk ? diskHintProblem(targetDisk) : undefined;
      if (disk) throw new ImgsrvError('BAD_USAGE', `targetDisk: ${disk}`, { hint: 'e.g. serial=S4EWNX0R123456, model=Samsung*,size=>=400G or nvme0n1' });
      if (group && !store.groups.get(group)) throw new ImgsrvError('NOT_FOUND', `no group ${group}`, { hint: 'create it first: `imgsrv groups set NAME`' });
      if (image && deploy) resolveImage(deploy.images, image);
      // One transaction: a refused field leaves the others unchanged too.
      inTransaction(store.db, () => {
        if (hostname !== undefined) store.nodes.assignHostname(mac, hostname);
        if (group !== undefined) store.nodes.setGroup(mac, group);
        if (image !== undefined) store.nodes.setImage(mac, image);
        if (targetDisk !== undefined) store.nodes.setTargetDisk(mac, targetDisk);
        if (network !== undefined) store.nodes.setNetwork(mac, network);
      });
      const changes = [
        hostname !== undefined ? (hostname ? `hostname ${hostname} assigned` : 'hostname assignment cleared') : '',
        group !== undefined ? (group ? `moved to group ${group}` : 'left its group') : '',
        image !== undefined ? (image ? `image override ${image}` : 'image override cleared') : '',
        targetDisk !== undefined ? (targetDisk ? `target disk ${targetDisk}` : 'target disk hint cleared') : '',
        network !== undefined ? (network ? `static address ${network.address}${network.gateway ? ` via ${network.gateway}` : ''}` : 'static address cleared (DHCP)') : '',
      ].filter(Boolean);
      store.events.add('node.assigned', changes.join('; '), { mac });
      views.touch(mac);
      return views.view(found(mac));
    },
  );

  app.post<{ Params: MacParams; Body: { wipe?: boolean } | undefined }>(
    '/nodes/:mac/retire',
    {
      onRequest: admin,
      schema: {
        summary: 'Retire a node: it leaves the inventory and is never installed again; wipe=true erases its disk at its next network boot',
        params: macParams,
        body: nullable({ type: 'object', additionalProperties: false, properties: { wipe: { type: 'boolean' } } }),
      },
    },
    async (req) => {
      const mac = parseMac(req.params.mac);
      found(mac);
      if (!deploy) throw new ImgsrvError('CONFLICT', 'deployment is not running on this server', { hint: 'retire needs `imgsrv serve`' });
      const node = retireNode(deploy, mac, Boolean(req.body?.wipe));
      views.touch(mac);
      return views.view(node);
    },
  );

  app.delete<{ Params: MacParams }>('/nodes/:mac', { onRequest: admin, schema: { summary: 'Forget a node entirely', params: macParams } }, async (req, reply) => {
    const mac = parseMac(req.params.mac);
    if (!store.nodes.remove(mac)) throw new ImgsrvError('NOT_FOUND', `no node with MAC ${mac}`, { hint: 'see `imgsrv nodes ls`' });
    store.events.add('node.removed', 'removed from the inventory', { mac });
    views.touch(mac);
    return reply.code(204).send();
  });

  app.post<{ Body: NodeReport }>(
    '/nodes/report',
    {
      onRequest: nodeOrAdmin,
      // A report is a few hundred bytes; the longest message plus the rest fits well under this.
      bodyLimit: 4 * REPORT_MESSAGE_MAX,
      schema: {
        summary: "A booting node's report: phase, progress, failure (node token)",
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['mac'],
          properties: {
            mac: { type: 'string', pattern: MAC_PATTERN },
            ip: { type: 'string', pattern: IPV4_PATTERN },
            arch: { type: 'string', maxLength: 32 },
            firmware: { type: 'string', enum: ['bios', 'uefi'] },
            kernel: { type: 'string', maxLength: 128 },
            phase: { type: 'string', enum: [...NODE_PHASES] },
            message: { type: 'string', maxLength: REPORT_MESSAGE_MAX },
            hostname: { type: 'string', pattern: HOSTNAME_PATTERN },
            swarm: swarmReportSchema,
            lag: lagReportSchema,
            restore: {
              type: 'object',
              additionalProperties: false,
              required: ['written', 'total'],
              properties: { written: count, total: count },
            },
          },
        },
      },
    },
    async (req) => {
      const r = req.body;
      const mac = parseMac(r.mac);
      requireSelf(auth, req, mac);
      const before = store.nodes.get(mac);
      // A report without an address (the restored system's "up") is from where the node is now.
      const from = plainAddress(req.ip);
      const ip = r.ip ?? (authenticatedNode(req) === mac && !isLoopback(from) && IPV4_ADDRESS.test(from) ? from : undefined);
      const node = store.nodes.record({ mac, ip, firmware: r.firmware, kernel: r.kernel, phase: r.phase });
      if (r.swarm) swarm?.report(mac, r.swarm);
      if (r.hostname && r.hostname !== before?.hostname && !store.nodes.assignHostname(mac, r.hostname, 'node')) {
        store.events.add('node.hostname.kept', `reported hostname ${r.hostname} ignored: ${before?.hostname ?? 'its name'} was assigned by an operator`, { mac });
      }
      if (r.restore) views.restore(mac, r.restore);
      if (r.lag) views.lag(mac, r.lag);
      views.touch(mac);
      if (deploy) onNodeReport(deploy, before, mac, r.phase, r.message);
      power?.noteReport(mac, r.phase);
      if (before?.phase !== node.phase || r.message) {
        store.events.add(`node.${node.phase}`, r.message ?? `node ${node.phase}`, { mac, data: { ip, firmware: r.firmware, kernel: r.kernel } });
      }
      req.log.info({ mac, ip, firmware: r.firmware, phase: node.phase }, 'node report');
      return { ok: true, hostname: store.nodes.get(mac)?.hostname ?? null };
    },
  );
};
