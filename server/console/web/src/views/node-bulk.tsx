/** The bulk actions on the selected nodes: assign a group, pin an image, re-image, retire (POST /nodes/bulk). */
import { useState } from 'preact/hooks';
import { api } from '../api.ts';
import type { Group, ImageSummary } from '../types.ts';
import { ConfirmDialog } from '../ui.tsx';
import type { RowActions } from './node-row.tsx';

type Confirming = null | 'reimage' | 'retire';

/** The bar above the table while nodes are selected. `hidden`: how many of them the filter hides. */
export function BulkBar(props: { macs: string[]; hidden: number; groups: Group[]; images: ImageSummary[]; run: RowActions['run']; onClear: () => void }) {
  const { macs, run } = props;
  const [group, setGroup] = useState('');
  const [image, setImage] = useState('');
  const [confirming, setConfirming] = useState<Confirming>(null);
  const [wipe, setWipe] = useState(false);
  const bulk = (body: Record<string, unknown>) => run(() => api('POST', '/nodes/bulk', { macs, ...body }));
  const names = [...new Set(props.images.map((i) => i.name))];
  const n = `${macs.length} node${macs.length === 1 ? '' : 's'}`;
  const confirm = async () => {
    const what = confirming;
    setConfirming(null);
    const ok = await bulk(what === 'retire' ? { action: 'retire', wipe } : { action: 'reimage' });
    if (ok !== undefined) props.onClear();
  };

  return (
    <section class="bulk-bar card" aria-label="Selected nodes">
      <p role="status">
        <strong>{n} selected</strong>
        {props.hidden > 0 && <span class="muted"> ({props.hidden} hidden by the filter)</span>}
      </p>
      <form class="row-form" onSubmit={(e) => (e.preventDefault(), void bulk({ action: 'group', group: group || null }))}>
        <div class="field">
          <label for="bulk-group">Group for selected</label>
          <select id="bulk-group" value={group} onChange={(e) => setGroup(e.currentTarget.value)}>
            <option value="">(none)</option>
            {props.groups.map((g) => (
              <option key={g.name} value={g.name}>
                {g.name}
              </option>
            ))}
          </select>
        </div>
        <button type="submit">Assign group</button>
      </form>
      <form class="row-form" onSubmit={(e) => (e.preventDefault(), void bulk({ action: 'image', image: image || null }))}>
        <div class="field">
          <label for="bulk-image">Image for selected</label>
          <select id="bulk-image" value={image} onChange={(e) => setImage(e.currentTarget.value)}>
            <option value="">default</option>
            {names.map((name) => (
              <option key={name} value={name}>
                {name} (latest)
              </option>
            ))}
            {props.images.map((i) => (
              <option key={`${i.name}@${i.version}`} value={`${i.name}@${i.version}`}>
                {i.name}@{i.version}
              </option>
            ))}
          </select>
        </div>
        <button type="submit">Set image</button>
      </form>
      <div class="actions">
        <button type="button" onClick={() => setConfirming('reimage')}>
          Re-image selected
        </button>
        <button type="button" class="danger" onClick={() => (setWipe(false), setConfirming('retire'))}>
          Retire selected
        </button>
        <button type="button" class="small" onClick={props.onClear}>
          Clear selection
        </button>
      </div>
      {confirming && (
        <ConfirmDialog
          open
          title={confirming === 'retire' ? `Retire ${n}?` : `Re-image ${n}?`}
          confirmLabel={confirming === 'retire' ? 'Retire' : 'Re-image'}
          onConfirm={() => void confirm()}
          onCancel={() => setConfirming(null)}
        >
          {confirming === 'retire' ? (
            <>
              <p>They leave the inventory and get no image at their next network boot.</p>
              <label class="check">
                <input type="checkbox" checked={wipe} onChange={(e) => setWipe(e.currentTarget.checked)} />
                Wipe their disks at next boot
              </label>
            </>
          ) : (
            <p>Each installs again at its next network boot.</p>
          )}
        </ConfirmDialog>
      )}
    </section>
  );
}
