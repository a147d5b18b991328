/**
 * Nodes: every node that network-booted, live. Built for a thousand and more:
 * filter (phase, group, image, text), sort by any column, select rows and act
 * on the selection (group, image, re-image, retire); the table draws the first
 * PAGE rows that match and more on request.
 */
import { useMemo, useState } from 'preact/hooks';
import { NODE_PHASES } from '../../../../../contract/report.ts';
import { api, seg } from '../api.ts';
import { ago } from '../format.ts';
import type { LiveState } from '../live.ts';
import type { Group, NodeView, Phase } from '../types.ts';
import { ConfirmDialog, ErrorText, useAction, useLoad } from '../ui.tsx';
import { NodeRow } from './node-row.tsx';
import { BulkBar } from './node-bulk.tsx';
import { filterNodes, NO_FILTER, sortNodes, type NodeFilter, type NodeSort, type SortKey } from './node-filter.ts';

/** Rows drawn at first (and added per "Show more"). */
const PAGE = 250;

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

function FilterBar({ filter, set, groups, images }: { filter: NodeFilter; set: (f: NodeFilter) => void; groups: string[]; images: string[] }) {
  return (
    <form class="row-form filter-bar" role="search" aria-label="Filter nodes" onSubmit={(e) => e.preventDefault()}>
      <div class="field">
        <label for="filter-text">Search nodes</label>
        <input id="filter-text" type="search" value={filter.text} placeholder="MAC, IP, hostname, error…" onInput={(e) => set({ ...filter, text: e.currentTarget.value })} spellcheck={false} />
      </div>
      <div class="field">
        <label for="filter-phase">Phase</label>
        <select id="filter-phase" value={filter.phase} onChange={(e) => set({ ...filter, phase: e.currentTarget.value as Phase | '' })}>
          <option value="">any</option>
          {PHASE_ORDER.map((p) => (
            <option key={p} value={p}>
              {p}
            </option>
          ))}
        </select>
      </div>
      <div class="field">
        <label for="filter-group">Group</label>
        <select id="filter-group" value={filter.group} onChange={(e) => set({ ...filter, group: e.currentTarget.value })}>
          <option value="">any</option>
          <option value="-">(none)</option>
          {groups.map((g) => (
            <option key={g} value={g}>
              {g}
            </option>
          ))}
        </select>
      </div>
      <div class="field">
        <label for="filter-image">Image</label>
        <select id="filter-image" value={filter.image} onChange={(e) => set({ ...filter, image: e.currentTarget.value })}>
          <option value="">any</option>
          {images.map((i) => (
            <option key={i} value={i}>
              {i}
            </option>
          ))}
        </select>
      </div>
      {(filter.text || filter.phase || filter.group || filter.image) && (
        <button type="button" class="small" onClick={() => set(NO_FILTER)}>
          Clear filter
        </button>
      )}
    </form>
  );
}

const COLUMNS: Array<[SortKey, string]> = [
  ['mac', 'MAC'],
  ['firmware', 'Firmware'],
  ['ip', 'IP'],
  ['hostname', 'Hostname'],
  ['group', 'Group'],
  ['image', 'Image'],
  ['phase', 'Phase'],
  ['progress', 'Progress'],
];

/** A column header that sorts by its column (again: the other way). */
function SortHeader({ col, label, sort, set }: { col: SortKey; label: string; sort: NodeSort; set: (s: NodeSort) => void }) {
  const on = sort.key === col;
  return (
    <th scope="col" aria-sort={on ? (sort.dir === 'asc' ? 'ascending' : 'descending') : 'none'}>
      <button type="button" class="sort" onClick={() => set({ key: col, dir: on && sort.dir === 'asc' ? 'desc' : 'asc' })}>
        {label}
        <span aria-hidden="true">{on ? (sort.dir === 'asc' ? ' ▲' : ' ▼') : ''}</span>
        <span class="visually-hidden">, sort</span>
      </button>
    </th>
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
  const [filter, setFilter] = useState<NodeFilter>(NO_FILTER);
  const [sort, setSort] = useState<NodeSort>({ key: 'mac', dir: 'asc' });
  const [selected, setSelected] = useState<ReadonlySet<string>>(new Set());
  const [limit, setLimit] = useState(PAGE);
  const nodes = live.nodes;

  const shown = useMemo(() => (nodes ? sortNodes(filterNodes(nodes, filter), sort) : []), [nodes, filter, sort]);
  // Filter choices from what the nodes have (and every group, empty ones too).
  const groupNames = useMemo(() => [...new Set([...(groups.data ?? []).map((g) => g.name), ...(nodes ?? []).flatMap((n) => (n.group ? [n.group] : []))])].sort(), [groups.data, nodes]);
  const imageRefs = useMemo(() => [...new Set((nodes ?? []).flatMap((n) => [n.image, n.installedImage].filter((i): i is string => Boolean(i))))].sort(), [nodes]);
  // The selection keeps only nodes still in the list; those the filter hides stay selected, and are counted.
  const selectedMacs = useMemo(() => (nodes ?? []).filter((n) => selected.has(n.mac)).map((n) => n.mac), [nodes, selected]);
  const shownSelected = useMemo(() => shown.filter((n) => selected.has(n.mac)).length, [shown, selected]);
  const allShownSelected = shown.length > 0 && shownSelected === shown.length;

  const select = (mac: string, on: boolean) =>
    setSelected((s) => {
      const next = new Set(s);
      if (on) next.add(mac);
      else next.delete(mac);
      return next;
    });
  const selectShown = (on: boolean) =>
    setSelected((s) => {
      const next = new Set(s);
      for (const n of shown) on ? next.add(n.mac) : next.delete(n.mac);
      return next;
    });
  const changeFilter = (f: NodeFilter) => (setFilter(f), setLimit(PAGE));

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
          <FilterBar filter={filter} set={changeFilter} groups={groupNames} images={imageRefs} />
          {selectedMacs.length > 0 && (
            <BulkBar
              macs={selectedMacs}
              hidden={selectedMacs.length - shownSelected}
              groups={groups.data ?? []}
              images={live.images ?? []}
              run={action.run}
              onClear={() => setSelected(new Set())}
            />
          )}
          <p class="muted match-count" aria-live="polite">
            {shown.length === nodes.length ? `${nodes.length} nodes` : `${shown.length} of ${nodes.length} nodes match`}
          </p>
          <div class="table-wrap" role="region" aria-label="Nodes table" tabIndex={0}>
            <table class="nodes">
              <thead>
                <tr>
                  <th scope="col" class="select-cell">
                    <input type="checkbox" checked={allShownSelected} aria-label={`Select all ${shown.length} matching nodes`} onChange={(e) => selectShown(e.currentTarget.checked)} />
                  </th>
                  {COLUMNS.map(([col, label]) => (
                    <SortHeader key={col} col={col} label={label} sort={sort} set={setSort} />
                  ))}
                  <th scope="col">
                    <span class="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {shown.slice(0, limit).map((n) => (
                  <NodeRow key={n.mac} node={n} selected={selected.has(n.mac)} onSelect={select} actions={{ run: action.run, retire: (node) => (setWipe(false), setRetiring(node)) }} />
                ))}
              </tbody>
            </table>
          </div>
          {shown.length > limit && (
            <p class="actions">
              <button type="button" onClick={() => setLimit(limit + PAGE)}>
                Show {Math.min(PAGE, shown.length - limit)} more
              </button>
              <button type="button" onClick={() => setLimit(shown.length)}>
                Show all {shown.length}
              </button>
            </p>
          )}
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
