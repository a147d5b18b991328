/**
 * The HTTP side of imgsrv (fastify): health, metrics, the API under /api/v1,
 * and the boot routes iPXE and the netboot environment use. One plugin per
 * concern; shared services come in through `AppDeps`.
 */
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import fastifyCookie from '@fastify/cookie';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import type { Registry } from 'prom-client';
import type { Logger } from '../../core/log.ts';
import type { Store } from '../store/db.ts';
import { ImgsrvError } from '../../core/errors.ts';
import type { Auth } from './auth.ts';
import type { NodeIdentity } from '../node-identity.ts';
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
import type { LiveSettingsService } from '../live-settings.ts';
import { VERSION } from '../../core/version.ts';
import { consoleRoutes } from './console.ts';
import { LiveHub, liveRoutes } from './live.ts';
import { nodesBulkRoutes } from './routes/nodes-bulk.ts';
import { NodeViews } from './node-view.ts';
import { groupRoutes } from './routes/groups.ts';
import { imageRows } from './routes/images.ts';
import { sessionRoutes } from './routes/session.ts';
import { settingsRoutes } from './routes/settings.ts';
import { powerRoutes } from './routes/power.ts';
import type { BmcCredentialStore } from '../power/credentials.ts';
import type { PowerService } from '../power/service.ts';

/** What the HTTP app needs from the rest of the server. */
export interface AppDeps {
  store: Store;
  /** Mints and checks the per-node tokens. */
  nodes: NodeIdentity;
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
  /** Live settings (GET/PUT /settings); absent in tests that don't need them. */
  live?: LiveSettingsService;
  /** The console's static files (default: server/console/dist). */
  consoleRoot?: string;
  /** Sign-in attempts per address per minute (default 5). */
  signInPerMinute?: number;
  /** The signing key's public half (PEM), when signing is configured: `images verify` then checks signatures. */
  signingKey?: () => string | undefined;
  /** BMC credentials and power actions (routes /nodes/:mac/bmc, /power, /reimage-now); absent in tests that don't need them. */
  power?: { credentials: BmcCredentialStore; service: PowerService };
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
      // A BMC's refusal or silence is a bad gateway: the request was fine, the device behind us was not.
      const status = err.code === 'NOT_FOUND' ? 404 : err.code === 'CONFLICT' ? 409 : err.code === 'UNAUTHORIZED' ? 401 : err.code === 'FORBIDDEN' ? 403 : err.code.startsWith('BMC_') ? 502 : 400;
      return reply.code(status).send({ error: err.code, message: err.oneLine() });
    }
    const e = err as { statusCode?: number; validation?: unknown; message: string };
    if (e.validation) return reply.code(400).send({ error: 'BAD_REQUEST', message: e.message });
    const status = e.statusCode && e.statusCode >= 400 && e.statusCode < 500 ? e.statusCode : 500;
    if (status === 500) req.log.error({ err }, 'request failed');
    const code = status === 500 ? 'INTERNAL' : status === 429 ? 'RATE_LIMITED' : 'BAD_REQUEST';
    return reply.code(status).send({ error: code, message: e.message });
  });

  await app.register(fastifyCookie);
  // OpenAPI for /api/v1 (the boot, tracker and console routes are not an API and stay out of it).
  await app.register(fastifySwagger, {
    openapi: {
      info: { title: 'imgsrv', version: VERSION, description: 'Every console action, as the CLI uses it. Authenticate with the admin token as a bearer token, or with the console session cookie plus x-csrf-token on writes.' },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer' },
          session: { type: 'apiKey', in: 'cookie', name: 'imgsrv_session' },
        },
      },
      security: [{ bearer: [] }, { session: [] }],
    },
    transform: ({ schema, url }) => {
      const tag = /^\/api\/v1\/([a-z]+)/.exec(url)?.[1];
      return { url, schema: tag ? { ...schema, tags: [tag] } : { ...schema, hide: true } } as never;
    },
  });
  await app.register(fastifySwaggerUi, { routePrefix: '/docs' });

  app.get('/healthz', async () => ({ ok: true }));
  app.get('/metrics', async (_req, reply) => {
    reply.type(deps.registry.contentType);
    return deps.registry.metrics();
  });

  const views = new NodeViews(deps.store, deps.swarm);
  const images = deps.images;
  const hub = new LiveHub({ store: deps.store, views, swarm: deps.swarm, captures: deps.captures, images: images && (() => imageRows(deps.store, images)) });
  app.addHook('onReady', async () => hub.start());
  // Before the server closes: open SSE streams would otherwise hold close() forever.
  app.addHook('preClose', async () => hub.stop());

  const auth: Auth = { store: deps.store, nodes: deps.nodes };
  await app.register(sessionRoutes, { prefix: '/api/v1', auth, store: deps.store, attemptsPerMinute: deps.signInPerMinute });
  await app.register(statusRoutes, { prefix: '/api/v1', auth, store: deps.store, status: deps.status });
  await app.register(liveRoutes, { prefix: '/api/v1', auth, store: deps.store, hub });
  await app.register(nodeRoutes, { prefix: '/api/v1', auth, store: deps.store, views, swarm: deps.swarm, deploy: deps.deploy, power: deps.power?.service });
  if (deps.power) await app.register(powerRoutes, { prefix: '/api/v1', auth, store: deps.store, credentials: deps.power.credentials, power: deps.power.service });
  await app.register(nodesBulkRoutes, { prefix: '/api/v1', auth, store: deps.store, views, deploy: deps.deploy });
  await app.register(groupRoutes, { prefix: '/api/v1', auth, store: deps.store, deploy: deps.deploy });
  if (deps.live) await app.register(settingsRoutes, { prefix: '/api/v1', auth, store: deps.store, live: deps.live });
  if (deps.deploy) await app.register(deployRoutes, { prefix: '/api/v1', auth, deploy: deps.deploy });
  if (deps.images) await app.register(imageRoutes, { prefix: '/api/v1', auth, store: deps.store, images: deps.images, signingKey: deps.signingKey });
  if (deps.captures) await app.register(captureRoutes, { prefix: '/api/v1', auth, store: deps.store, captures: deps.captures });
  if (deps.swarm && deps.images) {
    await app.register(swarmApiRoutes, { prefix: '/api/v1', auth, store: deps.store, swarm: deps.swarm });
    await app.register(swarmPublicRoutes, { swarm: deps.swarm, imagesRoot: deps.images.root });
  }
  await app.register(bootRoutes, { prefix: '/boot', ...deps.boot, store: deps.store, nodes: deps.nodes });
  await app.register(consoleRoutes, { root: deps.consoleRoot });
  return app;
}
