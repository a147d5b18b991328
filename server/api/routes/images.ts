/**
 * Image store routes: list, show, verify, remove (refused while in use),
 * export as a single-file bundle and import one. All need the admin token.
 */
import type { FastifyPluginAsync } from 'fastify';
import { PassThrough, type Readable } from 'node:stream';
import { verifyImage } from '../../../images/verify.ts';
import { ImgsrvError } from '../../../core/errors.ts';
import type { Store } from '../../store/db.ts';
import type { ImageStore } from '../../images/store.ts';
import { exportBundle, importBundle } from '../../images/bundle.ts';
import { requireAuth, type Auth } from '../auth.ts';
import { checkSignature } from '../../../images/signing.ts';

const NAME = '^[a-z0-9][a-z0-9_.-]{0,62}$';
const nameParams = { type: 'object', required: ['name'], properties: { name: { type: 'string', pattern: NAME } } };
const versionParams = {
  type: 'object',
  required: ['name', 'version'],
  properties: { name: { type: 'string', pattern: NAME }, version: { type: 'integer', minimum: 1 } },
};

interface VersionParams {
  name: string;
  version: number;
}

/** Every version as GET /images lists it: the summary plus how its last verification ended. */
export function imageRows(store: Store, images: ImageStore) {
  return images.list().map((s) => ({ ...s, verification: store.imageChecks.get(s.name, s.version) }));
}

export const imageRoutes: FastifyPluginAsync<{ auth: Auth; store: Store; images: ImageStore; signingKey?: () => string | undefined }> = async (app, { auth, store, images, signingKey }) => {
  const admin = requireAuth(auth, ['admin']);
  // Bundles are streamed straight to disk: no body limit, no buffering (this parser is scoped to this plugin).
  app.addContentTypeParser('application/x-tar', (_req, payload, done) => done(null, payload));
  app.addContentTypeParser('application/octet-stream', (_req, payload, done) => done(null, payload));

  app.get('/images', { onRequest: admin, schema: { summary: 'Every image version, with its last verification' } }, async () => imageRows(store, images));

  app.get<{ Params: { name: string } }>('/images/:name', { onRequest: admin, schema: { params: nameParams } }, async (req) => {
    const list = images.list(req.params.name);
    if (!list.length) throw new ImgsrvError('NOT_FOUND', `no image ${req.params.name}`, { hint: 'see `imgsrv images ls`' });
    return list;
  });

  app.get<{ Params: VersionParams }>('/images/:name/:version', { onRequest: admin, schema: { params: versionParams } }, async (req) => {
    const meta = images.meta(req.params.name, req.params.version);
    return { ...images.summarize(meta), meta };
  });

  app.post<{ Params: VersionParams }>('/images/:name/:version/verify', { onRequest: admin, schema: { params: versionParams } }, async (req) => {
    images.meta(req.params.name, req.params.version);
    const { name, version } = req.params;
    const res = await verifyImage(images.dir(name, version));
    // With signing configured, a version must also carry a good signature by this server's key.
    const pub = signingKey?.();
    if (pub) {
      const sig = checkSignature(images.meta(name, version), images.signature(name, version), [pub]);
      if (!sig.ok) res.problems.push(`meta.sig: ${sig.reason} (\`imgsrv images sign ${name}@${version}\` signs it)`);
      res.ok = res.problems.length === 0;
    }
    store.imageChecks.record(name, version, res.ok, res.problems);
    store.events.add('image.verified', `${req.params.name}@${req.params.version} ${res.ok ? 'verified' : 'FAILED verification'}`, { data: res });
    return res;
  });

  app.post<{ Params: VersionParams }>(
    '/images/:name/:version/sign',
    { onRequest: admin, schema: { summary: "Sign a version with the server's key (meta.sig)", params: versionParams } },
    async (req) => {
      const signature = images.sign(req.params.name, req.params.version);
      store.events.add('image.signed', `${req.params.name}@${req.params.version} signed by key ${signature.keyId}`, { data: { name: req.params.name, version: req.params.version, keyId: signature.keyId } });
      return signature;
    },
  );

  app.delete<{ Params: VersionParams }>('/images/:name/:version', { onRequest: admin, schema: { params: versionParams } }, async (req, reply) => {
    await images.remove(req.params.name, req.params.version);
    store.imageChecks.forget(req.params.name, req.params.version);
    store.events.add('image.removed', `${req.params.name}@${req.params.version} removed`, { data: { name: req.params.name, version: req.params.version } });
    return reply.code(204).send();
  });

  app.get<{ Params: VersionParams }>('/images/:name/:version/export', { onRequest: admin, schema: { params: versionParams } }, async (req, reply) => {
    images.meta(req.params.name, req.params.version);
    const out = new PassThrough();
    exportBundle(images, req.params.name, req.params.version, out).catch((err: unknown) => {
      req.log.error({ err }, 'export failed');
      out.destroy(err as Error);
    });
    return reply
      .type('application/x-tar')
      .header('content-disposition', `attachment; filename="${req.params.name}-${req.params.version}.imgsrv.tar"`)
      .send(out);
  });

  app.post<{ Querystring: { name?: string } }>(
    '/images/import',
    {
      onRequest: admin,
      schema: { querystring: { type: 'object', additionalProperties: false, properties: { name: { type: 'string', pattern: NAME } } } },
    },
    async (req, reply) => {
      const body = req.body as Readable | undefined;
      if (!body || typeof (body as Readable).pipe !== 'function') {
        throw new ImgsrvError('BAD_USAGE', 'send the bundle as the request body with content-type application/x-tar', { hint: 'use `imgsrv images import FILE`' });
      }
      const { meta, keptVersion } = await importBundle(images, body, { name: req.query.name });
      store.events.add('image.imported', `${meta.name}@${meta.version} imported`, { data: { name: meta.name, version: meta.version } });
      return reply.code(201).send({ ...images.summarize(meta), keptVersion });
    },
  );
};
