/** GET/PUT /settings: the live settings (DHCP, boot mode, hostname pattern, default group), applied without a restart. */
import type { FastifyPluginAsync } from 'fastify';
import type { Store } from '../../store/db.ts';
import type { LiveSettingsPatch, LiveSettingsService } from '../../live-settings.ts';
import { requireAuth, type Auth } from '../auth.ts';
import { GROUP_PATTERN, HOSTNAME_PATTERN, HOSTNAME_TEMPLATE_PATTERN, IPV4_PATTERN, nullable } from './patterns.ts';
import { MAC_PATTERN } from './nodes.ts';

const settingsPatchSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    dhcp: {
      type: 'object',
      additionalProperties: false,
      properties: {
        mode: { type: 'string', enum: ['full', 'proxy', 'off'] },
        range: nullable({ type: 'string', pattern: '^[0-9.]{7,15}-[0-9.]{7,15}$' }),
        reservations: {
          type: 'array',
          maxItems: 4096,
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['mac', 'ip'],
            properties: { mac: { type: 'string', pattern: MAC_PATTERN }, ip: { type: 'string', pattern: IPV4_PATTERN }, hostname: { type: 'string', pattern: HOSTNAME_PATTERN } },
          },
        },
      },
    },
    boot: { type: 'object', additionalProperties: false, properties: { mode: { type: 'string', enum: ['http', 'tftp'] } } },
    nodes: {
      type: 'object',
      additionalProperties: false,
      properties: {
        hostnamePattern: { type: 'string', pattern: HOSTNAME_TEMPLATE_PATTERN },
        defaultGroup: nullable({ type: 'string', pattern: GROUP_PATTERN }),
      },
    },
  },
};

export const settingsRoutes: FastifyPluginAsync<{ auth: Auth; store: Store; live: LiveSettingsService }> = async (app, { auth, store, live }) => {
  const admin = requireAuth(auth, ['admin']);

  app.get('/settings', { onRequest: admin, schema: { summary: 'The live settings: DHCP mode, range and reservations, boot mode, hostname pattern, default group' } }, async () =>
    live.get(),
  );

  app.put<{ Body: LiveSettingsPatch }>(
    '/settings',
    { onRequest: admin, schema: { summary: 'Change live settings (applied at once; a change that cannot be applied is rolled back)', body: settingsPatchSchema } },
    async (req) => {
      const next = await live.update(req.body);
      store.events.add('settings.changed', `settings changed: ${Object.keys(req.body).join(', ') || 'nothing'}`, { data: req.body });
      return next;
    },
  );
};
