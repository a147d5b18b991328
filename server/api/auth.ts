/**
 * Authentication. The CLI and scripts send the admin token as a bearer
 * token; the console signs in once and then sends its session cookie, plus
 * the session's CSRF token in `x-csrf-token` on every write (the cookie alone
 * never authorises a change, so another site can't make a browser do one).
 * A booting node's token (node-identity.ts) names the one MAC it may speak
 * for: a route acting for a node checks it with `requireSelf`.
 */
import type { FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';
import { ImgsrvError } from '../../core/errors.ts';
import type { Store } from '../store/db.ts';
import { safeEqual } from '../store/sessions.ts';
import type { TokenScope } from '../store/tokens.ts';
import { looksLikeNodeToken, type NodeIdentity } from '../node-identity.ts';
import { isLoopback, plainAddress } from '../boot-source.ts';

/** What authentication checks against: the store (admin token, sessions, leases) and the node key. */
export interface Auth {
  store: Store;
  nodes: NodeIdentity;
}

/** The node a request's token speaks for (set by the hook; absent for an admin). */
const nodeOf = new WeakMap<FastifyRequest, string>();

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

function check({ store, nodes }: Auth, scopes: readonly TokenScope[], req: FastifyRequest): Verdict {
  const token = bearerToken(req);
  if (token !== undefined) {
    if (looksLikeNodeToken(token)) {
      const mac = scopes.includes('node') ? nodes.macOf(token) : undefined;
      if (mac === undefined) return 'unauthenticated';
      nodeOf.set(req, mac);
      return 'ok';
    }
    return scopes.includes('admin') && store.tokens.verify('admin', token) ? 'ok' : 'unauthenticated';
  }
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
export function requireAuth(auth: Auth, scopes: readonly TokenScope[]): onRequestHookHandler {
  return (req: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void) => {
    const verdict = check(auth, scopes, req);
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

/** The MAC a request's node token speaks for; undefined for an admin (token or session). */
export function authenticatedNode(req: FastifyRequest): string | undefined {
  return nodeOf.get(req);
}

/**
 * For a route that acts for node `mac`: an admin may act for any node; a
 * node only for itself, and, when it holds one of our leases, only from
 * that lease's address or the static address assigned to it (so a copied
 * token is no use from elsewhere on the
 * network). FORBIDDEN otherwise.
 */
export function requireSelf(auth: Auth, req: FastifyRequest, mac: string, now = Date.now()): void {
  const own = nodeOf.get(req);
  if (own === undefined) return;
  if (own !== mac) throw new ImgsrvError('FORBIDDEN', `this token is node ${own}'s: a node may speak only for itself, not for ${mac}`);
  const lease = auth.store.leases.byMac(mac);
  const from = plainAddress(req.ip);
  if (lease && lease.state === 'bound' && lease.expiresAt > now && from !== lease.ip && !isLoopback(from)) {
    // The restored system of a node the operator gave a static address speaks from that address
    // while the lease of its netboot environment still runs.
    const assigned = auth.store.nodes.get(mac)?.network?.address.split('/')[0];
    if (from === assigned) return;
    throw new ImgsrvError('FORBIDDEN', `node ${mac} holds the lease for ${lease.ip}, but this request came from ${from}`, {
      hint: 'a node speaks from its own leased address (or the static address assigned to it)',
    });
  }
}
