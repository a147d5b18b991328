/** Nodes: every node that network-booted, live, with hostname pre-assignment, groups, retry and retire. */
import { useState } from 'preact/hooks';
import { NODE_PHASES } from '../../../../../contract/report.ts';
import { api, seg } from '../api.ts';
import { ago } from '../format.ts';
import type { LiveState } from '../live.ts';
import type { Group, NodeView, Phase } from '../types.ts';
import { ConfirmDialog, ErrorText, useAction, useLoad } from '../ui.tsx';
import { NodeRow } from './node-row.tsx';

const PHASE_ORDER: readonly Phase[] = NODE_PHASES;

function Summary({ nodes }: { nodes: NodeView[] }) {
  const counts = PHASE_ORDER.map((p) => [p, nodes.filter((n) => n.phase === p).length] as const).filter(([, c]) => c > 0);
  return (
    <ul class="summary" aria-label="Nodes by phase">
      <li>
        <strong>{nodes.length}</strong> node{nodes.length === 1 ? '' : 's'}
      </li>
      {counts.map(([p, c]) => (
        <li key={p}>
          <span class={`badge phase-${p}`}>{p}</span> {c}
        </li>
      ))}
    </ul>
  );
}

function PreassignForm({ run }: { run: ReturnType<typeof useAction>['run'] }) {
  const [mac, setMac] = useState('');
  const [hostname, setHostname] = useState('');
  const submit = async (e: Event) => {
    e.preventDefault();
    const ok = await run(() => api('PUT', `/nodes/${seg(mac.trim())}`, { hostname: hostname.trim() }));
    if (ok !== undefined) (setMac(''), setHostname(''));
  };
  return (
    <details class="card">
      <summary>Pre-assign a hostname to a node that has not booted yet</summary>
      <form class="row-form" onSubmit={submit}>
        <div class="field">
          <label for="pre-mac">MAC address</label>
          <input id="pre-mac" required value={mac} placeholder="aa:bb:cc:dd:ee:ff" onInput={(e) => setMac(e.currentTarget.value)} spellcheck={false} />
        </div>
        <div class="field">
          <label for="pre-hostname">Hostname</label>
          <input id="pre-hostname" required value={hostname} onInput={(e) => setHostname(e.currentTarget.value)} spellcheck={false} />
        </div>
        <button type="submit">Assign</button>
      </form>
    </details>
  );
}

export function NodesView({ live }: { live: LiveState }) {
  const action = useAction();
  const groups = useLoad(() => api<Group[]>('GET', '/groups'));
  const [retiring, setRetiring] = useState<NodeView | null>(null);
  const [wipe, setWipe] = useState(false);
  const nodes = live.nodes;

  const confirmRetire = async () => {
    const node = retiring;
    setRetiring(null);
    if (node) await action.run(() => api('POST', `/nodes/${seg(node.mac)}/retire`, { wipe }));
  };

  return (
    <>
      <ErrorText error={action.error ?? groups.error} />
      {nodes === null ? (
        <p class="muted">Waiting for the live feed…</p>
      ) : nodes.length === 0 ? (
        <p class="empty">No node has booted from the network yet. Power on a blank node on the imaging network and it appears here.</p>
      ) : (
        <>
          <Summary nodes={nodes} />
          <div class="table-wrap" role="region" aria-label="Nodes table" tabIndex={0}>
            <table class="nodes">
              <thead>
                <tr>
                  <th scope="col">MAC</th>
                  <th scope="col">Firmware</th>
                  <th scope="col">IP</th>
                  <th scope="col">Hostname</th>
                  <th scope="col">Group</th>
                  <th scope="col">Image</th>
                  <th scope="col">Phase</th>
                  <th scope="col">Progress</th>
                  <th scope="col">
                    <span class="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {nodes.map((n) => (
                  <NodeRow key={n.mac} node={n} groups={groups.data ?? []} images={live.images ?? []} actions={{ run: action.run, retire: (node) => (setWipe(false), setRetiring(node)) }} />
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
      <PreassignForm run={action.run} />
      {live.events.length > 0 && (
        <section class="card">
          <h2>Recent events</h2>
          <ol class="events">
            {live.events.slice(0, 12).map((e) => (
              <li key={e.id}>
                <span class="muted">{ago(e.at)}</span> {e.mac && <span class="mono">{e.mac}</span>} {e.message}
              </li>
            ))}
          </ol>
        </section>
      )}
      {retiring && (
        <ConfirmDialog open title={`Retire ${retiring.hostname ?? retiring.mac}?`} confirmLabel="Retire" onConfirm={confirmRetire} onCancel={() => setRetiring(null)}>
          <p>The node leaves the inventory and gets no image at its next network boot.</p>
          <label class="check">
            <input type="checkbox" checked={wipe} onChange={(e) => setWipe(e.currentTarget.checked)} />
            Wipe its disk at next boot
          </label>
        </ConfirmDialog>
      )}
    </>
  );
}
