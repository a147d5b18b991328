/** Node inventory routes: list, show, pre-assign hostname, remove, and the node's own report. */
import type { FastifyPluginAsync } from 'fastify';
import { ImgsrvError } from '../../errors.ts';
import type { Store } from '../../store/db.ts';
import { NODE_PHASES, normalizeMac, type NodePhase } from '../../store/nodes.ts';
import { requireToken } from '../auth.ts';
import type { NodeSwarmReport, SwarmService } from '../../swarm/service.ts';
import { onNodeReport, type DeployContext } from '../../deploy/plan.ts';

/** A MAC in a route parameter or body (either separator, either case; normalised by macParam). */
export const MAC_PATTERN = '^[0-9A-Fa-f]{2}([:-][0-9A-Fa-f]{2}){5}$';
/** The params schema of routes under /nodes/:mac. */
export const macParams = { type: 'object', required: ['mac'], properties: { mac: { type: 'string', pattern: MAC_PATTERN } } };
const HOSTNAME_PATTERN = '^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$';
const IPV4_PATTERN = '^((25[0-5]|2[0-4]\\d|1?\\d?\\d)\\.){3}(25[0-5]|2[0-4]\\d|1?\\d?\\d)$';

interface MacParams {
  mac: string;
}

/** What a booting node sends (netboot environment /init, later the restore client). */
interface NodeReport {
  mac: string;
  ip?: string;
  arch?: string;
  firmware?: 'bios' | 'uefi';
  kernel?: string;
  phase?: NodePhase;
  message?: string;
  /** The hostname the node took (prompted or assigned); kept so a re-image runs unattended. */
  hostname?: string;
  swarm?: NodeSwarmReport;
  /** Restore progress: bytes written to disk and the image's size. */
  restore?: { written: number; total: number };
}

/** The route's MAC, normalised; BAD_USAGE when it isn't one. */
export function macParam(raw: string): string {
  const mac = normalizeMac(raw);
  if (!mac) throw new ImgsrvError('BAD_USAGE', `"${raw}" is not a MAC address`, { hint: 'use the form aa:bb:cc:dd:ee:ff' });
  return mac;
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

export const nodeRoutes: FastifyPluginAsync<{ store: Store; swarm?: SwarmService | undefined; deploy?: DeployContext | undefined }> = async (app, { store, swarm, deploy }) => {
  /** A node with its latest swarm report, when there is a fresh one. */
  const restoreProgress = new Map<string, { written: number; total: number; at: number }>();
  const withSwarm = <T extends { mac: string; phase: NodePhase }>(n: T) => {
    const r = swarm?.nodeReport(n.mac);
    const p = n.phase === 'restoring' ? restoreProgress.get(n.mac) : undefined;
    return { ...n, ...(r ? { swarm: r } : {}), ...(p ? { restore: { written: p.written, total: p.total } } : {}) };
  };
  const admin = requireToken(store.tokens, ['admin']);
  const nodeOrAdmin = requireToken(store.tokens, ['node', 'admin']);

  app.get('/nodes', { onRequest: admin }, async () => store.nodes.list().map(withSwarm));

  app.get<{ Params: MacParams }>('/nodes/:mac', { onRequest: admin, schema: { params: macParams } }, async (req) => {
    const node = store.nodes.get(macParam(req.params.mac));
    if (!node) throw new ImgsrvError('NOT_FOUND', `no node with MAC ${req.params.mac}`, { hint: 'see `imgsrv nodes ls`' });
    return withSwarm(node);
  });

  app.put<{ Params: MacParams; Body: { hostname: string | null } }>(
    '/nodes/:mac',
    {
      onRequest: admin,
      schema: {
        params: macParams,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['hostname'],
          properties: { hostname: { anyOf: [{ type: 'string', pattern: HOSTNAME_PATTERN }, { type: 'null' }] } },
        },
      },
    },
    async (req) => {
      const mac = macParam(req.params.mac);
      const node = store.nodes.assignHostname(mac, req.body.hostname);
      store.events.add('node.assigned', req.body.hostname ? `hostname ${req.body.hostname} assigned` : 'hostname assignment cleared', { mac });
      return node;
    },
  );

  app.delete<{ Params: MacParams }>('/nodes/:mac', { onRequest: admin, schema: { params: macParams } }, async (req, reply) => {
    const mac = macParam(req.params.mac);
    if (!store.nodes.remove(mac)) throw new ImgsrvError('NOT_FOUND', `no node with MAC ${mac}`, { hint: 'see `imgsrv nodes ls`' });
    store.events.add('node.removed', 'removed from the inventory', { mac });
    return reply.code(204).send();
  });

  app.post<{ Body: NodeReport }>(
    '/nodes/report',
    {
      onRequest: nodeOrAdmin,
      schema: {
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
            message: { type: 'string', maxLength: 8192 },
            hostname: { type: 'string', pattern: HOSTNAME_PATTERN },
            swarm: swarmReportSchema,
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
      const mac = macParam(r.mac);
      const before = store.nodes.get(mac);
      const node = store.nodes.record({ mac, ip: r.ip, firmware: r.firmware, kernel: r.kernel, phase: r.phase });
      if (r.swarm) swarm?.report(mac, r.swarm);
      if (r.hostname && r.hostname !== before?.hostname) store.nodes.assignHostname(mac, r.hostname);
      if (r.restore) restoreProgress.set(mac, { ...r.restore, at: Date.now() });
      if (deploy) onNodeReport(deploy, before, mac, r.phase, r.message);
      if (before?.phase !== node.phase || r.message) {
        store.events.add(`node.${node.phase}`, r.message ?? `node ${node.phase}`, { mac, data: { ip: r.ip, firmware: r.firmware, kernel: r.kernel } });
      }
      req.log.info({ mac, ip: r.ip, firmware: r.firmware, phase: node.phase }, 'node report');
      return { ok: true, hostname: store.nodes.get(mac)?.hostname ?? null };
    },
  );
};
