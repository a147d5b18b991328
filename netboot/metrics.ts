/** Prometheus counters for the netboot services, registered once per registry. */
import { Counter, type Registry } from 'prom-client';

/**
 * The counter `name` on `registry`, created on first use: a restarted service
 * (tests, reload) reuses it instead of failing on a duplicate name. Without a
 * registry the counter counts but is exported nowhere.
 */
export function counter(registry: Registry | undefined, name: string, help: string, labelNames: string[] = []): Counter<string> {
  const existing = registry?.getSingleMetric(name);
  if (existing) return existing as Counter<string>;
  return new Counter({ name, help, labelNames, registers: registry ? [registry] : [] });
}
