/** Deployment: the swarm at a glance, the peer-to-peer effect in a chart and per-node completion. */
import { useMemo } from 'preact/hooks';
import { api } from '../api.ts';
import { bytes, rate } from '../format.ts';
import type { LiveState } from '../live.ts';
import type { NodeView, SwarmSample } from '../types.ts';
import { ErrorText, PhaseBadge, Progress, useLoad } from '../ui.tsx';
import { SwarmChart } from './swarm-chart.tsx';

const AFTER_DOWNLOAD = new Set(['restoring', 'personalising', 'seeding', 'rebooting', 'done']);

/** How much of the image a node has: its swarm progress, or all of it once it is past downloading. */
function completion(n: NodeView): number | null {
  if (AFTER_DOWNLOAD.has(n.phase)) return 1;
  if (n.swarm) return n.swarm.progress;
  return n.phase === 'booted' || n.phase === 'downloading' ? 0 : null;
}

export function DeploymentView({ live }: { live: LiveState }) {
  const history = useLoad(() => api<{ samples: SwarmSample[] }>('GET', '/swarm/history'));
  const samples = useMemo(() => {
    const h = history.data?.samples ?? [];
    const lastAt = h.length ? h[h.length - 1]!.at : -Infinity;
    return [...h, ...live.samples.filter((s) => s.at > lastAt)];
  }, [history.data, live.samples]);
  const last = samples[samples.length - 1];
  const total = last ? last.server + last.peers : 0;
  const nodes = (live.nodes ?? []).filter((n) => !n.retired);
  const swarms = live.swarm?.swarms ?? [];

  return (
    <>
      <ErrorText error={history.error} />
      <section class="card" aria-labelledby="p2p-title">
        <h2 id="p2p-title">Server vs peers</h2>
        <dl class="totals">
          <div>
            <dt>Served by the server</dt>
            <dd>{bytes(last?.server ?? 0)}</dd>
          </div>
          <div>
            <dt>Served by peers</dt>
            <dd>{bytes(last?.peers ?? 0)}</dd>
          </div>
          <div>
            <dt>Peer share</dt>
            <dd>{total > 0 ? `${(((last?.peers ?? 0) / total) * 100).toFixed(1)}%` : '–'}</dd>
          </div>
        </dl>
        <SwarmChart samples={samples} />
      </section>
      {swarms.length > 0 && (
        <section class="card" aria-labelledby="swarms-title">
          <h2 id="swarms-title">Swarms</h2>
          <ul class="swarms">
            {swarms.map((s) => (
              <li key={s.infoHash}>
                <strong class="mono">
                  {s.image}@{s.version}
                </strong>{' '}
                {bytes(s.length)} · {s.seeders} seeding · {s.leechers} downloading · server ↑ {rate(s.server.uploadSpeed)} to {s.server.peers} peer
                {s.server.peers === 1 ? '' : 's'}
                {s.done && <span class="badge phase-done">done</span>}
              </li>
            ))}
          </ul>
        </section>
      )}
      <section class="card" aria-labelledby="completion-title">
        <h2 id="completion-title">Per-node completion</h2>
        {nodes.length === 0 ? (
          <p class="muted">No nodes yet.</p>
        ) : (
          <ul class="completion">
            {nodes.map((n) => {
              const c = completion(n);
              const name = n.hostname ?? n.mac;
              return (
                <li key={n.mac} data-mac={n.mac}>
                  <span class="completion-name mono">{name}</span>
                  {c === null ? <span class="muted">–</span> : <Progress value={c} label={`Image received by ${name}`} />}
                  <PhaseBadge phase={n.phase} />
                  {n.swarm && <span class="muted small-text">↓ {rate(n.swarm.downloadSpeed)} ↑ {rate(n.swarm.uploadSpeed)}</span>}
                </li>
              );
            })}
          </ul>
        )}
      </section>
    </>
  );
}
