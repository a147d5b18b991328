/**
 * Bearer-token authentication. Every mutating route needs the admin token;
 * a booting node's report accepts the node token, which can do nothing else.
 */
import type { FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';
import type { TokenRepo, TokenScope } from '../store/tokens.ts';

/** Extract the token from `Authorization: Bearer …`. */
export function bearerToken(req: FastifyRequest): string | undefined {
  const h = req.headers.authorization;
  if (!h) return undefined;
  const m = /^Bearer\s+(\S+)$/i.exec(h);
  return m?.[1];
}

/** An onRequest hook (before body parsing and validation) that admits a request carrying a token of one of `scopes`. */
export function requireToken(tokens: TokenRepo, scopes: readonly TokenScope[]): onRequestHookHandler {
  return (req: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void) => {
    const token = bearerToken(req);
    if (token !== undefined && scopes.some((s) => tokens.verify(s, token))) return done();
    req.log.warn({ route: req.routeOptions.url, hasToken: token !== undefined }, 'unauthenticated request refused');
    void reply
      .code(401)
      .header('www-authenticate', 'Bearer realm="imgsrv"')
      .send({ error: 'UNAUTHORIZED', message: 'missing or wrong token: pass the admin token as "Authorization: Bearer <token>" (see <data>/admin.token)' });
  };
}
