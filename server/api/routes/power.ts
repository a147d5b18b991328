/**
 * BMC and power routes (admin only): a node's BMC (address, user; the
 * password goes in and never comes out), a group's shared BMC login, power
 * actions, a one-time boot override, and re-image-now jobs.
 */
import type { FastifyPluginAsync } from 'fastify';
import { ImgsrvError } from '../../../core/errors.ts';
import type { Store } from '../../store/db.ts';
import { parseMac } from '../../store/nodes.ts';
import { requireAuth, type Auth } from '../auth.ts';
import { macParams } from './nodes.ts';
import { GROUP_PATTERN, IMAGE_PATTERN, nullable } from './patterns.ts';
import type { BmcCredentialStore } from '../../power/credentials.ts';
import type { PowerService } from '../../power/service.ts';
import { POWER_ACTIONS, type BootDevice, type PowerAction } from '../../power/driver.ts';

/** A BMC host: a host name or IPv4 address (it becomes one ipmitool argument, never a shell word). */
const BMC_ADDRESS_PATTERN = '^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$';
/** IPMI user names are at most 16 bytes; printable, no spaces at the ends. */
const BMC_USER_PATTERN = '^[\\x21-\\x7e]([\\x20-\\x7e]{0,14}[\\x21-\\x7e])?$';
/** IPMI 2.0 passwords are at most 20 bytes. */
const password = { type: 'string', minLength: 1, maxLength: 20 };

/** Options of the power routes. */
export interface PowerRouteOptions {
  auth: Auth;
  store: Store;
  credentials: BmcCredentialStore;
  power: PowerService;
}

interface MacParams {
  mac: string;
}

export const powerRoutes: FastifyPluginAsync<PowerRouteOptions> = async (app, { auth, store, credentials, power }) => {
  const admin = requireAuth(auth, ['admin']);

  app.get<{ Params: MacParams }>('/nodes/:mac/bmc', { onRequest: admin, schema: { summary: "A node's BMC: driver, address, user, whether a password is set (never the password)", params: macParams } }, async (req) => {
    const mac = parseMac(req.params.mac);
    const v = credentials.view(mac);
    if (!v) throw new ImgsrvError('NOT_FOUND', `node ${mac} has no BMC`, { hint: `set one: \`imgsrv nodes bmc set ${mac} --address A --user U --password-stdin\`` });
    return v;
  });

  app.put<{ Params: MacParams; Body: { address: string; port?: number; user?: string; password?: string } }>(
    '/nodes/:mac/bmc',
    {
      onRequest: admin,
      schema: {
        summary: "Set a node's BMC (IPMI over LAN+): address, port, and user + password (omit both to use its group's login)",
        params: macParams,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['address'],
          properties: { address: { type: 'string', pattern: BMC_ADDRESS_PATTERN }, port: { type: 'integer', minimum: 1, maximum: 65535 }, user: { type: 'string', pattern: BMC_USER_PATTERN }, password },
        },
      },
    },
    async (req) => {
      const mac = parseMac(req.params.mac);
      const { address, port, user } = req.body;
      const view = credentials.setNode(mac, { address, port, user, password: req.body.password });
      store.events.add('node.bmc', `BMC set: ${address}${port ? `:${port}` : ''}, user ${view.user ?? '(none)'} (${view.login === 'group' ? "its group's login" : view.passwordSet ? 'password set' : 'no password'})`, { mac });
      return view;
    },
  );

  app.delete<{ Params: MacParams }>('/nodes/:mac/bmc', { onRequest: admin, schema: { summary: "Forget a node's BMC", params: macParams } }, async (req, reply) => {
    const mac = parseMac(req.params.mac);
    if (!store.bmcs.removeNode(mac)) throw new ImgsrvError('NOT_FOUND', `node ${mac} has no BMC`);
    store.events.add('node.bmc', 'BMC removed', { mac });
    return reply.code(204).send();
  });

  app.put<{ Params: { name: string }; Body: { user: string; password: string } }>(
    '/groups/:name/bmc',
    {
      onRequest: admin,
      schema: {
        summary: "Set the BMC user and password a group's nodes share (each node still needs its own address)",
        params: { type: 'object', required: ['name'], properties: { name: { type: 'string', pattern: GROUP_PATTERN } } },
        body: { type: 'object', additionalProperties: false, required: ['user', 'password'], properties: { user: { type: 'string', pattern: BMC_USER_PATTERN }, password } },
      },
    },
    async (req) => {
      const { name } = req.params;
      if (!store.groups.get(name)) throw new ImgsrvError('NOT_FOUND', `no group ${name}`, { hint: 'create it first: `imgsrv groups set NAME`' });
      credentials.setGroup(name, req.body.user, req.body.password);
      store.events.add('group.bmc', `group ${name}: BMC user ${req.body.user}, password set`, {});
      return { name, user: req.body.user, passwordSet: true };
    },
  );

  app.post<{ Params: MacParams; Body: { action: PowerAction | 'status' } }>(
    '/nodes/:mac/power',
    {
      onRequest: admin,
      schema: {
        summary: "Ask a node's BMC for its power state, or power it on, off (hard), cycle or reset; the BMC's answer is logged as an event",
        params: macParams,
        body: { type: 'object', additionalProperties: false, required: ['action'], properties: { action: { type: 'string', enum: ['status', ...POWER_ACTIONS] } } },
      },
    },
    async (req) => {
      const mac = parseMac(req.params.mac);
      const { action } = req.body;
      const a = action === 'status' ? await power.status(mac) : await power.power(mac, action);
      return { mac, action, ...a };
    },
  );

  app.post<{ Params: MacParams; Body: { device: BootDevice } }>(
    '/nodes/:mac/boot-once',
    {
      onRequest: admin,
      schema: {
        summary: 'Boot from the network (pxe) or the disk at the next boot only; the BMC must report the override back',
        params: macParams,
        body: { type: 'object', additionalProperties: false, required: ['device'], properties: { device: { type: 'string', enum: ['pxe', 'disk'] } } },
      },
    },
    async (req) => ({ mac: parseMac(req.params.mac), device: req.body.device, ...(await power.bootOnce(parseMac(req.params.mac), req.body.device)) }),
  );

  app.post<{ Params: MacParams; Body: { timeoutSeconds?: number; image?: string | null } | undefined }>(
    '/nodes/:mac/reimage-now',
    {
      onRequest: admin,
      schema: {
        summary: 'Re-image now: mark for install, power off, one-time network boot, power on, wait for the netboot report (twice at most); read progress with GET',
        params: macParams,
        body: {
          anyOf: [
            { type: 'object', additionalProperties: false, properties: { timeoutSeconds: { type: 'integer', minimum: 10, maximum: 7200 }, image: nullable({ type: 'string', pattern: IMAGE_PATTERN }) } },
            { type: 'null' },
          ],
        },
      },
    },
    async (req, reply) => {
      const mac = parseMac(req.params.mac);
      const job = power.startReimage(mac, { timeoutMs: (req.body?.timeoutSeconds ?? 600) * 1000, image: req.body?.image });
      return reply.code(202).send(job);
    },
  );

  app.get<{ Params: MacParams }>('/nodes/:mac/reimage-now', { onRequest: admin, schema: { summary: "A node's latest re-image-now job", params: macParams } }, async (req) => {
    const mac = parseMac(req.params.mac);
    const job = power.job(mac);
    if (!job) throw new ImgsrvError('NOT_FOUND', `no re-image-now of ${mac} since the server started`);
    return job;
  });
};
