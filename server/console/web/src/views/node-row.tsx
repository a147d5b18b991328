/** One row of the nodes table: identity, inline hostname, group, phase, progress, error and actions. */
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, seg } from '../api.ts';
import { ago, bytes, rate } from '../format.ts';
import type { Group, ImageSummary, NodeView } from '../types.ts';
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

/** The per-node image override: default (the group's, else the sample image), NAME (latest) or NAME@V. */
function ImageSelect({ node, images, run }: { node: NodeView; images: ImageSummary[]; run: RowActions['run'] }) {
  const id = `image-${node.mac.replace(/:/g, '')}`;
  const names = [...new Set(images.map((i) => i.name))];
  const refs = [...names, ...images.map((i) => `${i.name}@${i.version}`)];
  return (
    <>
      <label for={id} class="visually-hidden">
        Image of {node.mac}
      </label>
      <select id={id} value={node.image ?? ''} onChange={(e) => void run(() => api('PUT', `/nodes/${seg(node.mac)}`, { image: e.currentTarget.value || null }))}>
        <option value="">default</option>
        {names.map((n) => (
          <option key={n} value={n}>
            {n} (latest)
          </option>
        ))}
        {images.map((i) => (
          <option key={`${i.name}@${i.version}`} value={`${i.name}@${i.version}`}>
            {i.name}@{i.version}
          </option>
        ))}
        {node.image && !refs.includes(node.image) && <option value={node.image}>{node.image}</option>}
      </select>
      {node.installedImage && (
        // The server records the version a plan handed out; whether it is on the disk yet is the install state.
        <div class="muted small-text">{node.install === 'installed' ? `installed ${node.installedImage}` : `${node.install}: ${node.installedImage}`}</div>
      )}
    </>
  );
}

/** One node. */
export function NodeRow({ node, groups, images, actions }: { node: NodeView; groups: Group[]; images: ImageSummary[]; actions: RowActions }) {
  const p = nodeProgress(node);
  const groupId = `group-${node.mac.replace(/:/g, '')}`;
  return (
    <tr data-mac={node.mac} data-phase={node.phase}>
      <td class="mono">{node.mac}</td>
      <td>{node.firmware ?? '–'}</td>
      <td class="mono">{node.ip ?? '–'}</td>
      <td>
        <HostnameCell node={node} run={actions.run} />
      </td>
      <td>
        <label for={groupId} class="visually-hidden">
          Group of {node.mac}
        </label>
        <select
          id={groupId}
          value={node.group ?? ''}
          onChange={(e) => {
            const group = e.currentTarget.value || null;
            void actions.run(() => api('PUT', `/nodes/${seg(node.mac)}`, { group }));
          }}
        >
          <option value="">(none)</option>
          {groups.map((g) => (
            <option key={g.name} value={g.name}>
              {g.name}
            </option>
          ))}
          {node.group && !groups.some((g) => g.name === node.group) && <option value={node.group}>{node.group}</option>}
        </select>
      </td>
      <td>
        <ImageSelect node={node} images={images} run={actions.run} />
      </td>
      <td>
        <PhaseBadge phase={node.phase} />
        <div class="muted small-text" title={new Date(node.lastSeen).toLocaleString()}>
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
