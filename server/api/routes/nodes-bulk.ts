/**
 * POST /nodes/bulk: one action on many nodes at once (the console's
 * selection, a script's list): put them in a group, pin their image,
 * re-image or retire them.
 * All or nothing: every MAC must name a known node and the action must be
 * valid for all of them, else nothing changes. Each node gets its own event,
 * as the single-node routes give it.
 */
import type { FastifyPluginAsync } from 'fastify';
import { ImgsrvError } from '../../../core/errors.ts';
import type { Store } from '../../store/db.ts';
import { parseMac } from '../../store/nodes.ts';
import { requireAuth, type Auth } from '../auth.ts';
import { requestReimage, resolveImage, retireNode, type DeployContext } from '../../deploy/plan.ts';
import type { NodeViews } from '../node-view.ts';
import { inTransaction } from '../../store/transaction.ts';
import { GROUP_PATTERN, IMAGE_PATTERN, nullable } from './patterns.ts';
import { MAC_PATTERN } from './nodes.ts';

/** The most nodes one bulk request may name. */
export const BULK_MAX = 10_000;

/** The body of POST /nodes/bulk. */
export type BulkAction =
  | { action: 'group'; macs: string[]; group: string | null }
  | { action: 'image'; macs: string[]; image: string | null }
  | { action: 'reimage'; macs: string[]; image?: string | null }
  | { action: 'retire'; macs: string[]; wipe?: boolean };

/** The fields each action takes besides action and macs. */
const ACTION_FIELDS: Record<string, string[]> = { group: ['group'], image: ['image'], reimage: ['image'], retire: ['wipe'] };

const macs = { type: 'array', minItems: 1, maxItems: BULK_MAX, uniqueItems: true, items: { type: 'string', pattern: MAC_PATTERN } };

export const nodesBulkRoutes: FastifyPluginAsync<{ auth: Auth; store: Store; views: NodeViews; deploy?: DeployContext | undefined }> = async (app, { auth, store, views, deploy }) => {
  app.post<{ Body: BulkAction }>(
    '/nodes/bulk',
    {
      onRequest: requireAuth(auth, ['admin']),
      // 10,000 MACs of 19 bytes, JSON-quoted, with room to spare.
      bodyLimit: 512 * 1024,
      schema: {
        summary: 'One action on many nodes, all or nothing: action=group (group: NAME or null), image (the image override: NAME[@V] or null), reimage (image), retire (wipe)',
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['action', 'macs'],
          properties: {
            action: { type: 'string', enum: ['group', 'image', 'reimage', 'retire'] },
            macs,
            group: nullable({ type: 'string', pattern: GROUP_PATTERN }),
            image: nullable({ type: 'string', pattern: IMAGE_PATTERN }),
            wipe: { type: 'boolean' },
          },
        },
      },
    },
    async (req) => {
      const body = req.body;
      const extra = Object.keys(body).filter((k) => !['action', 'macs', ...(ACTION_FIELDS[body.action] ?? [])].includes(k));
      if (extra.length) throw new ImgsrvError('BAD_USAGE', `${body.action} takes no ${extra.join(', ')}`, { hint: 'group takes group; image and reimage take image; retire takes wipe' });
      if (body.action === 'image' && !('image' in body)) throw new ImgsrvError('BAD_USAGE', 'action image needs image (NAME, NAME@VERSION, or null for the default)', { hint: '{"action":"image","macs":[…],"image":"web@2"}' });
      if (body.action === 'group' && !('group' in body)) throw new ImgsrvError('BAD_USAGE', 'action group needs group (a name, or null to leave groups)', { hint: '{"action":"group","macs":[…],"group":"rack1"}' });
      const list = body.macs.map(parseMac);
      const unknown = list.filter((m) => !store.nodes.get(m));
      if (unknown.length) {
        throw new ImgsrvError('NOT_FOUND', `no node with MAC ${unknown.slice(0, 3).join(', ')}${unknown.length > 3 ? ` (and ${unknown.length - 3} more)` : ''}`, {
          hint: 'nothing was changed; see `imgsrv nodes ls --all`',
        });
      }
      if ((body.action === 'reimage' || body.action === 'retire') && !deploy) throw new ImgsrvError('CONFLICT', 'deployment is not running on this server', { hint: `${body.action} needs \`imgsrv serve\`` });
      if (body.action === 'group' && body.group && !store.groups.get(body.group)) {
        throw new ImgsrvError('NOT_FOUND', `no group ${body.group}`, { hint: 'create it first: `imgsrv groups set NAME`' });
      }
      if ((body.action === 'reimage' || body.action === 'image') && body.image && deploy) resolveImage(deploy.images, body.image);
      inTransaction(store.db, () => {
        for (const mac of list) {
          if (body.action === 'group') {
            store.nodes.setGroup(mac, body.group);
            store.events.add('node.assigned', body.group ? `moved to group ${body.group}` : 'left its group', { mac });
          } else if (body.action === 'image') {
            store.nodes.setImage(mac, body.image);
            store.events.add('node.assigned', body.image ? `image override ${body.image}` : 'image override cleared', { mac });
          } else if (body.action === 'reimage') requestReimage(deploy!, mac, body.image);
          else retireNode(deploy!, mac, Boolean(body.wipe));
        }
      });
      for (const mac of list) views.touch(mac);
      req.log.info({ action: body.action, nodes: list.length }, 'bulk node action');
      return { action: body.action, nodes: list.length };
    },
  );
};
