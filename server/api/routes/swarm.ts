/**
 * Swarm routes. The tracker (`/announce`, `/scrape`) and the BEP 19 web seed
 * (`/seed/<image>/<version>/<payload>`) are unauthenticated by necessity:
 * BitTorrent clients send no credentials. Both are read-only as far as the
 * server's state goes (an announce updates only the tracker's peer list) and
 * know only the info hashes and versions we seed. The swarm view needs a
 * token: admin, or a node's (a finished node asks whether it may stop seeding).
 */
import fastifyStatic from '@fastify/static';
import type { FastifyPluginAsync } from 'fastify';
import { ImgsrvError } from '../../../core/errors.ts';
import type { Store } from '../../store/db.ts';
import type { SwarmService } from '../../swarm/service.ts';
import { requireAuth, type Auth } from '../auth.ts';

/** Tracker and web seed, mounted at the root (the torrent's announce URL is <base>/announce). */
export const swarmPublicRoutes: FastifyPluginAsync<{ swarm: SwarmService; imagesRoot: string }> = async (app, { swarm, imagesRoot }) => {
  // The tracker writes its own bencoded reply on the raw response.
  for (const path of ['/announce', '/scrape']) {
    app.get(path, (req, reply) => {
      reply.hijack();
      swarm.tracker.handle(req.raw, reply.raw);
    });
  }

  await app.register(fastifyStatic, { root: imagesRoot, serve: false, acceptRanges: true, dotfiles: 'deny', index: false, cacheControl: false, etag: true });
  app.get<{ Params: { image: string; version: string; file: string } }>('/seed/:image/:version/:file', async (req, reply) => {
    const { image, version, file } = req.params;
    const e = /^\d{1,9}$/.test(version) ? swarm.entry(`${image}@${Number(version)}`) : undefined;
    if (!e || e.payloadName !== file) throw new ImgsrvError('NOT_FOUND', `no seeded image ${image}@${version} named ${file}`, { hint: 'fetch the current .torrent' });
    // Served from the store's own artifact; the path is ours, not the request's.
    return reply.sendFile(`${e.image}/${e.version}/image.tar.zst`, imagesRoot);
  });
};

/** /api/v1/swarm: the swarm view and the seeder's controls. */
export const swarmApiRoutes: FastifyPluginAsync<{ auth: Auth; store: Store; swarm: SwarmService }> = async (app, { auth, store, swarm }) => {
  const admin = requireAuth(auth, ['admin']);
  const nodeOrAdmin = requireAuth(auth, ['node', 'admin']);

  app.get('/swarm', { onRequest: admin }, async () => swarm.list());

  app.get<{ Params: { id: string } }>('/swarm/:id', { onRequest: nodeOrAdmin, schema: { params: { type: 'object', properties: { id: { type: 'string', maxLength: 200 } } } } }, async (req) => {
    const e = swarm.entry(req.params.id);
    if (!e) throw new ImgsrvError('NOT_FOUND', `no swarm ${req.params.id}`, { hint: 'pass an info hash or NAME@VERSION; see `imgsrv swarm ls`' });
    return swarm.view(e);
  });

  app.post<{ Body: { pauseMs?: number } }>(
    '/swarm/seeder/restart',
    { onRequest: admin, schema: { body: { type: 'object', additionalProperties: false, properties: { pauseMs: { type: 'integer', minimum: 0, maximum: 600000 } } } } },
    async (req) => {
      await swarm.seeder.restart(req.body?.pauseMs ?? 0);
      store.events.add('swarm.seeder.restarted', 'seeder restarted', {});
      return { ok: true, port: swarm.seeder.port };
    },
  );
};
