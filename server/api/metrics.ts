/** Prometheus metrics: one registry per server, shared by every subsystem. */
import { Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { Store } from '../store/db.ts';

/** Create the registry with process metrics and inventory gauges read from the store at scrape time. */
export function createRegistry(store?: Store): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'imgsrv_' });
  if (store) {
    new Gauge({
      name: 'imgsrv_nodes',
      help: 'Nodes in the inventory by phase',
      labelNames: ['phase'],
      registers: [registry],
      collect() {
        this.reset();
        for (const n of store.nodes.list()) this.inc({ phase: n.phase });
      },
    });
    new Gauge({
      name: 'imgsrv_dhcp_leases',
      help: 'DHCP leases in the store by state',
      labelNames: ['state'],
      registers: [registry],
      collect() {
        this.reset();
        for (const l of store.leases.all()) this.inc({ state: l.state });
      },
    });
  }
  return registry;
}
