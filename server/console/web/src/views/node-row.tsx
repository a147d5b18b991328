/** One row of the nodes table: selection, identity, inline hostname, group, image, phase, progress, error and actions. */
import { memo } from 'preact/compat';
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, seg } from '../api.ts';
import { ago, bytes, dateTime, rate } from '../format.ts';
import type { NodeView } from '../types.ts';
import { PhaseBadge, Progress } from '../ui.tsx';

/** Callbacks a row needs from the view (which owns the action error and the retire dialog). */
export interface RowActions {
  run: <T>(fn: () => Promise<T>) => Promise<T | undefined>;
  retire: (node: NodeView) => void;
}

// Once the node personalises, the hostname is written to its disk: changing it here would be a lie.
const LOCKED = new Set(['personalising', 'seeding', 'rebooting', 'done', 'retired']);

/** Whether the hostname can still be (pre-)assigned. */
export const hostnameEditable = (n: NodeView): boolean => n.install !== 'installed' && !LOCKED.has(n.phase);

/** The node's progress as 0..1 plus a short detail, or null when no transfer is under way. */
export function nodeProgress(n: NodeView): { value: number; label: string; detail: string } | null {
  if (n.phase === 'downloading' && n.swarm) {
    const s = n.swarm;
    return { value: s.progress, label: 'Download', detail: `${rate(s.downloadSpeed)} · ${s.peers} peer${s.peers === 1 ? '' : 's'}` };
  }
  if (n.phase === 'restoring' && n.restore) {
    const r = n.restore;
    return { value: r.total > 0 ? r.written / r.total : 0, label: 'Restore', detail: `${bytes(r.written)} of ${bytes(r.total)}` };
  }
  if (n.phase === 'seeding' || n.phase === 'rebooting' || n.phase === 'done') {
    const s = n.swarm;
    return { value: 1, label: n.phase === 'seeding' ? 'Seeding' : n.phase === 'rebooting' ? 'Rebooting' : 'Done', detail: s ? `↑ ${rate(s.uploadSpeed)} · ${s.peers} peer${s.peers === 1 ? '' : 's'}` : '' };
  }
  return null;
}

function HostnameCell({ node, run }: { node: NodeView; run: RowActions['run'] }) {
  const [editing, setEditing] = useState(false);
  const [value, setValue] = useState(node.hostname ?? '');
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => {
    if (editing) input.current?.focus();
  }, [editing]);
  const id = `hostname-${node.mac.replace(/:/g, '')}`;

  if (!editing) {
    return (
      <span class="hostname">
        <span>{node.hostname ?? <span class="muted">unassigned</span>}</span>
        {hostnameEditable(node) && (
          <button
            type="button"
            class="small"
            aria-label={`Edit hostname of ${node.mac}`}
            onClick={() => (setValue(node.hostname ?? ''), setEditing(true))}
          >
            Edit
          </button>
        )}
      </span>
    );
  }
  const save = async (e: Event) => {
    e.preventDefault();
    const hostname = value.trim() === '' ? null : value.trim();
    const ok = await run(() => api('PUT', `/nodes/${seg(node.mac)}`, { hostname }));
    if (ok !== undefined) setEditing(false);
  };
  return (
    <form class="inline-edit" onSubmit={save} onKeyDown={(e) => e.key === 'Escape' && setEditing(false)}>
      <label for={id} class="visually-hidden">
        Hostname of {node.mac}
      </label>
      <input id={id} ref={input} value={value} onInput={(e) => setValue(e.currentTarget.value)} size={14} autocomplete="off" spellcheck={false} />
      <button type="submit" class="small primary">
        Save
      </button>
      <button type="button" class="small" onClick={() => setEditing(false)}>
        Cancel
      </button>
    </form>
  );
}

/** The image cell: the override (or "default") and what the node installs or installed. */
function ImageCell({ node }: { node: NodeView }) {
  return (
    <>
      {node.image ?? <span class="muted">default</span>}
      {node.installedImage && (
        // The server records the version a plan handed out; whether it is on the disk yet is the install state.
        <div class="muted small-text">{node.install === 'installed' ? `installed ${node.installedImage}` : `${node.install}: ${node.installedImage}`}</div>
      )}
    </>
  );
}

interface NodeRowProps {
  node: NodeView;
  selected: boolean;
  onSelect: (mac: string, on: boolean) => void;
  actions: RowActions;
}

/** One node; group and image change through the selection's bulk actions (one dropdown per row did not scale to a thousand nodes). */
function NodeRowView({ node, selected, onSelect, actions }: NodeRowProps) {
  const p = nodeProgress(node);
  return (
    <tr data-mac={node.mac} data-phase={node.phase} class={selected ? 'selected' : undefined}>
      <td class="select-cell">
        <input type="checkbox" checked={selected} aria-label={`Select ${node.mac}`} onChange={(e) => onSelect(node.mac, e.currentTarget.checked)} />
      </td>
      <td class="mono">{node.mac}</td>
      <td>{node.firmware ?? '–'}</td>
      <td class="mono">{node.ip ?? '–'}</td>
      <td>
        <HostnameCell node={node} run={actions.run} />
      </td>
      <td class="group">{node.group ?? <span class="muted">–</span>}</td>
      <td class="image">
        <ImageCell node={node} />
      </td>
      <td>
        <PhaseBadge phase={node.phase} />
        <div class="muted small-text" title={dateTime(node.lastSeen)}>
          {ago(node.lastSeen)}
        </div>
      </td>
      <td class="progress-cell">
        {p ? (
          <>
            <Progress value={p.value} label={`${p.label} progress of ${node.hostname ?? node.mac}`} />
            <div class="muted small-text">{p.detail}</div>
          </>
        ) : (
          <span class="muted">–</span>
        )}
        {node.error && (node.phase === 'failed' || node.install === 'failed') && <pre class="node-error">{node.error}</pre>}
      </td>
      <td class="actions-cell">
        {node.phase === 'failed' && (
          <button type="button" class="small primary" onClick={() => void actions.run(() => api('POST', `/nodes/${seg(node.mac)}/reimage`, {}))}>
            Retry<span class="visually-hidden"> {node.mac}</span>
          </button>
        )}
        {!node.retired && (
          <button type="button" class="small danger" onClick={() => actions.retire(node)}>
            Retire<span class="visually-hidden"> {node.mac}</span>
          </button>
        )}
      </td>
    </tr>
  );
}

/**
 * A row draws again only when its node or its selection changed: the live feed
 * keeps the objects of unchanged nodes, so a report redraws one row of a
 * thousand. (The callbacks only call state setters, which never change.)
 */
export const NodeRow = memo(NodeRowView, (a, b) => a.node === b.node && a.selected === b.selected);
