/**
 * Console sign-in: POST /session with the admin password (or the admin
 * token) sets an HttpOnly, SameSite=Strict session cookie and returns the
 * session's CSRF token; DELETE /session signs out. Sign-in attempts are
 * rate-limited per client address.
 */
import rateLimit from '@fastify/rate-limit';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { ImgsrvError } from '../../../core/errors.ts';
import type { Store } from '../../store/db.ts';
import { requireAuth, type Auth, SESSION_COOKIE, sessionCookie } from '../auth.ts';
import { checkAdminCredential, setAdminPassword } from '../password.ts';

/** Session options. */
export interface SessionOptions {
  auth: Auth;
  store: Store;
  /** How long a session lasts (default 12 h). */
  ttlMs?: number;
  /** Sign-in attempts per address per minute (default 5). */
  attemptsPerMinute?: number;
}

const sessionView = (s: { csrfToken: string; expiresAt: number }) => ({ user: 'admin', csrfToken: s.csrfToken, expiresAt: s.expiresAt });

export const sessionRoutes: FastifyPluginAsync<SessionOptions> = async (app, opts) => {
  const { store } = opts;
  const ttlMs = opts.ttlMs ?? 12 * 3600_000;
  await app.register(rateLimit, { global: false });
  const admin = requireAuth(opts.auth, ['admin']);
  const clearCookie = (reply: FastifyReply) => reply.clearCookie(SESSION_COOKIE, { path: '/', httpOnly: true, sameSite: 'strict' });

  app.post<{ Body: { user?: string; password: string } }>(
    '/session',
    {
      config: {
        rateLimit: {
          max: opts.attemptsPerMinute ?? 5,
          timeWindow: 60_000,
          errorResponseBuilder: (_req: FastifyRequest, ctx: { after: string }) => ({
            statusCode: 429,
            error: 'RATE_LIMITED',
            message: `too many sign-in attempts: try again in ${ctx.after}`,
          }),
        },
      },
      schema: {
        summary: 'Sign in to the console',
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['password'],
          properties: { user: { type: 'string', enum: ['admin'] }, password: { type: 'string', minLength: 1, maxLength: 1024 } },
        },
      },
    },
    async (req, reply) => {
      if (!(await checkAdminCredential(store, req.body.password))) {
        store.events.add('auth.failed', `failed sign-in from ${req.ip}`, {});
        throw new ImgsrvError('UNAUTHORIZED', 'wrong password', { hint: 'use the admin password (`imgsrv admin password`) or the admin token in <data>/admin.token' });
      }
      const { id, session } = store.sessions.create(ttlMs, req.ip);
      store.events.add('auth.signin', `signed in from ${req.ip}`, {});
      void reply.setCookie(SESSION_COOKIE, id, {
        path: '/',
        httpOnly: true,
        sameSite: 'strict',
        secure: req.protocol === 'https',
        maxAge: Math.floor(ttlMs / 1000),
      });
      return sessionView(session);
    },
  );

  app.get('/session', { schema: { summary: 'The current console session' } }, async (req) => {
    const cookie = sessionCookie(req);
    const session = cookie ? store.sessions.get(cookie) : undefined;
    if (!session) throw new ImgsrvError('UNAUTHORIZED', 'not signed in', { hint: 'POST /api/v1/session with the admin password' });
    return sessionView(session);
  });

  app.delete('/session', { onRequest: admin, schema: { summary: 'Sign out' } }, async (req, reply) => {
    const cookie = sessionCookie(req);
    if (cookie) store.sessions.remove(cookie);
    clearCookie(reply);
    return reply.code(204).send();
  });

  app.put<{ Body: { password: string } }>(
    '/admin/password',
    {
      onRequest: admin,
      schema: {
        summary: 'Set the admin password (ends every console session)',
        body: { type: 'object', additionalProperties: false, required: ['password'], properties: { password: { type: 'string', minLength: 8, maxLength: 1024 } } },
      },
    },
    async (_req, reply) => {
      await setAdminPassword(store, _req.body.password);
      store.sessions.clear();
      store.events.add('auth.password', 'admin password changed; every console session ended', {});
      return reply.code(204).send();
    },
  );
};
