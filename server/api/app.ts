/**
 * The HTTP side of imgsrv (fastify): health, metrics, the API under /api/v1,
 * and the boot routes iPXE and the netboot environment use. One plugin per
 * concern; shared services come in through `AppDeps`.
 */
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import type { Logger } from '../log.ts';
import type { Store } from '../store/db.ts';
import { ImgsrvError } from '../errors.ts';
import { nodeRoutes } from './routes/nodes.ts';
import { bootRoutes, type BootRouteOptions } from './routes/boot.ts';
import { statusRoutes, type StatusInfo } from './routes/status.ts';
import { imageRoutes } from './routes/images.ts';
import { captureRoutes } from './routes/captures.ts';
import type { ImageStore } from '../images/store.ts';
import type { CaptureManager } from '../capture/manager.ts';
import type { SwarmService } from '../swarm/service.ts';
import { swarmApiRoutes, swarmPublicRoutes } from './routes/swarm.ts';
import { deployRoutes } from './routes/deploy.ts';
import type { DeployContext } from '../deploy/plan.ts';

/** What the HTTP app needs from the rest of the server. */
export interface AppDeps {
  store: Store;
  logger: Logger;
  registry: Registry;
  boot: BootRouteOptions;
  /** Live service state for /api/v1/status. */
  status: () => StatusInfo;
  /** The image store and the capture manager (routes /images and /captures); absent in tests that don't need them. */
  images?: ImageStore;
  captures?: CaptureManager;
  /** The swarm (tracker, web seed, /swarm routes); absent when swarm.enabled is false. */
  swarm?: SwarmService;
  /** Deployment planning (plan, deploy settings, re-image); absent in tests that don't need it. */
  deploy?: DeployContext;
}

/** A registered route, as the auth tests enumerate them. */
export interface RouteEntry {
  method: string;
  url: string;
}

/** Routes of an app built by `buildApp`, in registration order. */
export const appRoutes = new WeakMap<FastifyInstance, RouteEntry[]>();

/** Build (not start) the fastify app; `listen` is the caller's. */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    // pino's Logger is a FastifyBaseLogger; the cast keeps FastifyInstance's default type parameters.
    loggerInstance: deps.logger.child({ subsystem: 'http' }) as FastifyBaseLogger,
    disableRequestLogging: false,
    bodyLimit: 1 << 20,
    // Never trust X-Forwarded-For: node identity comes from the token and body.
    trustProxy: false,
    // Unknown body fields are an error, not silently dropped (fastify's default strips them).
    ajv: { customOptions: { removeAdditional: false, allErrors: false } },
  });

  const routes: RouteEntry[] = [];
  appRoutes.set(app, routes);
  app.addHook('onRoute', (r) => {
    for (const method of [r.method].flat()) routes.push({ method, url: r.url });
  });

  app.setErrorHandler((err, req, reply) => {
    if (err instanceof ImgsrvError) {
      const status = err.code === 'NOT_FOUND' ? 404 : err.code === 'CONFLICT' ? 409 : err.code === 'UNAUTHORIZED' ? 401 : 400;
      return reply.code(status).send({ error: err.code, message: err.oneLine() });
    }
    const e = err as { statusCode?: number; validation?: unknown; message: string };
    if (e.validation) return reply.code(400).send({ error: 'BAD_REQUEST', message: e.message });
    const status = e.statusCode && e.statusCode >= 400 && e.statusCode < 500 ? e.statusCode : 500;
    if (status === 500) req.log.error({ err }, 'request failed');
    return reply.code(status).send({ error: status === 500 ? 'INTERNAL' : 'BAD_REQUEST', message: e.message });
  });

  app.get('/healthz', async () => ({ ok: true }));
  app.get('/metrics', async (_req, reply) => {
    reply.type(deps.registry.contentType);
    return deps.registry.metrics();
  });

  await app.register(statusRoutes, { prefix: '/api/v1', store: deps.store, status: deps.status });
  await app.register(nodeRoutes, { prefix: '/api/v1', store: deps.store, swarm: deps.swarm, deploy: deps.deploy });
  if (deps.deploy) await app.register(deployRoutes, { prefix: '/api/v1', deploy: deps.deploy });
  if (deps.images) await app.register(imageRoutes, { prefix: '/api/v1', store: deps.store, images: deps.images });
  if (deps.captures) await app.register(captureRoutes, { prefix: '/api/v1', store: deps.store, captures: deps.captures });
  if (deps.swarm && deps.images) {
    await app.register(swarmApiRoutes, { prefix: '/api/v1', store: deps.store, swarm: deps.swarm });
    await app.register(swarmPublicRoutes, { swarm: deps.swarm, imagesRoot: deps.images.root });
  }
  await app.register(bootRoutes, { prefix: '/boot', ...deps.boot, store: deps.store });
  return app;
}
