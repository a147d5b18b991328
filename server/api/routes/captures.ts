/**
 * Capture routes: start one (POST /captures), follow it (GET /captures/:id,
 * long-polling with ?since=SEQ&wait=S), cancel it. All need the admin token.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { Store } from '../../store/db.ts';
import type { CaptureManager, CaptureRequest } from '../../capture/manager.ts';
import { requireAuth, type Auth } from '../auth.ts';

const idParams = { type: 'object', required: ['id'], properties: { id: { type: 'string', pattern: '^cap-[a-z0-9]+-[0-9a-f]{6}$' } } };

export const captureRoutes: FastifyPluginAsync<{ auth: Auth; store: Store; captures: CaptureManager }> = async (app, { auth, store, captures }) => {
  const admin = requireAuth(auth, ['admin']);

  app.post<{ Body: CaptureRequest }>(
    '/captures',
    {
      onRequest: admin,
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['source'],
          properties: {
            // Validated for real in capture/source.ts; here only shape and size.
            source: { type: 'string', minLength: 1, maxLength: 300 },
            name: { type: 'string', minLength: 1, maxLength: 63 },
            user: { type: 'string', minLength: 1, maxLength: 32 },
            port: { type: 'integer', minimum: 1, maximum: 65535 },
            identity: { type: 'string', minLength: 1, maxLength: 4096 },
            // Host key pins: an OpenSSH fingerprint, or known_hosts text (checked in capture/manager.ts).
            hostKey: { type: 'string', minLength: 1, maxLength: 100 },
            knownHosts: { type: 'string', minLength: 1, maxLength: 512 * 1024 },
          },
        },
      },
    },
    async (req, reply) => reply.code(202).send(captures.start(req.body)),
  );

  app.get('/captures', { onRequest: admin }, async () => captures.list());

  app.get<{ Params: { id: string }; Querystring: { since?: number; wait?: number } }>(
    '/captures/:id',
    {
      onRequest: admin,
      schema: {
        params: idParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { since: { type: 'integer', minimum: 0 }, wait: { type: 'number', minimum: 0, maximum: 60 } },
        },
      },
    },
    async (req) => {
      const { since, wait } = req.query;
      if (since === undefined || !wait) return captures.get(req.params.id);
      return captures.waitForChange(req.params.id, since, wait * 1000);
    },
  );

  app.post<{ Params: { id: string } }>('/captures/:id/cancel', { onRequest: admin, schema: { params: idParams } }, async (req) => {
    const cancelled = captures.cancel(req.params.id);
    return { cancelled, capture: captures.get(req.params.id) };
  });
};
