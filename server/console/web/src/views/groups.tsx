/** Groups: configuration shared by the nodes in it (image, hostname pattern, keep list, boot settings). */
import { useState } from 'preact/hooks';
import { api, seg } from '../api.ts';
import type { Group, ImageSummary } from '../types.ts';
import { ConfirmDialog, ErrorText, StatusText, useAction, useLoad } from '../ui.tsx';

interface Draft {
  name: string;
  image: string;
  hostnamePattern: string;
  keep: string;
  kernelArgs: string;
  targetDisk: string;
  promptTimeout: string;
}

const EMPTY: Draft = { name: '', image: '', hostnamePattern: '', keep: '', kernelArgs: '', targetDisk: '', promptTimeout: '' };
const words = (s: string) => s.split(/[\s,]+/).filter(Boolean);
const orNull = (s: string) => (s.trim() === '' ? null : s.trim());

function toDraft(g: Group): Draft {
  return {
    name: g.name,
    image: g.image ?? '',
    hostnamePattern: g.hostnamePattern ?? '',
    keep: (g.keep ?? []).join(' '),
    kernelArgs: g.kernelArgs.join(' '),
    targetDisk: g.targetDisk ?? '',
    promptTimeout: g.promptTimeout == null ? '' : String(g.promptTimeout),
  };
}

/** The PUT body: empty fields mean "inherit the global setting" (null). */
function toBody(d: Draft) {
  return {
    image: orNull(d.image),
    hostnamePattern: orNull(d.hostnamePattern),
    keep: d.keep.trim() ? words(d.keep) : null,
    kernelArgs: words(d.kernelArgs),
    targetDisk: orNull(d.targetDisk),
    promptTimeout: d.promptTimeout.trim() === '' ? null : Number(d.promptTimeout),
  };
}

