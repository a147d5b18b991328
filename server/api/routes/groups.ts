/**
 * Configuration groups: GET /groups, PUT /groups/:name (create or change),
 * DELETE /groups/:name (refused while nodes are in it or it is the default
 * group). All need admin.
 */
import type { FastifyPluginAsync } from 'fastify';
import { ImgsrvError, withContext } from '../../../core/errors.ts';
import { hostnamePatternProblem } from '../../../core/hostname.ts';
import { diskHintProblem } from '../../../contract/disk-hint.ts';
import { checkKernelArg } from '../../../netboot/boot/cmdline.ts';
import type { Store } from '../../store/db.ts';
import type { GroupPatch } from '../../store/groups.ts';
import { resolveImage, type DeployContext } from '../../deploy/plan.ts';
import { requireAuth, type Auth } from '../auth.ts';
import { DISK_PATTERN, GROUP_PATTERN, HOSTNAME_TEMPLATE_PATTERN, IMAGE_PATTERN, KERNEL_ARG_PATTERN, MOUNT_POINT_PATTERN, nullable } from './patterns.ts';

const nameParams = { type: 'object', required: ['name'], properties: { name: { type: 'string', pattern: GROUP_PATTERN } } };

/** The body of PUT /groups/:name (every field optional; null = inherit the global setting). */
export const groupPatchSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    image: nullable({ type: 'string', pattern: IMAGE_PATTERN }),
    hostnamePattern: nullable({ type: 'string', pattern: HOSTNAME_TEMPLATE_PATTERN }),
    keep: nullable({ type: 'array', maxItems: 32, items: { type: 'string', pattern: MOUNT_POINT_PATTERN } }),
    kernelArgs: { type: 'array', maxItems: 32, items: { type: 'string', pattern: KERNEL_ARG_PATTERN } },
    targetDisk: nullable({ type: 'string', pattern: DISK_PATTERN }),
    promptTimeout: nullable({ type: 'integer', minimum: 0, maximum: 86400 }),
  },
};

export const groupRoutes: FastifyPluginAsync<{ auth: Auth; store: Store; deploy?: DeployContext | undefined }> = async (app, { auth, store, deploy }) => {
  const admin = requireAuth(auth, ['admin']);

  app.get('/groups', { onRequest: admin, schema: { summary: 'Configuration groups' } }, async () => store.groups.list());

  app.get<{ Params: { name: string } }>('/groups/:name', { onRequest: admin, schema: { summary: 'One group', params: nameParams } }, async (req) => {
    const g = store.groups.get(req.params.name);
    if (!g) throw new ImgsrvError('NOT_FOUND', `no group ${req.params.name}`, { hint: 'see `imgsrv groups ls`' });
    return g;
  });

  app.put<{ Params: { name: string }; Body: GroupPatch }>(
    '/groups/:name',
    { onRequest: admin, schema: { summary: "Create a group or change its settings (null inherits the global one)", params: nameParams, body: groupPatchSchema } },
    async (req) => {
      const { name } = req.params;
      // Refuse an image that isn't there (a typo would leave the group's nodes waiting).
      if (req.body.image && deploy) resolveImage(deploy.images, req.body.image);
      // A pattern that gives bad names would fail every unattended node after its whole download: refuse it now.
      const pattern = req.body.hostnamePattern ? hostnamePatternProblem(req.body.hostnamePattern) : undefined;
      if (pattern) throw new ImgsrvError('BAD_USAGE', `hostnamePattern: ${pattern}`, { hint: 'e.g. node-{n} or rack1-{mac}' });
      // The boot builders' rule, now rather than when a node of the group asks for its boot script.
      req.body.kernelArgs?.forEach((a, i) => {
        try {
          checkKernelArg(a);
        } catch (err) {
          throw withContext(err, `kernelArgs[${i}]`);
        }
      });
      const disk = req.body.targetDisk ? diskHintProblem(req.body.targetDisk) : undefined;
      if (disk) throw new ImgsrvError('BAD_USAGE', `targetDisk: ${disk}`, { hint: 'e.g. serial=S4EWNX0R123456, model=Samsung*,size=>=400G or nvme0n1' });
      const created = !store.groups.get(name);
      const g = store.groups.upsert(name, req.body);
      store.events.add(created ? 'group.created' : 'group.changed', `group ${name} ${created ? 'created' : 'changed'}`, { data: req.body });
      return g;
    },
  );

  app.delete<{ Params: { name: string } }>('/groups/:name', { onRequest: admin, schema: { summary: 'Remove an empty group', params: nameParams } }, async (req, reply) => {
    const { name } = req.params;
    if (!store.groups.get(name)) throw new ImgsrvError('NOT_FOUND', `no group ${name}`, { hint: 'see `imgsrv groups ls`' });
    const members = store.groups.members(name);
    if (members.length) {
      throw new ImgsrvError('CONFLICT', `group ${name} still has ${members.length} node(s): ${members.slice(0, 5).join(', ')}${members.length > 5 ? ', …' : ''}`, {
        hint: 'move them to another group first (`imgsrv nodes set MAC --group G`)',
      });
    }
    if (store.settings.get<string | null>('nodes.defaultGroup') === name) {
      throw new ImgsrvError('CONFLICT', `group ${name} is where new nodes go`, { hint: 'change it first: `imgsrv settings set nodes.defaultGroup=-`' });
    }
    store.groups.remove(name);
    store.events.add('group.removed', `group ${name} removed`, {});
    return reply.code(204).send();
  });
};
