/**
 * Deployment routes: the plan a booted node asks for (node token), the
 * image blank nodes receive and the partitions kept on re-image (admin),
 * and re-imaging a node (admin).
 */
import type { FastifyPluginAsync } from 'fastify';
import type { ImgsrvError } from '../../../core/errors.ts';
import { defaultImage, keepList, planFor, requestReimage, resolveImage, type DeployContext } from '../../deploy/plan.ts';
import { requireAuth, requireSelf, type Auth } from '../auth.ts';
import { parseMac } from '../../store/nodes.ts';
import { macParams } from './nodes.ts';
import { IMAGE_PATTERN, MOUNT_POINT_PATTERN, nullable } from './patterns.ts';


export const deployRoutes: FastifyPluginAsync<{ auth: Auth; deploy: DeployContext }> = async (app, { auth, deploy }) => {
  const admin = requireAuth(auth, ['admin']);
  const nodeOrAdmin = requireAuth(auth, ['node', 'admin']);

  app.get<{ Params: { mac: string } }>('/nodes/:mac/plan', { onRequest: nodeOrAdmin, schema: { params: macParams } }, async (req) => {
    const mac = parseMac(req.params.mac);
    requireSelf(auth, req, mac);
    const plan = planFor(deploy, mac);
    req.log.info({ mac, action: plan.action, ...(plan.action === 'restore' ? { image: plan.image } : { reason: plan.reason }) }, 'node plan');
    return plan;
  });

  /** The deployment settings as they apply now, with the version "latest" resolves to. */
  const view = () => {
    const image = defaultImage(deploy) ?? null;
    let resolved: { name: string; version: number } | null = null;
    let problem: string | null = null;
    if (image) {
      try {
        resolved = resolveImage(deploy.images, image).ref;
      } catch (err) {
        problem = (err as ImgsrvError).message;
      }
    }
    const nodes = deploy.store.nodes.list();
    const count = (s: string) => nodes.filter((n) => n.install === s).length;
    return {
      image,
      resolved,
      problem,
      keep: keepList(deploy),
      nodes: { installing: count('installing'), installed: count('installed'), failed: count('failed'), pending: count('pending') },
    };
  };

  app.get('/deploy', { onRequest: admin }, async () => view());

  app.put<{ Body: { image?: string | null; keep?: string[] | null } }>(
    '/deploy',
    {
      onRequest: admin,
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          properties: {
            image: nullable({ type: 'string', pattern: IMAGE_PATTERN }),
            keep: nullable({ type: 'array', maxItems: 32, items: { type: 'string', pattern: MOUNT_POINT_PATTERN } }),
          },
        },
      },
    },
    async (req) => {
      const { image, keep } = req.body;
      if (image) resolveImage(deploy.images, image); // refuse an image that isn't there before storing it
      if (image !== undefined) deploy.store.settings.set('deploy.image', image ?? undefined);
      if (keep !== undefined) deploy.store.settings.set('deploy.keep', keep ?? undefined);
      deploy.store.events.add('deploy.set', `blank nodes get ${image ?? 'no image'}${keep?.length ? `, keeping ${keep.join(', ')}` : ''}`, {});
      return view();
    },
  );

  app.post<{ Params: { mac: string }; Body: { image?: string | null } | undefined }>(
    '/nodes/:mac/reimage',
    {
      onRequest: admin,
      schema: {
        params: macParams,
        body: {
          anyOf: [
            { type: 'object', additionalProperties: false, properties: { image: nullable({ type: 'string', pattern: IMAGE_PATTERN }) } },
            { type: 'null' },
          ],
        },
      },
    },
    async (req) => requestReimage(deploy, parseMac(req.params.mac), req.body?.image),
  );
};
