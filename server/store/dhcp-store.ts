/**
 * How the DHCP service uses the state store (wired by server/serve.ts): the
 * lease table, the node inventory fed by each client's packets, and one
 * transaction per batch of packets, so a lease is committed before the OFFER
 * or ACK that announces it leaves the server.
 */
import type { DhcpServerOptions } from '../../netboot/dhcp/server.ts';
import type { Store } from './db.ts';
import { inTransaction } from './transaction.ts';

/** The store-facing DHCP server options. */
export function dhcpStoreOptions(store: Store): Required<Pick<DhcpServerOptions, 'leases' | 'transaction' | 'onClient'>> {
  return {
    leases: store.leases,
    transaction: (fn) => inTransaction(store.db, fn),
    onClient: (ev) => {
      const { created } = store.nodes.sight({ mac: ev.mac, arch: ev.arch, firmware: ev.firmware, ip: ev.ip });
      if (created) store.events.add('node.discovered', `first seen (${ev.message}, ${ev.firmware ?? 'unknown firmware'})`, { mac: ev.mac, data: ev });
    },
  };
}
