/**
 * Authentication. The CLI and scripts send the admin token as a bearer
 * token; the console signs in once and then sends its session cookie, plus
 * the session's CSRF token in `x-csrf-token` on every write (the cookie alone
 * never authorises a change, so another site can't make a browser do one).
 * A booting node's token may only report and read its plan.
 */
import type { FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';
import type { Store } from '../store/db.ts';
import { safeEqual } from '../store/sessions.ts';
import type { TokenScope } from '../store/tokens.ts';

/** The console's session cookie. */
export const SESSION_COOKIE = 'imgsrv_session';
/** Methods that change nothing, so need no CSRF token. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Extract the token from `Authorization: Bearer …`. */
export function bearerToken(req: FastifyRequest): string | undefined {
  const h = req.headers.authorization;
  if (!h) return undefined;
  const m = /^Bearer\s+(\S+)$/i.exec(h);
  return m?.[1];
}

/** The session cookie's value, if the request carries one. */
export function sessionCookie(req: FastifyRequest): string | undefined {
  return (req as FastifyRequest & { cookies?: Record<string, string | undefined> }).cookies?.[SESSION_COOKIE] || undefined;
}

type Verdict = 'ok' | 'unauthenticated' | 'csrf';

function check(store: Store, scopes: readonly TokenScope[], req: FastifyRequest): Verdict {
  const token = bearerToken(req);
  if (token !== undefined) return scopes.some((s) => store.tokens.verify(s, token)) ? 'ok' : 'unauthenticated';
  const cookie = sessionCookie(req);
  if (cookie === undefined || !scopes.includes('admin')) return 'unauthenticated';
  const session = store.sessions.get(cookie);
  if (!session) return 'unauthenticated';
  if (SAFE_METHODS.has(req.method)) return 'ok';
  const sent = req.headers['x-csrf-token'];
  return typeof sent === 'string' && safeEqual(sent, session.csrfToken) ? 'ok' : 'csrf';
}

/**
 * An onRequest hook (before body parsing and validation) that admits a request
 * carrying a token of one of `scopes`, or, where admin is allowed, a console
 * session (with its CSRF token on writes).
 */
export function requireAuth(store: Store, scopes: readonly TokenScope[]): onRequestHookHandler {
  return (req: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void) => {
    const verdict = check(store, scopes, req);
    if (verdict === 'ok') return done();
    req.log.warn({ route: req.routeOptions.url, verdict, hasToken: req.headers.authorization !== undefined }, 'request refused');
    if (verdict === 'csrf') {
      void reply.code(403).send({ error: 'CSRF', message: 'missing or wrong x-csrf-token header: reload the console and try again' });
      return;
    }
    void reply
      .code(401)
      .header('www-authenticate', 'Bearer realm="imgsrv"')
      .send({ error: 'UNAUTHORIZED', message: 'not signed in: sign in to the console, or pass the admin token as "Authorization: Bearer <token>" (see <data>/admin.token)' });
  };
}