function GroupForm(props: { initial: Draft; editing: boolean; images: ImageSummary[]; onSaved: (name: string) => void; onCancel: () => void }) {
  const [d, setD] = useState<Draft>(props.initial);
  const action = useAction();
  const set = (k: keyof Draft) => (e: Event) => setD({ ...d, [k]: (e.currentTarget as HTMLInputElement | HTMLSelectElement).value });
  const names = [...new Set(props.images.map((i) => i.name))];
  const submit = async (e: Event) => {
    e.preventDefault();
    const ok = await action.run(() => api<Group>('PUT', `/groups/${seg(d.name.trim())}`, toBody(d)));
    if (ok !== undefined) props.onSaved(d.name.trim());
  };
  return (
    <form class="card form-grid" onSubmit={submit} aria-labelledby="group-form-title">
      <h2 id="group-form-title">{props.editing ? `Edit group ${d.name}` : 'New group'}</h2>
      <div class="field">
        <label for="g-name">Name</label>
        <input id="g-name" required pattern="[a-z0-9][a-z0-9_.\-]{0,62}" value={d.name} onInput={set('name')} readOnly={props.editing} spellcheck={false} aria-describedby="g-name-hint" />
        <small id="g-name-hint" class="muted">
          lower-case letters, digits, . _ -
        </small>
      </div>
      <div class="field">
        <label for="g-image">Image</label>
        <select id="g-image" value={d.image} onChange={set('image')}>
          <option value="">the sample image</option>
          {names.map((n) => (
            <option key={n} value={n}>
              {n} (latest)
            </option>
          ))}
          {props.images.map((i) => (
            <option key={`${i.name}@${i.version}`} value={`${i.name}@${i.version}`}>
              {i.name}@{i.version}
            </option>
          ))}
          {d.image && !names.includes(d.image) && !props.images.some((i) => `${i.name}@${i.version}` === d.image) && <option value={d.image}>{d.image}</option>}
        </select>
      </div>
      <div class="field">
        <label for="g-pattern">Hostname pattern</label>
        <input id="g-pattern" value={d.hostnamePattern} onInput={set('hostnamePattern')} placeholder="web-{n}" spellcheck={false} aria-describedby="g-pattern-hint" />
        <small id="g-pattern-hint" class="muted">
          {'{n}'} = sequence number, {'{mac}'} = MAC; empty = the global pattern
        </small>
      </div>
      <div class="field">
        <label for="g-keep">Partitions to keep on re-image</label>
        <input id="g-keep" value={d.keep} onInput={set('keep')} placeholder="/home /srv" spellcheck={false} aria-describedby="g-keep-hint" />
        <small id="g-keep-hint" class="muted">
          mount points, separated by spaces; empty = the global list
        </small>
      </div>
      <div class="field">
        <label for="g-kargs">Kernel arguments</label>
        <input id="g-kargs" value={d.kernelArgs} onInput={set('kernelArgs')} placeholder="console=ttyS0,115200" spellcheck={false} />
      </div>
      <div class="field">
        <label for="g-disk">Target disk</label>
        <input id="g-disk" value={d.targetDisk} onInput={set('targetDisk')} placeholder="nvme0n1 (empty: the node chooses)" spellcheck={false} />
      </div>
      <div class="field">
        <label for="g-timeout">Hostname prompt timeout (seconds)</label>
        <input id="g-timeout" type="number" min={0} max={86400} value={d.promptTimeout} onInput={set('promptTimeout')} />
      </div>
      <ErrorText error={action.error} />
      <div class="actions">
        <button type="submit" class="primary" disabled={action.busy}>
          {props.editing ? 'Save group' : 'Create group'}
        </button>
        <button type="button" onClick={props.onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}

export function GroupsView() {
  const groups = useLoad(() => api<Group[]>('GET', '/groups'));
  const images = useLoad(() => api<ImageSummary[]>('GET', '/images'));
  const [form, setForm] = useState<{ draft: Draft; editing: boolean } | null>(null);
  const [deleting, setDeleting] = useState<Group | null>(null);
  const [status, setStatus] = useState<string | null>(null);
  const action = useAction();

  const remove = async () => {
    const g = deleting;
    setDeleting(null);
    if (!g) return;
    const ok = await action.run(() => api('DELETE', `/groups/${seg(g.name)}`));
    if (ok !== undefined) setStatus(`Group ${g.name} deleted.`);
    groups.reload();
  };

  return (
    <>
      <p class="lead">A group's settings apply to every node in it and override the global ones. Put a node in a group from the Nodes view.</p>
      <ErrorText error={action.error ?? groups.error} />
      <StatusText text={status} />
      {!form && (
        <button type="button" class="primary new-group" onClick={() => (setStatus(null), setForm({ draft: EMPTY, editing: false }))}>
          New group
        </button>
      )}
      {form && (
        <GroupForm
          key={form.draft.name || 'new'}
          initial={form.draft}
          editing={form.editing}
          images={images.data ?? []}
          onSaved={(name) => (setForm(null), setStatus(`Group ${name} saved.`), groups.reload())}
          onCancel={() => setForm(null)}
        />
      )}
      {groups.data && groups.data.length === 0 && <p class="empty">No groups yet: every node gets the sample image and the global settings.</p>}
      {groups.data && groups.data.length > 0 && (
        <div class="table-wrap" role="region" aria-label="Groups table" tabIndex={0}>
          <table class="groups">
            <thead>
              <tr>
                <th scope="col">Group</th>
                <th scope="col">Image</th>
                <th scope="col">Hostname pattern</th>
                <th scope="col">Keep</th>
                <th scope="col">Boot</th>
                <th scope="col">Nodes</th>
                <th scope="col">
                  <span class="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {groups.data.map((g) => (
                <tr key={g.name} data-group={g.name}>
                  <th scope="row">{g.name}</th>
                  <td class="mono">{g.image ? (g.image.includes('@') ? g.image : `${g.image} (latest)`) : <span class="muted">sample image</span>}</td>
                  <td class="mono">{g.hostnamePattern ?? <span class="muted">global</span>}</td>
                  <td class="mono">{g.keep ? g.keep.join(' ') || 'none' : <span class="muted">global</span>}</td>
                  <td class="small-text">
                    {g.targetDisk && <div>disk {g.targetDisk}</div>}
                    {g.promptTimeout != null && <div>prompt {g.promptTimeout} s</div>}
                    {g.kernelArgs.length > 0 && <div class="mono">{g.kernelArgs.join(' ')}</div>}
                  </td>
                  <td>{g.nodes}</td>
                  <td class="actions-cell">
                    <button type="button" class="small" onClick={() => (setStatus(null), setForm({ draft: toDraft(g), editing: true }))}>
                      Edit<span class="visually-hidden"> group {g.name}</span>
                    </button>
                    <button type="button" class="small danger" onClick={() => setDeleting(g)}>
                      Delete<span class="visually-hidden"> group {g.name}</span>
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {deleting && (
        <ConfirmDialog open title={`Delete group ${deleting.name}?`} confirmLabel="Delete" onConfirm={() => void remove()} onCancel={() => setDeleting(null)}>
          <p>A group that still has nodes cannot be deleted: move its nodes to another group first.</p>
        </ConfirmDialog>
      )}
    </>
  );
}
