/** GET /api/v1/status and /api/v1/events: what the server is doing. */
import type { FastifyPluginAsync } from 'fastify';
import type { Store } from '../../store/db.ts';
import { requireAuth, type Auth } from '../auth.ts';

/** The live state of the server's services. */
export interface StatusInfo {
  version: string;
  startedAt: number;
  interface: string | null;
  address: string | null;
  services: Record<string, { state: 'running' | 'off' | 'failed'; detail?: string }>;
}

export const statusRoutes: FastifyPluginAsync<{ auth: Auth; store: Store; status: () => StatusInfo }> = async (app, opts) => {
  const admin = requireAuth(opts.auth, ['admin']);

  app.get('/status', { onRequest: admin }, async () => {
    const nodes = opts.store.nodes.list();
    const byPhase: Record<string, number> = {};
    for (const n of nodes) byPhase[n.phase] = (byPhase[n.phase] ?? 0) + 1;
    return { ...opts.status(), nodes: { total: nodes.length, byPhase }, leases: opts.store.leases.all().filter((l) => l.state === 'bound').length };
  });

  app.get<{ Querystring: { after?: number; mac?: string; limit?: number } }>(
    '/events',
    {
      onRequest: admin,
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            after: { type: 'integer', minimum: 0 },
            mac: { type: 'string', pattern: '^[0-9a-f]{2}(:[0-9a-f]{2}){5}$' },
            limit: { type: 'integer', minimum: 1, maximum: 5000 },
          },
        },
      },
    },
    async (req) => opts.store.events.list({ afterId: req.query.after, mac: req.query.mac, limit: req.query.limit }),
  );

  app.get('/leases', { onRequest: admin }, async () => opts.store.leases.all());
};
