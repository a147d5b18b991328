/**
 * Patch: the WebTorrent client's TCP listener bound to one address.
 *
 * What it changes: for the span of `new WebTorrent()` only, a port-only
 * `net.Server.prototype.listen(port[, cb])` is turned into
 * `listen(port, address[, cb])`; the prototype is restored before the
 * constructor returns.
 *
 * Why: webtorrent has no host option. Its constructor creates a ConnPool
 * (webtorrent index.js) whose constructor calls `tcpServer.listen(port, cb)`
 * synchronously (lib/conn-pool.js), which listens on every interface of the
 * machine; a netboot server must keep BitTorrent on the netboot network.
 * Nothing else can run during the synchronous constructor, so no other
 * server is affected.
 *
 * Private parts relied on: that ConnPool is built synchronously inside the
 * constructor and listens with a port-only call (no members are named).
 */
import net from 'node:net';
import WebTorrent from 'webtorrent';
import { isolatedOptions, type BoundClientOptions } from '../client.ts';

/** A WebTorrent client (options from isolatedOptions) whose TCP listener is bound to `o.address`; resolves once listening. */
export function createBoundClient(o: BoundClientOptions): Promise<WebTorrent> {
  const original = net.Server.prototype.listen;
  let client: WebTorrent;
  net.Server.prototype.listen = function boundListen(this: net.Server, ...args: unknown[]) {
    if (typeof args[0] === 'number' && (args.length === 1 || typeof args[1] === 'function')) {
      return (original as (...a: unknown[]) => net.Server).call(this, args[0], o.address, ...args.slice(1));
    }
    return (original as (...a: unknown[]) => net.Server).apply(this, args);
  } as typeof original;
  try {
    client = new WebTorrent(isolatedOptions(o));
  } finally {
    net.Server.prototype.listen = original;
  }
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => {
      // A listen error (EADDRINUSE) has already destroyed the client; destroying again throws.
      if (!client.destroyed) client.destroy();
      reject(err);
    };
    client.once('error', onError);
    client.once('listening', () => {
      client.removeListener('error', onError);
      resolve(client);
    });
  });
}
